"""Newton's method with a dense Hessian and eigenvalue modification (N&W Sec. 3.4).

H = Q diag(lam) Q^T (``curvature.hessian``, n HVPs, then ``eigh``); when H is not
sufficiently positive definite each eigenvalue is replaced by max(|lam|, delta),
delta = n eps max(1, max |lam|) (eps the machine epsilon; the numerical-rank threshold of
``numpy.linalg.matrix_rank``): negative curvature is flipped, not dropped (the
absolute-value modification of Greenstadt 1967, one of the eigenvalue modifications of N&W
Sec. 3.4), and numerically zero eigenvalues are lifted to delta. On a positive definite H with
lam_min >= delta this is the plain Newton step d = -H^-1 g. Then a strong-Wolfe line search
from the unit step; no decrease stops with NO_PROGRESS. O(n^3) per iteration: small n only.
"""

from __future__ import annotations

import jax.numpy as jnp

from optimizers.line_step import WOLFE_OPTIONS, check_wolfe_constants, wolfe_step
from optimizers.method import Iterate, Method

__all__ = ["NEWTON", "modified_newton_direction"]


def modified_newton_direction(hess, g):
    """-B^-1 g with B = Q diag(max(|lam|, delta)) Q^T from H = Q diag(lam) Q^T (module doc)."""
    lam, q = jnp.linalg.eigh(0.5 * (hess + hess.T))
    delta = g.size * jnp.finfo(g.dtype).eps * jnp.maximum(1, jnp.max(jnp.abs(lam)))
    return -(q @ ((q.T @ g) / jnp.maximum(jnp.abs(lam), delta)))


def _step(objective, it: Iterate, state, opts):
    d = modified_newton_direction(objective.hessian(it.x), it.g)
    new, ls = wolfe_step(objective, it.counted(nhvp=it.x.size), d, opts)
    return new._replace(stalled=~ls.decrease), state


NEWTON = Method(
    name="newton",
    init=lambda x, opts: (),
    step=_step,
    options=dict(WOLFE_OPTIONS),
    doc="Newton with a dense Hessian, eigenvalue modification and a strong-Wolfe line search",
    validate=check_wolfe_constants,
    workspace=lambda n, opts: 2 * n * n,  # the dense Hessian and its eigenvectors
)

"""Newton's method with a dense Hessian and eigenvalue modification (N&W Sec. 3.4).

H = Q diag(lam) Q^T (``curvature.hessian``, n HVPs, then ``eigh``). Eigenvalues above
delta = n eps max(1, max |lam|) (eps the machine epsilon; the numerical-rank threshold of
``numpy.linalg.matrix_rank``) are kept; each other one (negative, or numerically zero) is
replaced by max(|lam|, ||g||_2, delta): negative curvature is flipped, not dropped (the
absolute-value modification of Greenstadt 1967, one of the eigenvalue modifications of N&W
Sec. 3.4), and curvature too small to measure a step by is lifted to ||g||_2, so that along
those eigenvectors the step is at most the unit-scaled steepest-descent one (the
regularized Newton floor mu = ||g||; Li, Fukushima, Qi & Yamashita 2004). The floor was
delta alone: on an exactly singular H (DENSCHNB from (1, 1), QING from ones) the step along
the null space was 1e14 long, the line search could not shrink that far and the run stopped
at x0. On a positive definite H with lam_min > delta the step is the plain Newton step
d = -H^-1 g (so near a nondegenerate minimizer convergence stays quadratic). Then a
strong-Wolfe line search from the unit step; no decrease stops with NO_PROGRESS.
``modification="none"`` is plain Newton, -H^-1 g by a solve. O(n^3) per iteration: small n
only.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from optimizers._compose import Direction, Proposal, compose
from optimizers._line_search import STRONG_WOLFE, UNIT_STEP, selected
from optimizers._method import DENSE_MAX_DIM, Iterate
from optimizers._options import choice
from optimizers._transforms import transform

__all__ = ["newton", "NEWTON", "NEWTON_DIRECTION", "modified_newton_direction", "newton_direction"]


def modified_newton_direction(hess, g):
    """-B^-1 g with B = Q diag(mu) Q^T from H = Q diag(lam) Q^T: mu = lam where lam > delta,
    else max(|lam|, ||g||_2, delta) (module doc)."""
    lam, q = jnp.linalg.eigh(0.5 * (hess + hess.T))
    delta = g.size * jnp.finfo(g.dtype).eps * jnp.maximum(1, jnp.max(jnp.abs(lam)))
    floor = jnp.maximum(jnp.linalg.norm(g), delta)
    mu = jnp.where(lam > delta, lam, jnp.maximum(jnp.abs(lam), floor))
    return -(q @ ((q.T @ g) / mu))


def newton_direction(hess, g):
    """The plain Newton direction -H^-1 g (a solve; NaN or inf where H is singular)."""
    return -jnp.linalg.solve(0.5 * (hess + hess.T), g)


def _propose(objective, it: Iterate, state, opts) -> Proposal:
    hess = objective.hessian(it.x)
    u = it.linear
    d = modified_newton_direction(hess, u) if opts["modification"] == "absolute" else newton_direction(hess, u)
    return Proposal(it.counted(nhvp=it.x.size), d, state)


NEWTON_DIRECTION = Direction(
    "newton",
    {"modification": choice("absolute", "'absolute': eigenvalues lam <= delta -> max(|lam|, ||g||, delta), "
                            "a descent direction always (escapes saddles); 'none': plain Newton, -H^-1 g, "
                            "which a saddle attracts", "absolute", "none")},
    propose=_propose,
    workspace=lambda n, opts: 2 * n * n,  # the dense Hessian and its eigenvectors
    max_dim=DENSE_MAX_DIM,
)

NEWTON = compose(
    "newton", NEWTON_DIRECTION,
    selected("line_search", {"strong-wolfe": STRONG_WOLFE, "none": UNIT_STEP},
             "globalisation: 'strong-wolfe' line search, or 'none' (the unit step x - H^-1 g)"),
    "Newton with a dense Hessian, eigenvalue modification (or plain) and a strong-Wolfe line search (or none)",
)


def newton(**options) -> optax.GradientTransformationExtraArgs:
    """Newton with a dense Hessian as an optax transform (small n); options: ``method_options("newton")``."""
    return transform(NEWTON, **options)

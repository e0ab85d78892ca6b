"""BFGS with a dense inverse-Hessian approximation (N&W Alg. 6.1), for small n.

H+ = (I - rho s y^T) H (I - rho y s^T) + rho s s^T, rho = 1 / s.y (N&W eq. 6.17), after a
strong-Wolfe line search along d = -H g. Before the first update H is scaled to
(s.y / y.y) I (N&W eq. 6.20); the first step is -min(1, 1/||g||) g. A pair with
s.y <= eps y.y is skipped. A line search that finds no decrease resets H (restart from
steepest descent); a second failure in a row stops with NO_PROGRESS. O(n^2) memory and work
per iteration.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers._compose import Direction, Proposal, compose
from optimizers._line_search import STRONG_WOLFE, first_scale
from optimizers._method import DENSE_MAX_DIM, Iterate
from optimizers._transforms import transform

__all__ = ["bfgs", "BFGS", "BFGS_DIRECTION", "BFGSState"]


class BFGSState(NamedTuple):
    """inv_hess: (n, n) inverse-Hessian approximation; updated: bool, it holds curvature
    information (False at the start and after a restart: the step is then steepest descent)."""

    inv_hess: jax.Array
    updated: jax.Array


def _init(x, opts) -> BFGSState:
    return BFGSState(jnp.eye(x.size, dtype=x.dtype), jnp.zeros((), bool))


def _propose(objective, it: Iterate, state: BFGSState, opts) -> Proposal:
    u = it.linear
    return Proposal(it, jnp.where(state.updated, -(state.inv_hess @ u), -first_scale(u) * u), state)


def _update(objective, it: Iterate, new: Iterate, state: BFGSState, opts, moved):
    """The BFGS update with the step taken; a failed search resets H (a retry when H held
    curvature information)."""
    s, y = new.x - it.x, new.g - it.g
    sy, yy = jnp.vdot(s, y), jnp.vdot(y, y)
    keep = moved & (sy > jnp.finfo(it.x.dtype).eps * yy)
    rho = 1 / jnp.where(keep, sy, 1)
    eye = jnp.eye(it.x.size, dtype=it.x.dtype)
    h0 = jnp.where(state.updated, state.inv_hess, (sy / jnp.where(keep, yy, 1)) * eye)
    hy = h0 @ y
    updated_h = (h0 - rho * (jnp.outer(hy, s) + jnp.outer(s, hy))
                 + (rho * rho * jnp.vdot(y, hy) + rho) * jnp.outer(s, s))
    restart = ~moved & state.updated
    state = BFGSState(
        inv_hess=jnp.where(keep, updated_h, state.inv_hess),
        updated=(state.updated | keep) & ~restart,
    )
    return state, restart


# workspace: the updated inverse Hessian, next to the old one
BFGS_DIRECTION = Direction("bfgs", {}, init=_init, propose=_propose, update=_update,
                           workspace=lambda n, opts: n * n, max_dim=DENSE_MAX_DIM)

BFGS = compose("bfgs", BFGS_DIRECTION, STRONG_WOLFE,
               "BFGS with a dense inverse Hessian and a strong-Wolfe line search (small n)")


def bfgs(**options) -> optax.GradientTransformationExtraArgs:
    """Dense BFGS as an optax transform (small n); options: c1, c2, ls_max_iter."""
    return transform(BFGS, **options)

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

from optimizers.line_step import (
    WOLFE_OPTIONS,
    check_wolfe_constants,
    first_scale,
    restart_or_stall,
    wolfe_step,
)
from optimizers.method import Iterate, Method

__all__ = ["BFGS", "BFGSState"]


class BFGSState(NamedTuple):
    """inv_hess: (n, n) inverse-Hessian approximation; updated: bool, it holds curvature
    information (False at the start and after a restart: the step is then steepest descent)."""

    inv_hess: jax.Array
    updated: jax.Array


def _init(x, opts) -> BFGSState:
    return BFGSState(jnp.eye(x.size, dtype=x.dtype), jnp.zeros((), bool))


def _step(objective, it: Iterate, state: BFGSState, opts):
    d = jnp.where(state.updated, -(state.inv_hess @ it.g), -first_scale(it.g) * it.g)
    new, ls = wolfe_step(objective, it, d, opts)
    s, y = new.x - it.x, new.g - it.g
    sy, yy = jnp.vdot(s, y), jnp.vdot(y, y)
    keep = ls.decrease & (sy > jnp.finfo(it.x.dtype).eps * yy)
    rho = 1 / jnp.where(keep, sy, 1)
    eye = jnp.eye(it.x.size, dtype=it.x.dtype)
    h0 = jnp.where(state.updated, state.inv_hess, (sy / jnp.where(keep, yy, 1)) * eye)
    hy = h0 @ y
    updated_h = (h0 - rho * (jnp.outer(hy, s) + jnp.outer(s, hy))
                 + (rho * rho * jnp.vdot(y, hy) + rho) * jnp.outer(s, s))
    new, restart = restart_or_stall(new, ls.decrease, state.updated)
    state = BFGSState(
        inv_hess=jnp.where(keep, updated_h, state.inv_hess),
        updated=(state.updated | keep) & ~restart,
    )
    return new, state


BFGS = Method(
    name="bfgs",
    init=_init,
    step=_step,
    options=dict(WOLFE_OPTIONS),
    doc="BFGS with a dense inverse Hessian and a strong-Wolfe line search (small n)",
    validate=check_wolfe_constants,
    workspace=lambda n, opts: n * n,  # the updated inverse Hessian, next to the old one
)

"""Nonlinear conjugate gradients, method ``nonlinear-cg`` (N&W Sec. 5.2).

d_0 = -g_0, d_{k+1} = -g_{k+1} + beta_{k+1} d_k with

- ``beta="polak-ribiere"`` (default): PR+, beta = max(0, g+.(g+ - g) / g.g) (N&W eq. 5.44);
- ``beta="hager-zhang"``: with y = g+ - g, beta = (y - 2 d ||y||^2 / d.y).g+ / d.y, bounded
  below by -1 / (||d|| min(eta, ||g||)), eta = 0.01 (Hager & Zhang 2005, eq. 1.4 and 2.7),

and a strong-Wolfe line search with c2 = 0.1 (the curvature condition that makes the
directions descent directions, N&W Lemma 5.6). Restarts (d = -g) every ``restart_every``
iterations (default n, N&W Sec. 5.2), whenever d is not a descent direction, and after a
failed line search; a failed search from a steepest-descent direction stalls the run. The
first step, and the first after a restart, is scaled to move x at most 1 (min(1, 1/||g||)).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers._compose import Direction, Proposal, compose
from optimizers._line_search import first_scale, strong_wolfe_search
from optimizers._method import Iterate
from optimizers._options import choice, integer
from optimizers._transforms import transform

__all__ = ["nonlinear_cg", "NONLINEAR_CG", "NonlinearCGState", "hager_zhang_beta", "polak_ribiere_beta"]


class NonlinearCGState(NamedTuple):
    """d: the direction of the last search; lin: the gradient d was built from (the
    iterate's ``linear`` term: g, or the incoming updates of an optax chain); since: int32
    steps since the last restart (0: the next direction is -g); prev_step: the last accepted
    step length times ||d|| (scales the next first trial). beta is formed when the next
    gradient is known, in ``propose``, so that under optax it is the incoming updates'."""

    d: jax.Array
    lin: jax.Array
    since: jax.Array
    prev_step: jax.Array


def _div(num, den):
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def polak_ribiere_beta(g_new, g_old, d):
    """PR+: max(0, g+.(g+ - g) / g.g)."""
    return jnp.maximum(0, _div(jnp.vdot(g_new, g_new - g_old), jnp.vdot(g_old, g_old)))


def hager_zhang_beta(g_new, g_old, d, eta=0.01):
    """Hager-Zhang beta (2005, eq. 1.4) with the lower bound of eq. 2.7."""
    y = g_new - g_old
    dy = jnp.vdot(d, y)
    beta = _div(jnp.vdot(y - 2 * d * _div(jnp.vdot(y, y), dy), g_new), dy)
    floor = -_div(1.0, jnp.linalg.norm(d) * jnp.minimum(eta, jnp.linalg.norm(g_old)))
    return jnp.maximum(beta, floor)


_BETAS = {"polak-ribiere": polak_ribiere_beta, "hager-zhang": hager_zhang_beta}


def _init(x, opts) -> NonlinearCGState:
    return NonlinearCGState(jnp.zeros_like(x), jnp.zeros_like(x), jnp.zeros((), jnp.int32), jnp.zeros((), x.dtype))


def _propose(objective, it: Iterate, state: NonlinearCGState, opts) -> Proposal:
    u = it.linear
    fresh = state.since == 0
    beta = _BETAS[opts["beta"]](u, state.lin, state.d)  # unused where fresh
    d = jnp.where(fresh, -u, -u + beta * state.d)
    descent = jnp.vdot(d, it.g) < 0  # for f, the function the line search measures
    d = jnp.where(descent, d, -u)
    steepest = fresh | ~descent
    # The first trial: scaled steepest descent after a restart; else the previous step's
    # length along the new direction (N&W eq. 3.60), capped at 1.
    dn = jnp.linalg.norm(d)
    t_prev = _div(state.prev_step, dn)
    t0 = jnp.where(steepest, first_scale(u), jnp.where(t_prev > 0, jnp.minimum(1.0, t_prev), 1.0))
    return Proposal(it, d, state._replace(d=d, lin=u, since=jnp.where(steepest, 0, state.since)), t0)


def _update(objective, it: Iterate, new: Iterate, state: NonlinearCGState, opts, moved):
    since = state.since + 1
    n = it.x.size if opts["restart_every"] is None else opts["restart_every"]
    restart = ~moved | (since >= n)
    retry = ~moved & (state.since > 0)  # a failed search along a CG direction: try -g
    step_len = jnp.linalg.norm(new.x - it.x)
    return state._replace(since=jnp.where(restart, 0, since).astype(jnp.int32),
                          prev_step=jnp.where(moved, step_len, state.prev_step)), retry


NONLINEAR_CG_DIRECTION = Direction(
    "nonlinear-cg",
    {"beta": choice("polak-ribiere", "the conjugacy formula: 'polak-ribiere' (PR+) or 'hager-zhang'",
                    "polak-ribiere", "hager-zhang"),
     "restart_every": integer(None, "restart with -g every this many steps (None: n)", 1, optional=True)},
    init=_init, propose=_propose, update=_update,
)

NONLINEAR_CG = compose("nonlinear-cg", NONLINEAR_CG_DIRECTION, strong_wolfe_search(c2=0.1),
                       "nonlinear conjugate gradients (PR+ or Hager-Zhang) with a strong-Wolfe line search, c2 = 0.1")


def nonlinear_cg(**options) -> optax.GradientTransformationExtraArgs:
    """Nonlinear CG (PR+ or Hager-Zhang) as an optax transform; the last direction lives in the state."""
    return transform(NONLINEAR_CG, **options)

"""L-BFGS (Nocedal 1980; N&W Alg. 7.5) in the compact form of Byrd, Nocedal & Schnabel (1994).

The last m = ``memory_size`` pairs s_i = x_{i+1} - x_i, y_i = g_{i+1} - g_i live in one stacked (2, m, n)
array (S over Y, a circular buffer), so each iteration reads the history twice as a matrix
product instead of scanning over m. With a = S g, b = Y g, R the upper triangle of S Y^T
(pairs in chronological order), D its diagonal and gamma = s.y / y.y from the newest pair
(N&W eq. 7.20), the inverse-Hessian product is (BNS 1994, eq. 2.6 / Thm. 2.2)

    H g = gamma g + S^T (R^-T ((D + gamma Y Y^T) u - gamma b)) - gamma Y^T u,   u = R^-1 a,

the same vector as the two-loop recursion (N&W Alg. 7.4). R^-1 is kept up to date instead of
solving with R: dropping the oldest pair keeps the trailing block of R^-1, and appending the
newest pair appends the column -R^-1 (S y) / (s.y) and the diagonal 1 / (s.y). Y Y^T, R^-1
and [S; Y] g are updated from one product [S; Y] g+ per iteration (S y = S g+ - S g with the
cached S g), so an iteration reads the history exactly twice. A pair with
s.y <= eps y.y (eps the machine epsilon) is skipped (and retires the oldest pair one step
early, which keeps the history update a plain in-place write). The first step, and the first after a
restart, is -gamma g with gamma = min(1, 1/||g||) until a pair is known. A line search that
finds no decrease clears the memory (restart); a second failure in a row stops with
NO_PROGRESS.

In an optax chain the product is applied to the incoming updates instead of g (and the first
step is -min(1, 1/||updates||) updates), while the pairs (s, y) keep the gradients of
``value_fn``: the memory models the curvature of the function the line search measures.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optimizers._compose import Direction, Proposal, compose
from optimizers._line_search import STRONG_WOLFE, first_scale
from optimizers._method import Iterate
from optimizers._options import integer
from optimizers._transforms import transform

__all__ = ["lbfgs", "LBFGS", "LBFGS_DIRECTION", "LBFGSState"]


class LBFGSState(NamedTuple):
    """hist: (2, m, n), hist[0] = S rows s_i, hist[1] = Y rows y_i; pair k (0-based, in
    insertion order) sits in slot k % m. rinv: (m, m) inverse of R (slot coordinates; zero
    rows and columns on unused slots). yy: (m, m), yy[i, j] = y_i.y_j. sy: (m,), s_i.y_i.
    pairs: int32 pairs inserted so far. count: int32 pairs in use (<= m, 0 after a restart).
    gamma: newest s.y / y.y (0 before the first pair). proj: (2, m), [S g; Y g] for the
    gradient of the current iterate."""

    hist: jax.Array
    rinv: jax.Array
    yy: jax.Array
    sy: jax.Array
    pairs: jax.Array
    count: jax.Array
    gamma: jax.Array
    proj: jax.Array


def _init(x, opts) -> LBFGSState:
    m, n = opts["memory_size"], x.size
    zero = jnp.zeros((), jnp.int32)
    return LBFGSState(
        hist=jnp.zeros((2, m, n), x.dtype), rinv=jnp.zeros((m, m), x.dtype),
        yy=jnp.zeros((m, m), x.dtype), sy=jnp.zeros((m,), x.dtype), pairs=zero, count=zero,
        gamma=jnp.zeros((), x.dtype), proj=jnp.zeros((2, m), x.dtype),
    )


def _direction(state: LBFGSState, g):
    """d = -H g by the compact formula (module docstring). Unused slots drop out because their
    rows and columns of R^-1 are zero."""
    m = state.sy.shape[0]
    a, b = state.proj
    gamma = jnp.where(state.gamma > 0, state.gamma, first_scale(g))
    # m x m products as multiply-and-sum: XLA fuses them with the elementwise work around them
    # (a dot would be a kernel of its own, and each kernel costs compile time)
    u = _matvec(state.rinv, a)
    top = _matvec(state.rinv.T, state.sy * u + gamma * _matvec(state.yy, u) - gamma * b)
    coef = jnp.concatenate([top, -gamma * u])
    return -(gamma * g + coef @ state.hist.reshape(2 * m, -1))


def _matvec(a, v):
    return jnp.sum(a * v[None, :], axis=1)


def _project(state: LBFGSState, vectors):
    """[S; Y] @ vectors.T: one read of the history for k stacked vectors, shape (2, m, k)."""
    _, m, n = state.hist.shape
    return (state.hist.reshape(2 * m, n) @ vectors.T).reshape(2, m, -1)


def _propose(objective, it: Iterate, state: LBFGSState, opts) -> Proposal:
    return Proposal(it, _direction(state, it.linear), state)


def _update(objective, it: Iterate, new: Iterate, state: LBFGSState, opts, moved):
    """Append the pair (s, y) of the step taken; on a failed search drop the memory
    (restart from scaled steepest descent), which is a retry when there was memory."""
    # One read of the history: [S; Y] g+. With the cached [S; Y] g this also gives
    # S y = S g+ - S g and Y y = Y g+ - Y g, so s and y never need a pass of their own.
    s, y = new.x - it.x, new.g - it.g
    if it.u is None:
        proj_new = _project(state, new.g[None, :])[:, :, 0]
        p_y = proj_new - state.proj
    else:  # optax path: the cache holds [S; Y] u (sync), not [S; Y] g, so project y too
        both = _project(state, jnp.stack([new.g, y]))
        proj_new, p_y = both[:, :, 0], both[:, :, 1]
    sy, yy, sg, yg = jnp.sum(s * y), jnp.sum(y * y), jnp.sum(s * new.g), jnp.sum(y * new.g)
    keep = moved & (sy > jnp.finfo(it.x.dtype).eps * yy)
    m = state.sy.shape[0]
    slot = state.pairs % m
    # Retire the pair in `slot` (unused, or the oldest), then append (s, y) as the newest.
    # (s, y) is written even when skipped: the slot then stays unused (the oldest pair is
    # retired one step early), so the history is only ever written, never copied.
    onehot = jnp.arange(m) == slot
    rinv = jnp.where(onehot[:, None] | onehot[None, :], 0, state.rinv)
    inv_sy = 1 / jnp.where(keep, sy, 1)
    column = jnp.where(onehot, inv_sy, -_matvec(rinv, p_y[0]) * inv_sy)
    yy_col = jnp.where(onehot, yy, p_y[1])
    yy_mat = jnp.where(onehot[:, None], yy_col[None, :], jnp.where(onehot[None, :], yy_col[:, None], state.yy))
    proj = jnp.where(onehot, jnp.stack([sg, yg])[:, None], proj_new)
    restart = ~moved & (state.count > 0)
    count = jnp.where(keep, jnp.minimum(state.count + 1, m), jnp.minimum(state.count, m - 1))
    # The history is overwritten in place; making the written rows depend on the projection
    # (an exact zero) orders the write after every read, else XLA copies the whole (2, m, n)
    # buffer twice per iteration.
    after_reads = 0.0 * jnp.where(jnp.isfinite(proj_new[0, 0]), proj_new[0, 0], 0.0)
    state = LBFGSState(
        hist=jax.lax.dynamic_update_index_in_dim(state.hist, jnp.stack([s, y]) + after_reads, slot, axis=1),
        rinv=jnp.where(restart, 0, jnp.where(keep, jnp.where(onehot[None, :], column[:, None], rinv), rinv)),
        yy=jnp.where(keep, yy_mat, state.yy),
        sy=jnp.where(keep & onehot, sy, state.sy),
        pairs=state.pairs + keep.astype(jnp.int32),
        count=jnp.where(restart, 0, count),
        gamma=jnp.where(keep, sy / jnp.where(keep, yy, 1), state.gamma),
        proj=jnp.where(keep, proj, proj_new),
    )
    return state, restart


def _sync(objective, it: Iterate, state: LBFGSState, opts) -> LBFGSState:
    """Recompute the cached projections for the linear term handed in (optax path: the
    incoming updates, which may come from another batch or a transform chain)."""
    return state._replace(proj=_project(state, it.linear[None, :])[:, :, 0])


LBFGS_DIRECTION = Direction("l-bfgs", {"memory_size": integer(10, "number of (s, y) pairs kept, m", 1)}, init=_init,
                            propose=_propose, update=_update, sync=_sync)

LBFGS = compose("lbfgs", LBFGS_DIRECTION, STRONG_WOLFE,
                "limited-memory BFGS, compact representation, strong-Wolfe line search")


def lbfgs(**options) -> optax.GradientTransformationExtraArgs:
    """L-BFGS (``minimize(method="lbfgs")``) as an optax transform; options: ``method_options("lbfgs")``."""
    return transform(LBFGS, **options)

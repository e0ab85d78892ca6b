"""Saddle-free Newton (Dauphin et al. 2014, Alg. 1), method ``saddle-free-newton``.

The step rescales the gradient by |H|^-1 instead of H^-1: along a direction of negative
curvature it moves downhill (away from a saddle) instead of towards the saddle point.

Krylov variant (default). Lanczos on H started at g gives V (k, n) with orthonormal rows
and T = V H V^T = Q diag(theta) Q^T; U = V^T Q holds the Ritz vectors. For each damping
lambda of the grid the step is

    p(lambda) = -U diag(1 / (|theta| + lambda)) U^T g  -  g_perp / (max|theta| + lambda),

with g_perp = g - V^T V g the part of g outside the subspace. Since Lanczos starts at g,
g_perp is zero up to rounding; it only matters after a Lanczos restart or in low
precision, and then it gets a gradient step scaled as if its curvature were the largest
Ritz value (the extreme Ritz values approximate the extreme eigenvalues of H first).
Denominators are floored at sqrt(eps) max|theta| (plus the smallest normal number) so a
zero Ritz value with lambda = 0 stays finite.

Dense variant (``dense=True``, small n): H = Q diag(w) Q^T by ``eigh`` of the dense Hessian,
p(lambda) = -Q diag(1 / (|w| + lambda)) Q^T g. At k = n the Krylov variant reproduces it.

Choice of lambda (Dauphin et al.: a line search over lambda): f(x + p(lambda)) for every
lambda in ``damping_grid`` (one f each), keep the best. If it decreases f, the step
length t = 2, 4, ... is tried while f keeps decreasing (at most ``max_expand`` more f),
since near a saddle the quadratic model says nothing about how far to go along negative
curvature. If no candidate decreases f, the most damped direction is halved, t = 1/2,
1/4, ..., until f decreases (at most ``max_expand`` f); failing that, x stays and the run
stops (NO_PROGRESS).

In an optax chain the incoming updates take g's place in the Lanczos start and the steps;
the search compares values of f only.

Counters: Lanczos costs k Hessian-vector products (the dense Hessian n); each trial point
one f; the gradient at the new point one gradient evaluation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from curvature import hessian_operator, lanczos
from optimizers._loops import while_loop
from optimizers._method import Iterate, Method
from optimizers._options import Option, boolean, integer
from optimizers._transforms import transform

__all__ = [
    "SADDLE_FREE_NEWTON",
    "GridStep",
    "abs_inverse_directions",
    "dense_directions",
    "grid_step",
    "krylov_directions",
    "saddle_free_newton",
]

_DEFAULT_GRID = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def abs_inverse_directions(evals, evecs, g, dampings, perp=None):
    """Rows p_i = -evecs diag(1/(|evals| + lambda_i)) evecs^T g - perp / (max|evals| + lambda_i).

    ``evecs`` (n, m) has orthonormal columns, ``dampings`` (c,), result (c, n). ``perp`` is
    the part of g outside span(evecs) (None: there is none).
    """
    a = jnp.abs(evals)
    amax = jnp.max(a)
    floor = jnp.sqrt(jnp.finfo(g.dtype).eps) * amax + jnp.finfo(g.dtype).tiny
    coef = evecs.T @ g  # (m,)
    den = jnp.maximum(a[None, :] + dampings[:, None], floor)  # (c, m)
    p = -(coef[None, :] / den) @ evecs.T
    if perp is not None:
        p = p - perp[None, :] / jnp.maximum(amax + dampings, floor)[:, None]
    return p


def dense_directions(hess, g, dampings):
    """Saddle-free steps -(|H| + lambda I)^-1 g for each lambda, |H| by ``eigh`` (c, n)."""
    w, q = jnp.linalg.eigh(0.5 * (hess + hess.T))
    return abs_inverse_directions(w, q, g, jnp.asarray(dampings, g.dtype))


def krylov_directions(alpha, beta, basis, g, dampings):
    """Saddle-free steps in the Krylov subspace of a Lanczos run (module docstring), (c, n).

    alpha (k,), beta (k-1,): the tridiagonal T = basis H basis^T; basis (k, n) orthonormal rows.
    """
    t = jnp.diag(alpha) + jnp.diag(beta, 1) + jnp.diag(beta, -1)
    theta, q = jnp.linalg.eigh(t)
    coords = basis @ g
    perp = g - basis.T @ coords
    return abs_inverse_directions(theta, basis.T @ q, g, jnp.asarray(dampings, g.dtype), perp)


class GridStep(NamedTuple):
    """Result of :func:`grid_step`: index of the chosen direction, step length t, the new
    point x + t p and its value f, ``nfev`` evaluations made (int32), ``decrease`` f < f0."""

    index: jax.Array
    t: jax.Array
    x: jax.Array
    f: jax.Array
    nfev: jax.Array
    decrease: jax.Array


def grid_step(fun, x, f0, directions, *, max_expand: int = 30) -> GridStep:
    """Best of ``f(x + p_i)`` over the rows of ``directions``, then a step-length search.

    One f per row (vmapped). If the best decreases f: t = 2, 4, ... while f keeps
    decreasing, at most ``max_expand`` more f. Otherwise the last row (the most damped
    direction, for a grid in increasing order) with t = 1/2, 1/4, ... until f < f0, at most
    ``max_expand`` f. A non-finite value counts as +inf.
    """

    def value(y):
        v = jnp.reshape(fun(y), ())
        return jnp.where(jnp.isfinite(v), v, jnp.inf)

    vals = jax.vmap(lambda p: value(x + p))(directions)
    best = jnp.argmin(vals)
    f_best = vals[best]
    improved = f_best < f0
    idx = jnp.where(improved, best, directions.shape[0] - 1)
    d = directions[idx]
    factor = jnp.where(improved, 2.0, 0.5).astype(x.dtype)
    one = jnp.ones((), x.dtype)
    t0 = jnp.where(improved, one, 0 * one)
    f_t0 = jnp.where(improved, f_best, jnp.asarray(f0, x.dtype))

    def cond(s):
        k, _, _, _, go = s
        return go & (k < max_expand)

    def body(s):
        k, t_try, t_best, f_cur, _ = s
        f_try = value(x + t_try * d)
        better = f_try < f_cur
        return (
            k + 1,
            t_try * factor,
            jnp.where(better, t_try, t_best),
            jnp.where(better, f_try, f_cur),
            # expanding: go on while it improves; shrinking: go on until it improves.
            jnp.where(improved, better, ~better),
        )

    init = (jnp.int32(0), jnp.where(improved, 2 * one, 0.5 * one), t0, f_t0, jnp.asarray(True))
    k, _, t, f, _ = while_loop(cond, body, init)
    return GridStep(
        index=idx, t=t, x=x + t * d, f=f,
        nfev=jnp.int32(directions.shape[0]) + k, decrease=f < f0,
    )


def _check_grid(value):
    try:
        grid = tuple(float(v) for v in value)
    except TypeError:
        raise TypeError(f"expected a sequence of damping values lambda >= 0, got {value!r}") from None
    if not grid:
        raise ValueError("expected at least one damping value lambda >= 0, got an empty grid")
    bad = [v for v in grid if not v >= 0]
    if bad:
        raise ValueError(f"every lambda must be >= 0 (a real number), got {bad} in {grid}")
    return tuple(sorted(grid))


OPTIONS = {
    "krylov_dim": integer(None, "Lanczos steps k, 1 <= k <= n (None: min(20, n))", 1, optional=True),
    "damping_grid": Option(_DEFAULT_GRID, _check_grid, True,
                           "the damping values lambda >= 0 tried at each iteration"),
    "max_expand": integer(30, "most extra f evaluations of the step-length search", 0),
    "dense": boolean(False, "exact |H| from the dense Hessian (small n) instead of Lanczos"),
}


def _krylov_dim(opts, n: int) -> int:
    k = opts["krylov_dim"]
    if k is None:
        return min(20, n)
    if k > n:
        raise ValueError(
            f"method 'saddle-free-newton' option 'krylov_dim': the Krylov dimension k must be "
            f"between 1 and n = {n} (the number of parameters), got {k}"
        )
    return k


def _step(objective, it: Iterate, state, opts):
    x, g, u = it.x, it.g, it.linear  # directions from u; the search measures f
    grid = jnp.asarray(opts["damping_grid"], x.dtype)
    if opts["dense"]:
        dirs = dense_directions(objective.hessian(x), u, grid)
        nhvp = x.size
    else:
        k = _krylov_dim(opts, x.size)
        lz = lanczos(hessian_operator(objective.value, x), k, v0=u)
        dirs = krylov_directions(lz.alpha, lz.beta, lz.basis, u, grid)
        nhvp = k
    gs = grid_step(objective.value, x, it.f, dirs, max_expand=opts["max_expand"])
    x_new = jnp.where(gs.decrease, gs.x, x)
    f_new = jnp.where(gs.decrease, gs.f, it.f)
    g_new = lax.cond(gs.decrease, objective.grad, lambda _: g, x_new)
    new = it._replace(x=x_new, f=f_new, g=g_new, stalled=~gs.decrease)
    return new.counted(nfev=gs.nfev, ngev=gs.decrease.astype(jnp.int32), nhvp=nhvp), state


def _validate(opts) -> None:
    _check_grid(opts["damping_grid"])


def _workspace(n: int, opts) -> int:
    """Dense: the Hessian and its eigenvectors; Krylov: the Lanczos basis. Plus one
    direction per damping value."""
    grid = len(opts["damping_grid"]) * n
    if opts["dense"]:
        return 2 * n * n + grid
    k = min(opts["krylov_dim"] or 20, n)
    return (k + 1) * n + grid


SADDLE_FREE_NEWTON = Method(
    name="saddle-free-newton",
    init=lambda x, opts: (),
    step=_step,
    options=OPTIONS,
    doc="saddle-free Newton (Dauphin et al. 2014): |H| in a Lanczos subspace, damping by grid search",
    validate=_validate,
    workspace=_workspace,
)


def saddle_free_newton(**options) -> optax.GradientTransformationExtraArgs:
    """Saddle-free Newton (``minimize(method="saddle-free-newton")``) as an optax transform.

    ``opt.update(grads, state, params, value=loss, grad=grads, value_fn=loss_fn, batch=b)``;
    options: krylov_dim, damping_grid, max_expand, dense.
    """

    return transform(SADDLE_FREE_NEWTON, **options)

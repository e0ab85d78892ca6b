"""Test functions for the optimizer tests, from Moré, Garbow & Hillstrom (1981), "Testing
unconstrained optimization software", ACM TOMS 7(1): definitions, standard starts, minima.

Each problem is a function of a flat vector. ``padded(problems, n)`` stacks several of them
into one function F(z, k) of a vector of length n (problem k reads its first dim
coordinates; the rest have zero gradient and stay put), so that one compiled, vmapped
``minimize`` call solves a whole group of problems.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import optimizers


class Problem(NamedTuple):
    name: str
    fun: Callable
    x0: tuple
    minima: tuple  # known local minimizers that count as success (global first)
    f_minima: tuple  # f at those minimizers
    xtol: float  # tolerance on |x - x*| / max(1, |x*|) (each coordinate) at convergence
    gtol: float = 1e-6  # gradient tolerance for the run


def _sumsq(*r):
    return sum(ri**2 for ri in r)


def rosenbrock(x):
    return _sumsq(10 * (x[1] - x[0] ** 2), 1 - x[0])


def freudenstein_roth(x):
    x1, x2 = x[0], x[1]
    return _sumsq(-13 + x1 + ((5 - x2) * x2 - 2) * x2, -29 + x1 + ((x2 + 1) * x2 - 14) * x2)


def powell_badly_scaled(x):
    return _sumsq(1e4 * x[0] * x[1] - 1, jnp.exp(-x[0]) + jnp.exp(-x[1]) - 1.0001)


def beale(x):
    y = jnp.array([1.5, 2.25, 2.625], x.dtype)
    i = jnp.arange(1, 4)
    return jnp.sum((y - x[0] * (1 - x[1] ** i)) ** 2)


def helical_valley(x):
    """MGH #7: theta = arctan(x2 / x1) / (2 pi), + 1/2 when x1 < 0 (not atan2)."""
    x1, x2, x3 = x[0], x[1], x[2]
    safe_x1 = jnp.where(x1 == 0, 1.0, x1)  # double where: no NaN gradient at x1 = 0
    theta = jnp.arctan(x2 / safe_x1) / (2 * jnp.pi) + jnp.where(x1 < 0, 0.5, 0.0)
    theta = jnp.where(x1 == 0, 0.25 * jnp.sign(x2), theta)
    r2 = x1**2 + x2**2
    r = jnp.sqrt(jnp.where(r2 > 0, r2, 1.0)) * (r2 > 0)
    return _sumsq(10 * (x3 - 10 * theta), 10 * (r - 1), x3)


def wood(x):
    x1, x2, x3, x4 = x[0], x[1], x[2], x[3]
    return (100 * (x2 - x1**2) ** 2 + (1 - x1) ** 2 + 90 * (x4 - x3**2) ** 2 + (1 - x3) ** 2
            + 10.1 * ((x2 - 1) ** 2 + (x4 - 1) ** 2) + 19.8 * (x2 - 1) * (x4 - 1))


def powell_singular(x):
    x1, x2, x3, x4 = x[0], x[1], x[2], x[3]
    return _sumsq(x1 + 10 * x2, np.sqrt(5) * (x3 - x4), (x2 - 2 * x3) ** 2,
                  np.sqrt(10) * (x1 - x4) ** 2)


def himmelblau(x):
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


def extended_rosenbrock(x):
    """MGH #21: sum over pairs of 100 (x_{2i} - x_{2i-1}^2)^2 + (1 - x_{2i-1})^2."""
    odd, even = x[0::2], x[1::2]
    return jnp.sum(100 * (even - odd**2) ** 2 + (1 - odd) ** 2)


def _rotation(n, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q


_QN = 10
_Q = _rotation(_QN, 0)
_LAM = np.logspace(0, 6, _QN)  # condition number 1e6
_C = np.linspace(-1.0, 1.0, _QN)
QUAD_HESSIAN = (_Q * _LAM) @ _Q.T


def ill_conditioned_quadratic(x):
    """f = (x - c)^T A (x - c) / 2, A = Q diag(logspace(0, 6, 10)) Q^T (kappa = 1e6)."""
    r = _Q.T @ (x - _C)
    return 0.5 * jnp.sum(_LAM * r * r)


HIMMELBLAU_MINIMA = ((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
                     (-3.779310253377747, -3.283185991286170), (3.584428340330492, -1.848126526964404))

SMALL = (
    Problem("rosenbrock", rosenbrock, (-1.2, 1.0), ((1.0, 1.0),), (0.0,), 1e-5),
    Problem("freudenstein_roth", freudenstein_roth, (0.5, -2.0),
            ((5.0, 4.0), (11.41277900335, -0.89680525814)), (0.0, 48.98425367924), 1e-5),
    # The valley x1 x2 = 1e-4 is so flat that ||g|| <= 1e-6 holds far from x*: a tighter gtol.
    Problem("powell_badly_scaled", powell_badly_scaled, (0.0, 1.0),
            ((1.098159329699e-5, 9.106146739867),), (0.0,), 1e-3, 1e-10),
    Problem("beale", beale, (1.0, 1.0), ((3.0, 0.5),), (0.0,), 1e-5),
    Problem("helical_valley", helical_valley, (-1.0, 0.0, 0.0), ((1.0, 0.0, 0.0),), (0.0,), 1e-5),
    Problem("wood", wood, (-3.0, -1.0, -3.0, -1.0), ((1.0, 1.0, 1.0, 1.0),), (0.0,), 1e-5),
    Problem("powell_singular", powell_singular, (3.0, -1.0, 0.0, 1.0), ((0.0, 0.0, 0.0, 0.0),), (0.0,), 3e-2),
    Problem("himmelblau", himmelblau, (-0.27, -0.9), HIMMELBLAU_MINIMA, (0.0,) * 4, 1e-5),
    Problem("ill_conditioned_quadratic", ill_conditioned_quadratic, (0.0,) * _QN, (tuple(_C),), (0.0,), 1e-5),
)
SMALL_DIM = _QN


def padded(problems, n: int) -> Callable:
    """F(z, k) = problems[k].fun(z[:dim_k]) for z of length n; k may be traced (lax.switch)."""
    branches = [lambda z, p=p: p.fun(z[: len(p.x0)]) for p in problems]
    return lambda z, k: jax.lax.switch(k, branches, z)


def padded_starts(problems, n: int) -> np.ndarray:
    """Standard starts, zero-padded to length n, shape (len(problems), n)."""
    out = np.zeros((len(problems), n))
    for i, p in enumerate(problems):
        out[i, : len(p.x0)] = p.x0
    return out


N_STARTS = 64
CORE = tuple(p for p in SMALL if p.name in ("rosenbrock", "himmelblau", "ill_conditioned_quadratic"))


def _batch(group):
    starts = padded_starts(group, SMALL_DIM)
    himmel = np.zeros((N_STARTS, SMALL_DIM))
    himmel[:, :2] = np.random.default_rng(1).uniform(-5, 5, (N_STARTS, 2))
    k_himmel = [p.name for p in group].index("himmelblau")
    ks = np.r_[np.arange(len(group)), np.full(N_STARTS, k_himmel)]
    gtols = np.r_[[p.gtol for p in group], np.full(N_STARTS, 1e-6)]
    return np.r_[starts, himmel], ks, gtols


def solved(method, group=CORE):
    """Every problem of ``group`` from its standard start, then 64 random Himmelblau starts
    in [-5, 5]^2, for one method: ONE compiled vmapped call, paths recorded (cached)."""
    return _solved(method, group)


@functools.lru_cache(maxsize=None)
def _solved(method, group):
    fun = padded(group, SMALL_DIM)
    starts, ks, gtols = _batch(group)
    run = jax.jit(jax.vmap(lambda z0, k, gtol: optimizers.minimize(
        lambda z: fun(z, k), z0, method, gtol=gtol, max_iter=3000, record_path=True)))
    return jax.device_get(run(jnp.asarray(starts), jnp.asarray(ks), jnp.asarray(gtols)))

"""More-Garbow-Hillstrom test functions of variable dimension (problems 20-35 of the paper).

J. J. More, B. S. Garbow, K. E. Hillstrom, "Testing Unconstrained Optimization Software",
ACM TOMS 7(1), 17-41 (1981). Each is ``f(x) = sum_i f_i(x)**2`` with the paper's residuals
and standard start; ``dim`` (the paper's n) is a parameter, and ``m`` (the number of
residuals) where the paper leaves it free. ``f_star`` is the published value for the
dimensions the paper lists (None for other dimensions where it is unknown).
All residuals are vectorized: cost O(dim) except where noted.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .mgh_fixed import _powell_quartets
from .registry import check, const, least_squares, register

_LS = ("mgh", "least-squares", "scalable")


@register("watson", tags=_LS)
def watson(*, dim: int = 6):
    """Watson (MGH 20), 2 <= dim <= 31, m = 31; f* = 2.28767e-3 (n = 6), 1.39976e-6 (n = 9), 4.72238e-10 (n = 12).

    f_i = sum_{j>=2} (j-1) x_j t^(j-2) - (sum_j x_j t^(j-1))^2 - 1 with t = i/29 (i <= 29),
    f_30 = x1, f_31 = x2 - x1^2 - 1.
    """
    check(2 <= dim <= 31, f"dim must be in [2, 31], got {dim}")

    def residual(x):
        t = jnp.arange(1, 30, dtype=x.dtype)[:, None] / 29.0
        powers = t ** jnp.arange(dim)  # (29, dim): t^(j-1)
        deriv = (powers[:, :-1] * jnp.arange(1, dim, dtype=x.dtype)) @ x[1:]
        value = powers @ x
        return jnp.concatenate([deriv - value ** 2 - 1.0, jnp.stack([x[0], x[1] - x[0] ** 2 - 1.0])])

    f_star = {6: 2.2876700535524e-03, 9: 1.3997601380837e-06, 12: 4.7223811058152e-10}.get(dim)
    return least_squares(residual, np.zeros(dim), f_star=f_star, box=(-1.0, 1.0), description=watson.__doc__)


@register("extended_rosenbrock", tags=("large-scale",) + _LS)
def extended_rosenbrock(*, dim: int = 100):
    """Extended Rosenbrock (MGH 21), even dim: sum over pairs of 100 (x_2i - x_2i-1^2)^2 + (1 - x_2i-1)^2.

    f* = 0 at 1.
    """
    check(dim >= 2 and dim % 2 == 0, f"dim must be even and >= 2, got {dim}")

    def residual(x):
        pairs = x.reshape(-1, 2)
        odd, even = pairs[:, 0], pairs[:, 1]
        return jnp.stack([10.0 * (even - odd ** 2), 1.0 - odd], axis=1).reshape(-1)

    x0 = np.tile([-1.2, 1.0], dim // 2)
    return least_squares(residual, x0, f_star=0.0, x_star=np.ones(dim), box=(-2.0, 2.0),
                         description=extended_rosenbrock.__doc__)


@register("extended_powell_singular", tags=("large-scale", "singular") + _LS)
def extended_powell_singular(*, dim: int = 100):
    """Extended Powell singular (MGH 22), dim a multiple of 4: Powell singular on each quartet.

    f* = 0 at 0 (singular Hessian).
    """
    check(dim >= 4 and dim % 4 == 0, f"dim must be a positive multiple of 4, got {dim}")

    def residual(x):
        return _powell_quartets(x.reshape(-1, 4)).reshape(-1)

    x0 = np.tile([3.0, -1.0, 0.0, 1.0], dim // 4)
    return least_squares(residual, x0, f_star=0.0, x_star=np.zeros(dim), box=(-4.0, 4.0),
                         description=extended_powell_singular.__doc__)


@register("penalty_1", tags=_LS)
def penalty_1(*, dim: int = 4):
    """Penalty I (MGH 23), m = dim + 1: a (x_i - 1)^2 summed + (|x|^2 - 1/4)^2, a = 1e-5.

    f* = 2.24997e-5 (n = 4), 7.08765e-5 (n = 10).
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def residual(x):
        return jnp.concatenate([math.sqrt(1e-5) * (x - 1.0), jnp.sum(x * x, keepdims=True) - 0.25])

    f_star = {4: 2.2499775008999e-05, 10: 7.0876514670904e-05}.get(dim)
    return least_squares(residual, np.arange(1.0, dim + 1), f_star=f_star, box=(-2.0, 2.0),
                         description=penalty_1.__doc__)


@register("penalty_2", tags=_LS)
def penalty_2(*, dim: int = 4):
    """Penalty II (MGH 24), m = 2 dim; f* = 9.37629e-6 (n = 4), 2.93660e-4 (n = 10).

    f_1 = x1 - 0.2; f_i = sqrt(a) (e^(x_i/10) + e^(x_(i-1)/10) - y_i) for 2 <= i <= n;
    f_i = sqrt(a) (e^(x_(i-n+1)/10) - e^(-1/10)) for n < i < 2n; f_2n = sum_j (n-j+1) x_j^2 - 1;
    a = 1e-5, y_i = e^(i/10) + e^((i-1)/10).
    """
    check(dim >= 2, f"dim must be >= 2, got {dim}")

    def residual(x):
        i = jnp.arange(2, dim + 1, dtype=x.dtype)
        y = jnp.exp(i / 10.0) + jnp.exp((i - 1) / 10.0)
        e = jnp.exp(x / 10.0)
        weights = jnp.arange(dim, 0, -1, dtype=x.dtype)
        return jnp.concatenate([
            (x[:1] - 0.2),
            math.sqrt(1e-5) * (e[1:] + e[:-1] - y),
            math.sqrt(1e-5) * (e[1:] - math.exp(-0.1)),
            jnp.sum(weights * x * x, keepdims=True) - 1.0,
        ])

    f_star = {4: 9.3762930073554e-06, 10: 2.9366053745675e-04}.get(dim)
    return least_squares(residual, np.full(dim, 0.5), f_star=f_star, box=(-1.0, 1.0),
                         description=penalty_2.__doc__)


@register("variably_dimensioned", tags=_LS)
def variably_dimensioned(*, dim: int = 10):
    """Variably dimensioned (MGH 25), m = dim + 2: f_i = x_i - 1, s = sum_j j (x_j - 1), f = |x - 1|^2 + s^2 + s^4.

    f* = 0 at 1.
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def residual(x):
        s = jnp.sum(jnp.arange(1, dim + 1, dtype=x.dtype) * (x - 1.0), keepdims=True)
        return jnp.concatenate([x - 1.0, s, s * s])

    return least_squares(residual, 1.0 - np.arange(1, dim + 1) / dim, f_star=0.0, x_star=np.ones(dim),
                         box=(-2.0, 2.0), description=variably_dimensioned.__doc__)


@register("trigonometric", tags=_LS)
def trigonometric(*, dim: int = 10):
    """Trigonometric (MGH 26), m = dim: f_i = n - sum_j cos x_j + i (1 - cos x_i) - sin x_i; f* = 0 at x = 0.

    From the standard start x0 = 1/n, local solvers usually stop at a local minimum
    (f = 2.79506e-5 for n = 10).
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def residual(x):
        i = jnp.arange(1, dim + 1, dtype=x.dtype)
        return dim - jnp.sum(jnp.cos(x)) + i * (1.0 - jnp.cos(x)) - jnp.sin(x)

    return least_squares(residual, np.full(dim, 1.0 / dim), f_star=0.0, x_star=np.zeros(dim),
                         box=(-1.0, 1.0), description=trigonometric.__doc__)


@register("brown_almost_linear", tags=_LS)
def brown_almost_linear(*, dim: int = 10):
    """Brown almost-linear (MGH 27), m = dim: f_i = x_i + sum_j x_j - (n + 1) (i < n), f_n = prod_j x_j - 1.

    f* = 0 at 1.
    Also f = 1 at (0, ..., 0, n + 1).
    """
    check(dim >= 2, f"dim must be >= 2, got {dim}")

    def residual(x):
        return jnp.concatenate([x[:-1] + jnp.sum(x) - (dim + 1.0), jnp.prod(x, keepdims=True) - 1.0])

    return least_squares(residual, np.full(dim, 0.5), f_star=0.0, x_star=np.ones(dim), box=(-2.0, 3.0),
                         description=brown_almost_linear.__doc__)


def _grid(dim):
    """MGH 28/29 grid: h = 1/(n+1), t_i = i h, and the standard start t_i (t_i - 1)."""
    h = 1.0 / (dim + 1)
    t = h * np.arange(1, dim + 1)
    return h, t, t * (t - 1.0)


@register("discrete_boundary_value", tags=_LS)
def discrete_boundary_value(*, dim: int = 10):
    """Discrete boundary value (MGH 28), m = dim: f_i = 2x_i - x_(i-1) - x_(i+1) + h^2 (x_i + t_i + 1)^3 / 2; f* = 0.

    x_0 = x_(n+1) = 0, h = 1/(n+1), t_i = i h (a finite-difference two-point boundary value problem).
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")
    h, t, x0 = _grid(dim)

    def residual(x):
        padded = jnp.pad(x, 1)
        return 2.0 * x - padded[:-2] - padded[2:] + 0.5 * h * h * (x + const(t, x) + 1.0) ** 3

    return least_squares(residual, x0, f_star=0.0, box=(-1.0, 1.0), description=discrete_boundary_value.__doc__)


@register("discrete_integral_equation", tags=_LS)
def discrete_integral_equation(*, dim: int = 10):
    """Discrete integral equation (MGH 29), m = dim; f* = 0.

    f_i = x_i + h [(1 - t_i) sum_(j<=i) t_j c_j + t_i sum_(j>i) (1 - t_j) c_j] / 2,
    c_j = (x_j + t_j + 1)^3 (trapezoid discretization of a nonlinear integral equation).
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")
    h, t, x0 = _grid(dim)

    def residual(x):
        tt = const(t, x)
        c = (x + tt + 1.0) ** 3
        lower = jnp.cumsum(tt * c)
        tail = (1.0 - tt) * c
        upper = jnp.sum(tail) - jnp.cumsum(tail)
        return x + 0.5 * h * ((1.0 - tt) * lower + tt * upper)

    return least_squares(residual, x0, f_star=0.0, box=(-1.0, 1.0), description=discrete_integral_equation.__doc__)


@register("broyden_tridiagonal", tags=_LS)
def broyden_tridiagonal(*, dim: int = 10):
    """Broyden tridiagonal (MGH 30), m = dim: f_i = (3 - 2x_i) x_i - x_(i-1) - 2 x_(i+1) + 1, x_0 = x_(n+1) = 0.

    f* = 0.
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def residual(x):
        padded = jnp.pad(x, 1)
        return (3.0 - 2.0 * x) * x - padded[:-2] - 2.0 * padded[2:] + 1.0

    return least_squares(residual, np.full(dim, -1.0), f_star=0.0, box=(-2.0, 1.0),
                         description=broyden_tridiagonal.__doc__)


@register("broyden_banded", tags=_LS)
def broyden_banded(*, dim: int = 10):
    """Broyden banded (MGH 31), m = dim: f_i = x_i (2 + 5 x_i^2) + 1 - sum_(j in J_i) x_j (1 + x_j); f* = 0.

    J_i = {j != i : max(1, i - 5) <= j <= min(n, i + 1)}.
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def residual(x):
        g = jnp.pad(x * (1.0 + x), (5, 1))
        band = sum(g[5 + k: 5 + k + dim] for k in (-5, -4, -3, -2, -1, 1))
        return x * (2.0 + 5.0 * x * x) + 1.0 - band

    return least_squares(residual, np.full(dim, -1.0), f_star=0.0, box=(-2.0, 1.0),
                         description=broyden_banded.__doc__)


def _check_m(dim, m, least):
    check(dim >= 1, f"dim must be >= 1, got {dim}")
    check(m >= max(dim, least), f"m must be >= dim (and >= {least}), got m={m}, dim={dim}")


@register("linear_full_rank", tags=("convex",) + _LS)
def linear_full_rank(*, dim: int = 10, m: int = 20):
    """Linear function, full rank (MGH 32), m >= dim: f_i = x_i - (2/m) sum_j x_j - 1.

    For i > n the x_i term is absent. f* = m - n at -1.
    """
    _check_m(dim, m, 1)

    def residual(x):
        s = (2.0 / m) * jnp.sum(x)
        return jnp.concatenate([x - s - 1.0, jnp.full((m - dim,), -s - 1.0, dtype=x.dtype)])

    return least_squares(residual, np.ones(dim), f_star=float(m - dim), x_star=-np.ones(dim), box=(-2.0, 2.0),
                         description=linear_full_rank.__doc__)


@register("linear_rank1", tags=("convex",) + _LS)
def linear_rank1(*, dim: int = 10, m: int = 20):
    """Linear function, rank 1 (MGH 33): f_i = i (sum_j j x_j) - 1.

    f* = m (m - 1) / (2 (2m + 1)) wherever sum_j j x_j = 3 / (2m + 1).
    """
    _check_m(dim, m, 1)

    def residual(x):
        return jnp.arange(1, m + 1, dtype=x.dtype) * jnp.sum(jnp.arange(1, dim + 1, dtype=x.dtype) * x) - 1.0

    x_star = np.zeros(dim)
    x_star[0] = 3.0 / (2 * m + 1)
    return least_squares(residual, np.ones(dim), f_star=m * (m - 1) / (2.0 * (2 * m + 1)), x_star=x_star,
                         box=(-2.0, 2.0), description=linear_rank1.__doc__)


@register("linear_rank1_zero", tags=("convex",) + _LS)
def linear_rank1_zero(*, dim: int = 10, m: int = 20):
    """Linear function, rank 1 with zero columns and rows (MGH 34), dim >= 3.

    f_1 = f_m = -1, f_i = (i - 1) (sum_(j=2)^(n-1) j x_j) - 1; f* = (m^2 + 3m - 6) / (2 (2m - 3))
    wherever sum_(j=2)^(n-1) j x_j = 3 / (2m - 3).
    """
    check(dim >= 3, f"dim must be >= 3, got {dim}")
    _check_m(dim, m, 3)

    def residual(x):
        s = jnp.sum(jnp.arange(2, dim, dtype=x.dtype) * x[1:-1])
        inner = jnp.arange(1, m - 1, dtype=x.dtype) * s - 1.0
        edge = -jnp.ones((1,), dtype=x.dtype)
        return jnp.concatenate([edge, inner, edge])

    x_star = np.zeros(dim)
    x_star[1] = 3.0 / (2.0 * (2 * m - 3))
    return least_squares(residual, np.ones(dim), f_star=(m * m + 3 * m - 6) / (2.0 * (2 * m - 3)), x_star=x_star,
                         box=(-2.0, 2.0), description=linear_rank1_zero.__doc__)


@register("chebyquad", tags=_LS)
def chebyquad(*, dim: int = 8):
    """Chebyquad (MGH 35), m = dim <= 50: f_i = (1/n) sum_j T_i(x_j) - int_0^1 T_i.

    T_i is the Chebyshev polynomial shifted to [0, 1].
    f* = 0 for n <= 7 and n = 9, 3.51687e-3 for n = 8, 6.50395e-3 for n = 10. Cost O(dim^2).
    """
    check(1 <= dim <= 50, f"dim must be in [1, 50], got {dim}")
    i = np.arange(1, dim + 1)
    integrals = np.array([-1.0 / (k * k - 1.0) if k % 2 == 0 else 0.0 for k in i])

    def residual(x):
        y = 2.0 * x - 1.0
        prev, cur = jnp.ones_like(y), y
        rows = [cur]
        for _ in range(dim - 1):
            prev, cur = cur, 2.0 * y * cur - prev
            rows.append(cur)
        return jnp.mean(jnp.stack(rows), axis=1) - jnp.asarray(integrals, dtype=x.dtype)

    f_star = {8: 3.5168737256779e-03, 10: 6.5039548008823e-03}.get(dim, 0.0 if dim <= 7 or dim == 9 else None)
    return least_squares(residual, i / (dim + 1.0), f_star=f_star, box=(0.0, 1.0), description=chebyquad.__doc__)

"""Classic low-dimensional test surfaces (two-dimensional by default).

Definitions and minima as in M. Jamil, X.-S. Yang, "A literature survey of benchmark
functions for global optimization problems", Int. J. Math. Model. Numer. Optim. 4(2), 2013,
and S. Surjanovic, D. Bingham, Virtual Library of Simulation Experiments (sfu.ca/~ssurjano).
Local minima listed in ``minima`` are roots of the gradient computed once to double
precision (the tests re-check that the gradient vanishes there).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .registry import check, draft, least_squares, register


@register("himmelblau", tags=("2d", "least-squares", "multimodal"))
def himmelblau():
    """Himmelblau: (x^2 + y - 11)^2 + (x + y^2 - 7)^2; f* = 0 at four minima, (3, 2) among them."""

    def residual(x):
        return jnp.stack([x[0] ** 2 + x[1] - 11.0, x[0] + x[1] ** 2 - 7.0])

    minima = [(3.0, 2.0), (-2.805118086952745, 3.131312518250573),
              (-3.779310253377747, -3.2831859912861696), (3.5844283403304917, -1.8481265269644036)]
    return least_squares(residual, [0.0, 0.0], f_star=0.0, x_star=minima[0], minima=minima,
                         box=(-5.0, 5.0), description=himmelblau.__doc__)


@register("booth", tags=("2d", "least-squares", "convex"))
def booth():
    """Booth: (x + 2y - 7)^2 + (2x + y - 5)^2, a convex quadratic; f* = 0 at (1, 3)."""

    def residual(x):
        return jnp.stack([x[0] + 2.0 * x[1] - 7.0, 2.0 * x[0] + x[1] - 5.0])

    return least_squares(residual, [0.0, 0.0], f_star=0.0, x_star=[1.0, 3.0], minima=[(1.0, 3.0)],
                         box=(-10.0, 10.0), description=booth.__doc__)


@register("six_hump_camel", tags=("2d", "multimodal"))
def six_hump_camel():
    """Six-hump camel: (4 - 2.1x^2 + x^4/3) x^2 + xy + (4y^2 - 4) y^2.

    f* = -1.0316284534898... at +-(0.0898..., -0.7126...).
    Six minima: the two global ones, +-(1.7036, -0.7961) (f = -0.21546) and +-(1.6071, 0.5687) (f = 2.10425).
    """

    def fun(x):
        u, v = x[0], x[1]
        u2, v2 = u * u, v * v
        return (4.0 - 2.1 * u2 + u2 * u2 / 3.0) * u2 + u * v + (4.0 * v2 - 4.0) * v2

    g = (0.08984201310031807, -0.7126564030207396)
    a = (1.7036067149699807, -0.7960835686726251)
    b = (1.6071047529201974, 0.5686514548841314)
    minima = [g, (-g[0], -g[1]), a, (-a[0], -a[1]), b, (-b[0], -b[1])]
    return draft(fun, [-1.5, 1.0], f_star=-1.031628453489877, x_star=g, minima=minima,
                 box=((-3.0, -2.0), (3.0, 2.0)), description=six_hump_camel.__doc__)


_ST_ROOTS = (-2.903534027771177, 2.746802770990837)  # local minimizers of t^4 - 16t^2 + 5t


@register("styblinski_tang", tags=("2d", "multimodal", "scalable"))
def styblinski_tang(*, dim: int = 2):
    """Styblinski-Tang: (1/2) sum_i (x_i^4 - 16 x_i^2 + 5 x_i); f* = -39.16616570377142 dim at x_i = -2.903534...

    Every coordinate choice in {-2.9035..., 2.7468...} is a local minimum (2^dim of them).
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def fun(x):
        return 0.5 * jnp.sum(x ** 4 - 16.0 * x ** 2 + 5.0 * x)

    lo, hi = _ST_ROOTS
    minima = [(p, q) for p in (lo, hi) for q in (lo, hi)] if dim == 2 else []
    return draft(fun, np.zeros(dim), f_star=-39.16616570377142 * dim,
                 x_star=np.full(dim, lo), minima=minima, box=(-5.0, 5.0), description=styblinski_tang.__doc__)


@register("rastrigin", tags=("2d", "multimodal", "scalable"))
def rastrigin(*, dim: int = 2):
    """Rastrigin: 10 dim + sum_i (x_i^2 - 10 cos(2 pi x_i)).

    f* = 0 at 0, with a local minimum near every integer point.
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def fun(x):
        return 10.0 * dim + jnp.sum(x * x - 10.0 * jnp.cos(2.0 * jnp.pi * x))

    return draft(fun, np.full(dim, 2.5), f_star=0.0, x_star=np.zeros(dim), minima=[(0.0, 0.0)] if dim == 2 else [],
                 box=(-5.12, 5.12), description=rastrigin.__doc__)


@register("ackley", tags=("2d", "multimodal", "scalable"))
def ackley(*, dim: int = 2):
    """Ackley: -20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos(2 pi x_i)) + 20 + e; f* = 0 at 0.

    Not differentiable at 0 (a cone point); there the gradient is taken as 0 (double-where
    guard on the square root), elsewhere it is exact.
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def fun(x):
        ms = jnp.mean(x * x)
        root = jnp.where(ms > 0, jnp.sqrt(jnp.where(ms > 0, ms, 1.0)), 0.0)
        return (-20.0 * jnp.exp(-0.2 * root) - jnp.exp(jnp.mean(jnp.cos(2.0 * jnp.pi * x)))
                + 20.0 + math.e)

    return draft(fun, np.full(dim, 2.5), f_star=0.0, x_star=np.zeros(dim), minima=[(0.0, 0.0)] if dim == 2 else [],
                 box=(-5.0, 5.0), description=ackley.__doc__)

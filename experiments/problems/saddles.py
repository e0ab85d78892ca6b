"""Surfaces built around saddle points and maxima, for watching methods escape them.

The first three are unbounded below (``f_star = None``): a run on them ends by
divergence or by the iteration budget, and the interesting part is the path near the
critical point at the origin. ``multiwell`` is bounded below and has 3^dim critical points.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .registry import check, draft, register

_ORIGIN = ((0.0, 0.0),)


@register("quadratic_saddle", tags=("2d", "saddle", "unbounded"))
def quadratic_saddle():
    """Quadratic saddle x^2 - y^2: one nondegenerate saddle at 0 (Hessian eigenvalues 2, -2); unbounded below."""

    def fun(x):
        return x[0] ** 2 - x[1] ** 2

    return draft(fun, [1.0, 0.01], saddles=_ORIGIN, box=(-2.0, 2.0), description=quadratic_saddle.__doc__)


@register("monkey_saddle", tags=("2d", "saddle", "unbounded"))
def monkey_saddle():
    """Monkey saddle x^3 - 3 x y^2: a degenerate saddle at 0 (Hessian 0, three descending valleys); unbounded below."""

    def fun(x):
        return x[0] ** 3 - 3.0 * x[0] * x[1] ** 2

    return draft(fun, [1.0, 0.01], saddles=_ORIGIN, box=(-2.0, 2.0), description=monkey_saddle.__doc__)


@register("hill", tags=("2d", "saddle", "unbounded"))
def hill():
    """Hill 4 - (x^2 + y^2): one critical point, the maximum 4 at 0; unbounded below.

    Newton's method jumps to the maximum in one step from anywhere.
    """

    def fun(x):
        return 4.0 - (x[0] ** 2 + x[1] ** 2)

    return draft(fun, [0.5, 0.25], maxima=_ORIGIN, box=(-2.0, 2.0), description=hill.__doc__)


@register("multiwell", tags=("2d", "saddle", "multimodal", "scalable"))
def multiwell(*, dim: int = 2):
    """Multi-well sum_i (x_i^2 - 1)^2: 3^dim critical points, every x in {-1, 0, 1}^dim.

    The Hessian there is diag(12 x_i^2 - 4), so a critical point with k zero coordinates is
    a saddle of index k (k = dim: the maximum f = dim at 0). The 2^dim points of {-1, 1}^dim
    are the global minima, f* = 0. The start puts every other coordinate near the ridge
    x_i = 0 (0.01), the rest at 0.5, so Newton-type methods meet a saddle on the way.
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")

    def fun(x):
        return jnp.sum((x * x - 1.0) ** 2)

    x0 = np.where(np.arange(dim) % 2 == 0, 0.01, 0.5)
    extras = {}
    if dim == 2:
        extras = dict(minima=[(a, b) for a in (-1.0, 1.0) for b in (-1.0, 1.0)],
                      saddles=((0.0, -1.0), (0.0, 1.0), (-1.0, 0.0), (1.0, 0.0)), maxima=_ORIGIN)
    return draft(fun, x0, f_star=0.0, x_star=np.ones(dim), box=(-2.0, 2.0), description=multiwell.__doc__, **extras)

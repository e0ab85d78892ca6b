"""The test-problem record shared by every problem family and by the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import jax


@dataclass(frozen=True)
class Problem:
    """A loss surface to minimize.

    ``fun`` maps a 1-D float array of length ``dim`` to a scalar. ``residual`` (when the
    loss is a sum of squares, ``fun(x) == sum(residual(x)**2)`` up to the factor stated in
    ``residual_scale``) lets Gauss-Newton methods use the model/loss split. ``box`` is the
    plotting and random-start box ((xmin, xmax), (ymin, ymax)) for 2-D problems and a
    per-coordinate (low, high) box otherwise. ``minima`` lists known local and global
    minimizers (for trajectory plots); ``f_star``/``x_star`` are the global (or published)
    values, None where unknown.
    """

    name: str
    fun: Callable[[jax.Array], jax.Array]
    x0: jax.Array
    dim: int
    f_star: Optional[float] = None
    x_star: Optional[jax.Array] = None
    box: Optional[tuple] = None
    residual: Optional[Callable[[jax.Array], jax.Array]] = None
    minima: tuple = ()
    description: str = ""
    tags: tuple = field(default=())

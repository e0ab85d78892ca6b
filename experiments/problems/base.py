"""The test-problem record shared by every problem family and by the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import jax


@dataclass(frozen=True, eq=False)
class Problem:
    """A loss surface to minimize.

    ``fun`` maps a 1-D float array of length ``dim`` to a scalar of the same dtype.
    ``residual`` (when the loss is a sum of squares: ``fun(x) == sum(residual(x)**2)``, no
    factor 1/2, for every problem) lets Gauss-Newton methods use the least-squares
    structure; likewise ``model_fn``/``loss_fn`` with ``fun(x) == loss_fn(model_fn(x))``
    for ML problems.
    ``box = (lo, hi)``, each a float or a sequence of length ``dim``, is the random-start
    box and, for 2-D problems, the plot window (x in [lo[0], hi[0]], y in [lo[1], hi[1]]).
    ``minima`` lists known local and global minimizers, ``saddles`` and ``maxima`` the known
    saddle points and maxima (tuples of coordinate tuples, for trajectory plots; filled for
    2-D problems). ``f_star``/``x_star`` are the global (or published) minimum value and a
    minimizer, None where unknown (and ``f_star`` None for surfaces unbounded below).
    ``data`` holds the synthetic data set of ML problems as numpy arrays
    (``features``, ``targets``), None otherwise. Problems compare and hash by identity
    (``get`` caches them), so one can serve as a dict key or a static jit argument.
    """

    name: str
    fun: Callable[[jax.Array], jax.Array]
    x0: jax.Array
    dim: int
    f_star: Optional[float] = None
    x_star: Optional[jax.Array] = None
    box: Optional[tuple] = None
    residual: Optional[Callable[[jax.Array], jax.Array]] = None
    model_fn: Optional[Callable] = None
    loss_fn: Optional[Callable] = None
    minima: tuple = ()
    description: str = ""
    tags: tuple = field(default=())
    saddles: tuple = ()
    maxima: tuple = ()
    data: Optional[dict] = None

    def sample_starts(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` starting points drawn uniformly from ``box``, shape (n, dim)."""
        import jax.numpy as jnp

        if self.box is None:
            raise ValueError(f"problem {self.name!r} has no box to draw random starts from")
        lo, hi = (jnp.broadcast_to(jnp.asarray(b, dtype=self.x0.dtype), (self.dim,)) for b in self.box)
        return jax.random.uniform(key, (n, self.dim), dtype=self.x0.dtype, minval=lo, maxval=hi)

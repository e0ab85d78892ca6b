"""Shared result type, status codes and checks of the trust-region subproblem solvers.

Every solver in ``optimizers._gltr``, ``optimizers._more_sorensen`` and ``optimizers._dogleg``
approximately solves

    min  m(p) = g.p + p.B p / 2   subject to   ||p||_2 <= radius,

B symmetric (possibly indefinite), on flat 1-D vectors, and returns a
:class:`SubproblemResult`. The solvers are pure (fixed shapes, ``lax.while_loop``), so they
run under ``jax.jit`` and ``jax.vmap``.

Conventions shared by the three solvers:

* ``g == 0`` returns ``p = 0``, ``model_value = 0``, ``boundary = False``, ``lagrange = 0``
  and status ``CONVERGED``: p = 0 is a stationary point of the model. (When B is indefinite
  it is not the minimizer, which is ``radius * z`` for an eigenvector z of the smallest
  eigenvalue; no solver looks for it: a method that calls them with g = 0 has stopped.)
* A concrete ``radius`` that is not a finite number > 0 raises ``ValueError`` naming
  ``radius``; a traced one that is not (NaN, inf, <= 0) gives status ``NONFINITE``.
* A non-finite ``g``, B or product with B gives status ``NONFINITE`` with ``p = 0``,
  ``model_value = 0`` and ``lagrange = NaN``: never a NaN step.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "SubproblemResult",
    "SUBPROBLEM_STATUS",
    "CONVERGED",
    "MAX_ITER",
    "INDEFINITE",
    "NONFINITE",
]

CONVERGED, MAX_ITER, INDEFINITE, NONFINITE = 0, 1, 2, 3

#: Meaning of ``SubproblemResult.status``.
SUBPROBLEM_STATUS = {
    CONVERGED: "solved: the solver's answer to its tolerance (exact up to rounding for "
    "more_sorensen, the Lanczos residual test for gltr, the dogleg point for dogleg)",
    MAX_ITER: "iteration cap reached: the step is the best one found so far",
    INDEFINITE: "B is not positive definite: dogleg returned the Cauchy point",
    NONFINITE: "non-finite value in g, B, a product with B or radius (or a traced radius "
    "<= 0): the step is zero",
}


class SubproblemResult(NamedTuple):
    """Result of the trust-region subproblem solvers.

    step: the step p. model_value: m(p) = g.p + p.Bp / 2 at the returned step (so the
    predicted decrease is ``-model_value >= 0``). boundary: bool, ``||p|| = radius`` up to
    rounding (the trust region cut the step). num_matvec: int32, products of B with a
    vector (0 for the dense solvers). status: int32, see ``SUBPROBLEM_STATUS``. lagrange:
    the multiplier lambda >= 0 with (B + lambda I) p = -g where the solver knows it, NaN
    where it does not.
    """

    step: jax.Array
    model_value: jax.Array
    boundary: jax.Array
    num_matvec: jax.Array
    status: jax.Array
    lagrange: jax.Array


def check_vector(v, name: str) -> jax.Array:
    """``v`` as a floating-point 1-D array, else ValueError/TypeError naming ``name``."""
    v = jnp.asarray(v)
    if v.ndim != 1:
        raise ValueError(f"{name} must be a flat 1-D vector, got shape {v.shape}")
    if not jnp.issubdtype(v.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point vector, got dtype {v.dtype}")
    if v.shape[0] == 0:
        raise ValueError(f"{name} must have at least one entry, got shape {v.shape}")
    return v


def check_matrix(b, n: int, name: str = "hess") -> jax.Array:
    """``b`` as a floating-point (n, n) array, else ValueError/TypeError naming ``name``."""
    b = jnp.asarray(b)
    if b.shape != (n, n):
        raise ValueError(
            f"{name} must be a square matrix of shape ({n}, {n}) matching g, got shape {b.shape}"
        )
    if not jnp.issubdtype(b.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point matrix, got dtype {b.dtype}")
    return b


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_radius(radius, dtype) -> jax.Array:
    """``radius`` as a 0-d array of ``dtype``; a concrete value must be finite and > 0."""
    if jnp.ndim(radius) != 0:
        raise ValueError(f"radius must be a scalar, got shape {jnp.shape(radius)}")
    if _is_concrete(radius):
        try:
            value = float(radius)
        except TypeError as err:
            raise TypeError(f"radius must be a real number, got {radius!r}") from err
        if not (value > 0 and value != float("inf")):
            raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    return jnp.asarray(radius, dtype)


def check_tolerance(value, name: str):
    """A concrete tolerance must be a finite number >= 0 (a traced one is used as is)."""
    if _is_concrete(value):
        try:
            v = float(value)
        except TypeError as err:
            raise TypeError(f"{name} must be a real number, got {value!r}") from err
        if not (v >= 0 and v != float("inf")):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def check_iterations(value, name: str = "max_iter", low: int = 1) -> int:
    """``value`` as a Python int >= ``low`` (a static size or loop bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def safe_div(num, den):
    """num / den, and 0 where den == 0 (no NaN, also in the gradient: double where)."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def safe_sqrt(x):
    """sqrt(max(x, 0)) with a zero (not infinite) gradient at 0."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1)), 0)


def safe_norm(v):
    """||v||_2 with a zero (not NaN) gradient at v = 0."""
    return safe_sqrt(jnp.vdot(v, v))


def nonfinite_result(g, num_matvec) -> SubproblemResult:
    """The NONFINITE answer: p = 0, model value 0, lagrange NaN."""
    dtype = g.dtype
    return SubproblemResult(
        step=jnp.zeros_like(g),
        model_value=jnp.zeros((), dtype),
        boundary=jnp.asarray(False),
        num_matvec=jnp.asarray(num_matvec, jnp.int32),
        status=jnp.asarray(NONFINITE, jnp.int32),
        lagrange=jnp.full((), jnp.nan, dtype),
    )


def select(pred, a: SubproblemResult, b: SubproblemResult) -> SubproblemResult:
    """Field-wise ``where(pred, a, b)``."""
    return SubproblemResult(*(jnp.where(pred, x, y) for x, y in zip(a, b)))

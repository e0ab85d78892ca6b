"""Trace and diagonal of a symmetric operator from matvecs: exact, Hutchinson, Hutch++.

Hutchinson (1989): for Rademacher z (entries +-1), E[z^T A z] = tr(A) and
E[z * (A z)] = diag(A) (Bekas, Kokiopoulou & Saad 2007); the trace estimate from m probes
has variance 2 (||A||_F^2 - sum_i a_ii^2) / m. Hutch++ (Meyer, Musco, Musco & Woodruff
2021, Alg. 1) spends a third of the matvecs on a sketch Q of A's range, takes tr(Q^T A Q)
exactly and uses Hutchinson only on the deflated rest (I - QQ^T) A (I - QQ^T): for a
decaying spectrum its error falls like 1/m instead of 1/sqrt(m).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from curvature._cache import program
from curvature._validate import check_int, check_key
from curvature.operators import LinearOperator, _dense_matvec, as_operator, chunked_map, hessian_operator

__all__ = ["diagonal", "trace"]

_TRACE_METHODS = ("hutchinson", "hutchpp")
_DIAG_METHODS = ("exact", "hutchinson")


def _require_key(key, fn: str):
    if key is None:
        raise ValueError(f"key must be a jax.random PRNG key ({fn} is a random estimator): "
                         "pass jax.random.PRNGKey(seed) or jax.random.key(seed)")
    return check_key(key, "key")


def _matvecs(op: LinearOperator, rows: jax.Array) -> jax.Array:
    """A @ r for every row r of ``rows`` (m, n), batched with vmap -> (m, n)."""
    return jax.vmap(op.matvec)(rows)


def trace(op, key, num_matvecs: int, method: str = "hutchinson") -> jax.Array:
    """Randomized estimate of tr(A) from ``num_matvecs`` matvecs.

    Args:
      op: a :class:`~curvature.LinearOperator` or square matrix of size n.
      key: PRNG key (required).
      num_matvecs: a Python int, the matvec budget m (>= 1; >= 3 for Hutch++).
      method: ``"hutchinson"`` (mean of z^T A z over m Rademacher probes; Hutchinson 1989)
        or ``"hutchpp"`` (Meyer et al. 2021, Alg. 1: m//3 sketch columns, m//3 for
        tr(Q^T A Q), the rest for Hutchinson on the deflated operator). Both are unbiased.
    """
    if method not in _TRACE_METHODS:
        raise ValueError(f"method must be one of {_TRACE_METHODS}, got {method!r}")
    op = as_operator(op, "op")
    key = _require_key(key, "trace")
    m = check_int(num_matvecs, "num_matvecs", 3 if method == "hutchpp" else 1)
    return _trace(op, key, num_matvecs=m, method=method)


@program("num_matvecs", "method")
def _trace(op, key, *, num_matvecs: int, method: str) -> jax.Array:
    n, dtype, m = op.shape[0], op.dtype, num_matvecs
    if method == "hutchinson":
        z = jax.random.rademacher(key, (m, n), dtype)
        return jnp.sum(z * _matvecs(op, z)) / m
    s = m // 3
    g = m - 2 * s
    sketch_key, probe_key = jax.random.split(key)
    sketch = jax.random.rademacher(sketch_key, (s, n), dtype)
    q = jnp.linalg.qr(_matvecs(op, sketch).T)[0].T  # (min(s, n), n) orthonormal rows
    exact_part = jnp.sum(q * _matvecs(op, q))
    z = jax.random.rademacher(probe_key, (g, n), dtype)
    z = z - (z @ q.T) @ q
    return exact_part + jnp.sum(z * _matvecs(op, z)) / g


def diagonal(
    op_or_f,
    x=None,
    *,
    method: str = "exact",
    key=None,
    num_matvecs: int | None = None,
) -> jax.Array:
    """Diagonal of a symmetric operator, or of the Hessian of a scalar function, as a flat
    ``(n,)`` vector (``ravel_pytree(x)`` order for a function).

    Args:
      op_or_f: a :class:`~curvature.LinearOperator` or square matrix, or a scalar function
        ``f`` (then ``x`` is required and the operator is ``hessian_operator(f, x)``).
      x: the point, only with a function.
      method: ``"exact"`` (a_ii = e_i^T A e_i: n matvecs, batched; free for a dense matrix)
        or ``"hutchinson"`` (mean of z * (A z) over Rademacher probes; Bekas et al. 2007).
      key: PRNG key, required for ``"hutchinson"``.
      num_matvecs: probes for ``"hutchinson"`` (a Python int >= 1, required there).
    """
    if method not in _DIAG_METHODS:
        raise ValueError(f"method must be one of {_DIAG_METHODS}, got {method!r}")
    op = _operator_or_hessian(op_or_f, x)
    if key is not None:
        check_key(key, "key")
    if method == "exact":
        if num_matvecs is not None:
            raise ValueError("num_matvecs is only used with method='hutchinson' (exact uses n)")
        if op._fn is _dense_matvec:
            return jnp.diagonal(op.data)
        return _exact_diagonal(op)
    key = _require_key(key, "diagonal(method='hutchinson')")
    if num_matvecs is None:
        raise ValueError("num_matvecs is required with method='hutchinson' (a Python int >= 1)")
    m = check_int(num_matvecs, "num_matvecs", 1)
    return _hutchinson_diagonal(op, key, num_matvecs=m)


@program()
def _exact_diagonal(op: LinearOperator) -> jax.Array:
    n, dtype = op.shape[0], op.dtype
    return chunked_map(lambda i: op.matvec(jax.nn.one_hot(i, n, dtype=dtype))[i], n)


@program("num_matvecs")
def _hutchinson_diagonal(op: LinearOperator, key, *, num_matvecs: int) -> jax.Array:
    z = jax.random.rademacher(key, (num_matvecs, op.shape[0]), op.dtype)
    return jnp.mean(z * _matvecs(op, z), axis=0)


def _operator_or_hessian(op_or_f, x) -> LinearOperator:
    is_function = (
        callable(op_or_f)
        and not isinstance(op_or_f, LinearOperator)
        and not hasattr(op_or_f, "matvec")
    )
    if is_function:
        if x is None:
            raise ValueError("x is required when op_or_f is a function: diagonal(f, x)")
        f: Callable = op_or_f
        return as_operator(hessian_operator(f, x), "op_or_f")
    if x is not None:
        raise ValueError("x is only used when op_or_f is a scalar function; got an operator")
    return as_operator(op_or_f, "op_or_f")

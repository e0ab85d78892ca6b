"""Local geometry of a scalar function: the second-order test and the quadratic model.

Second-order test (Nocedal & Wright, 2nd ed., Thms. 2.3-2.4): at a point with zero
gradient, a positive definite Hessian means a strict local minimum, a negative definite one
a strict local maximum, an indefinite one a saddle; a semi-definite Hessian with a zero
eigenvalue decides nothing (degenerate). Quadratic model (N&W eq. 4.1):
m(d) = f(x) + g^T d + d^T H d / 2.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from curvature._cache import program
from curvature._validate import (
    check_float_pytree,
    check_int,
    check_key,
    check_like,
    check_nonempty,
    check_real,
    check_scalar_fn,
)
from curvature.derivatives import _hvp, _scalar, hessian
from curvature.operators import _Layout, hessian_operator
from curvature.spectrum import eigenvalues

__all__ = [
    "CRITICAL_POINT_LABELS",
    "CriticalPoint",
    "QuadraticModel",
    "classify_critical_point",
    "quadratic_model",
]

MINIMUM, MAXIMUM, SADDLE, DEGENERATE = 0, 1, 2, 3
#: ``CRITICAL_POINT_LABELS[code]`` is the name of the integer ``CriticalPoint.label``.
CRITICAL_POINT_LABELS = ("minimum", "maximum", "saddle", "degenerate")
_METHODS = ("auto", "dense", "lanczos")
_DENSE_MAX = 256


class CriticalPoint(NamedTuple):
    """Result of :func:`classify_critical_point`.

    ``label`` is an int32 code (an array, so the function works under jit and vmap);
    ``CRITICAL_POINT_LABELS[label]`` or ``.name`` gives its name. ``eigenvalues`` are the
    Hessian's eigenvalues in ascending order (all n for the dense method, the extreme pair
    (lambda_min, lambda_max) for Lanczos); ``grad_norm`` is ||grad f(x)||_2.
    """

    label: jax.Array
    eigenvalues: jax.Array
    grad_norm: jax.Array

    @property
    def name(self) -> str:
        """The label's name (needs a concrete, unbatched label)."""
        return CRITICAL_POINT_LABELS[int(self.label)]


def classify_critical_point(
    f: Callable,
    x,
    tol: float | None = None,
    *,
    method: str = "auto",
    key=None,
    num_iters: int | None = None,
) -> CriticalPoint:
    """Second-order test at ``x`` from the extreme Hessian eigenvalues (N&W Thms. 2.3-2.4).

    With lambda_min, lambda_max the extreme eigenvalues and ``tol`` the zero threshold:
    minimum if lambda_min > tol; maximum if lambda_max < -tol; saddle if lambda_min < -tol
    and lambda_max > tol; degenerate otherwise (a near-zero eigenvalue at a semi-definite
    Hessian) and whenever the eigenvalues or the gradient are not finite. The label describes
    the Hessian only: compare ``grad_norm`` with your own tolerance to decide whether ``x`` is a critical point at all.

    Args:
      f: scalar function of the pytree ``x``.
      x: the point.
      tol: absolute eigenvalue threshold >= 0; default sqrt(eps) * max(1, max|lambda|)
        (1.5e-8 for float64 on unit-scale problems). A concrete negative (or NaN) tol raises
        ValueError; a traced one is used as given.
      method: ``"dense"`` (eigvalsh of the dense Hessian: all n eigenvalues), ``"lanczos"``
        (the extreme pair by :func:`~curvature.eigenvalues`, matrix-free), or ``"auto"``
        (dense when n <= 256).
      key, num_iters: passed to :func:`~curvature.eigenvalues` for the Lanczos method.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    check_float_pytree(x, "x")
    check_nonempty(x, "x", ": the second-order test needs at least one parameter")
    check_scalar_fn(f, x, "f")
    if tol is not None:
        tol = check_real(tol, "tol", 0.0, what="the absolute eigenvalue threshold")
    if key is not None:
        check_key(key, "key")
    if num_iters is not None:
        check_int(num_iters, "num_iters", 1)
    if method == "auto":
        method = "dense" if _Layout.of(x).size <= _DENSE_MAX else "lanczos"
    return _classify_critical_point(x, tol, key, f=f, method=method, num_iters=num_iters)


@program("f", "method", "num_iters")
def _classify_critical_point(x, tol, key, *, f, method, num_iters) -> CriticalPoint:
    layout = _Layout.of(x)
    grad = jax.grad(_scalar(f))(x)
    grad_norm = jnp.linalg.norm(layout.flatten(grad))
    if method == "dense":
        lam = jnp.linalg.eigvalsh(hessian(f, x))
    else:
        lam = eigenvalues(hessian_operator(f, x), 1, "both", key=key, num_iters=num_iters)
    lo, hi = lam[0], lam[-1]
    if tol is None:
        scale = jnp.maximum(1.0, jnp.maximum(jnp.abs(lo), jnp.abs(hi)))
        tol = jnp.sqrt(jnp.finfo(lam.dtype).eps) * scale
    label = jnp.where(
        lo > tol,
        MINIMUM,
        jnp.where(hi < -tol, MAXIMUM, jnp.where((lo < -tol) & (hi > tol), SADDLE, DEGENERATE)),
    )
    finite = jnp.isfinite(lo) & jnp.isfinite(hi) & jnp.isfinite(grad_norm)
    label = jnp.where(finite, label, DEGENERATE).astype(jnp.int32)
    return CriticalPoint(label, lam, grad_norm)


def _tree_vdot(a, b) -> jax.Array:
    leaves = jax.tree_util.tree_map(lambda u, v: jnp.sum(u * v), a, b)
    return sum(jax.tree_util.tree_leaves(leaves))


@jax.tree_util.register_pytree_node_class
class QuadraticModel:
    """m(d) = f(x) + g^T d + d^T H d / 2 at a fixed ``x`` (N&W eq. 4.1), d a pytree like x.

    ``value`` = f(x) and ``grad`` = grad f(x) are computed once; each call does one
    Hessian-vector product. A pytree (f static), so it passes through jit and vmap.
    """

    def __init__(self, f: Callable, x, value, grad):
        self.f, self.x, self.value, self.grad = f, x, value, grad

    def tree_flatten(self):
        return (self.x, self.value, self.grad), self.f

    @classmethod
    def tree_unflatten(cls, f, children):
        return cls(f, *children)

    def hvp(self, d):
        """H d, a pytree like x."""
        return _hvp(self.f, self.x, d)

    def gradient(self, d):
        """grad m(d) = g + H d, a pytree like x."""
        return jax.tree_util.tree_map(jnp.add, self.grad, self.hvp(d))

    def __call__(self, d) -> jax.Array:
        check_like(self.x, d, "x", "d")
        return self.value + _tree_vdot(self.grad, d) + 0.5 * _tree_vdot(d, self.hvp(d))


def quadratic_model(f: Callable, x) -> QuadraticModel:
    """The second-order Taylor model of scalar ``f`` at ``x`` as a callable m(d)."""
    check_float_pytree(x, "x")
    check_scalar_fn(f, x, "f")
    value, grad = jax.value_and_grad(_scalar(f))(x)
    return QuadraticModel(f, x, value, grad)

"""Symmetric linear operators on flat vectors: Hessian, Gauss-Newton, user matrix or matvec.

Every spectral tool in this package takes a :class:`LinearOperator`: ``op.matvec(v)``
maps a flat ``(n,)`` vector to ``(n,)``, ``op.shape == (n, n)``, ``op.dtype``, and
``op.to_dense()`` forms the ``(n, n)`` matrix (n matvecs; small problems and tests).
Flat vectors follow ``jax.flatten_util.ravel_pytree(x)`` order.

An operator is a registered pytree: its arrays (the point ``x``, the user matrix) are
leaves, and the function it differentiates, the pytree layout, the shape and the dtype
are static. So an operator can be built inside a traced function, passed into ``jax.jit``
as an argument (same ``f`` object and layout -> no recompilation), and batched by
``jax.vmap`` (e.g. one Hessian operator per point of a batch of ``x``).
A function ``f`` that closes over traced values must be wrapped inside the same trace.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from curvature._cache import program
from curvature._validate import check_float_pytree, check_model_loss, check_scalar_fn
from curvature.derivatives import _gnvp, _hvp

__all__ = [
    "LinearOperator",
    "ggn_operator",
    "hessian_operator",
    "linear_operator",
]


class _Layout(NamedTuple):
    """Hashable description of a pytree: structure, leaf shapes and dtypes.

    ``flatten``/``unflatten`` reproduce ``jax.flatten_util.ravel_pytree``: leaves in
    ``tree_leaves`` order, raveled and concatenated, promoted to a common dtype;
    ``unflatten`` casts back to each leaf's dtype when the dtypes differ.
    """

    treedef: Any
    shapes: tuple
    dtypes: tuple
    dtype: Any

    @classmethod
    def of(cls, x) -> "_Layout":
        leaves, treedef = jax.tree_util.tree_flatten(x)
        shapes = tuple(tuple(int(d) for d in jnp.shape(leaf)) for leaf in leaves)
        dtypes = tuple(np.dtype(jnp.result_type(leaf)) for leaf in leaves)
        return cls(treedef, shapes, dtypes, np.dtype(jnp.result_type(*dtypes)))

    @property
    def size(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    def flatten(self, tree) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(tree)
        return jnp.concatenate([jnp.ravel(leaf).astype(self.dtype) for leaf in leaves])

    def unflatten(self, flat: jax.Array):
        mixed = any(d != self.dtype for d in self.dtypes)
        leaves, start = [], 0
        for shape, dtype in zip(self.shapes, self.dtypes):
            size = math.prod(shape)
            leaf = jnp.reshape(flat[start : start + size], shape)
            leaves.append(leaf.astype(dtype) if mixed else leaf)
            start += size
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


@jax.tree_util.register_pytree_node_class
class LinearOperator:
    """A symmetric linear map on flat ``(n,)`` vectors: ``matvec(v) = fn(data, v)``.

    ``data`` is a pytree of arrays (traced, batched by ``vmap``); ``fn``, ``shape`` and
    ``dtype`` are static. Build one with :func:`hessian_operator`, :func:`ggn_operator`
    or :func:`linear_operator` rather than directly.
    """

    def __init__(self, fn: Callable, data, shape: tuple[int, int], dtype):
        self._fn = fn
        self.data = data
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)

    def tree_flatten(self):
        return (self.data,), (self._fn, self.shape, self.dtype)

    @classmethod
    def tree_unflatten(cls, aux, children):
        fn, shape, dtype = aux
        return cls(fn, children[0], shape, dtype)

    @property
    def size(self) -> int:
        """Dimension n of the space the operator acts on."""
        return self.shape[0]

    def matvec(self, v: jax.Array) -> jax.Array:
        """A @ v for a flat vector ``v`` of shape ``(n,)``, cast to the operator's dtype
        (a float32 vector on a float64 operator is promoted, exactly)."""
        if jnp.shape(v) != (self.shape[1],):
            raise ValueError(
                f"v must be a flat vector of shape ({self.shape[1]},), got shape {jnp.shape(v)}; "
                "flatten a pytree with jax.flatten_util.ravel_pytree"
            )
        return self._fn(self.data, jnp.asarray(v, self.dtype))

    def __matmul__(self, v):
        """``op @ v`` for ``v`` of shape ``(n,)`` or ``(n, m)`` (m matvecs, batched)."""
        v = jnp.asarray(v)
        if v.ndim == 2:
            return jax.vmap(self.matvec, in_axes=1, out_axes=1)(v)
        return self.matvec(v)

    def to_dense(self) -> jax.Array:
        """The ``(n, n)`` matrix with columns ``A e_j`` (n matvecs, batched)."""
        if self._fn is _dense_matvec:
            return self.data
        return _to_dense(self)

    def __repr__(self) -> str:
        name = getattr(self._fn, "__name__", type(self._fn).__name__)
        return f"LinearOperator(shape={self.shape}, dtype={self.dtype}, matvec={name})"


@program()
def _to_dense(op: LinearOperator) -> jax.Array:
    n = op.shape[0]
    return chunked_map(lambda j: op.matvec(jax.nn.one_hot(j, n, dtype=op.dtype)), n).T


def chunked_map(fn: Callable, n: int, chunk: int = 256) -> jax.Array:
    """``stack([fn(j) for j in range(n)])``, evaluated ``chunk`` indices at a time with
    ``vmap`` inside ``lax.map``, so memory stays at ``chunk`` results of work at once."""
    chunk = max(1, min(n, chunk))
    num = -(-n // chunk)
    idx = jnp.minimum(jnp.arange(num * chunk), n - 1).reshape(num, chunk)
    out = jax.lax.map(jax.vmap(fn), idx)
    return out.reshape((num * chunk,) + out.shape[2:])[:n]


def _hessian_matvec(f: Callable, layout: _Layout):
    def fn(x, v):
        return layout.flatten(_hvp(f, x, layout.unflatten(v)))

    return _Static(fn, ("hessian", f, layout))


def hessian_operator(f: Callable, x) -> LinearOperator:
    """The Hessian of scalar ``f`` at ``x`` as an operator: v -> H(x) v (forward-over-reverse).

    Each matvec is one Hessian-vector product (``jvp`` of ``grad``, Pearlmutter 1994),
    about 2-3 gradient evaluations; the matrix is never formed.
    """
    check_float_pytree(x, "x")
    check_scalar_fn(f, x, "f")
    layout = _Layout.of(x)
    n = layout.size
    return LinearOperator(_hessian_matvec(f, layout), x, (n, n), layout.dtype)


def _ggn_matvec(model_fn: Callable, loss_fn: Callable, layout: _Layout):
    def fn(params, v):
        return layout.flatten(_gnvp(model_fn, loss_fn, params, layout.unflatten(v)))

    return _Static(fn, ("ggn", model_fn, loss_fn, layout))


def ggn_operator(model_fn: Callable, loss_fn: Callable, params) -> LinearOperator:
    """The generalized Gauss-Newton matrix G = J^T H_L J as an operator (Schraudolph 2002).

    J is the Jacobian of ``model_fn`` at ``params``, H_L the Hessian of the scalar
    ``loss_fn`` at the model output. Each matvec is one JVP, one output-space HVP and one
    VJP (Martens 2010); J is never formed. G is positive semi-definite when the loss is
    convex in the model output.
    """
    check_model_loss(model_fn, loss_fn, params)
    layout = _Layout.of(params)
    n = layout.size
    return LinearOperator(_ggn_matvec(model_fn, loss_fn, layout), params, (n, n), layout.dtype)


def _dense_matvec(a, v):
    return a @ v


def _callable_matvec(matvec: Callable):
    return _Static(lambda _, v: matvec(v), ("callable", matvec))


class _Static:
    """A matvec function that compares and hashes by a key, so jit caches stay warm
    when an operator over the same ``f`` and layout is rebuilt."""

    __slots__ = ("fn", "key", "__name__")

    def __init__(self, fn: Callable, key: tuple):
        self.fn, self.key = fn, key
        self.__name__ = key[0]

    def __call__(self, data, v):
        return self.fn(data, v)

    def __eq__(self, other):
        return isinstance(other, _Static) and self.key == other.key

    def __hash__(self):
        return hash(self.key)


def _check_shape(shape, name: str = "shape") -> tuple[int, int]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape), int(shape))
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{name} must be an int n or a pair (n, n), got {shape!r}") from None
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"{name} must be square (n, n), got {shape}")
    if shape[0] < 1:
        raise ValueError(f"{name} must be (n, n) with n >= 1, got {shape}")
    return shape


def _real_float_dtype(dtype, name: str):
    dtype = np.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"{name} must be real (symmetric operators only), got dtype {dtype}")
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = np.dtype(jnp.result_type(float))
    return dtype


def linear_operator(matrix_or_matvec, shape=None, dtype=None) -> LinearOperator:
    """Wrap a symmetric ``(n, n)`` matrix or a matvec callable ``v -> A v`` as an operator.

    For a callable, ``shape`` (``n`` or ``(n, n)``) is required and ``dtype`` defaults to
    the dtype the callable returns for a default-float input. Integer matrices are
    promoted to the default float dtype. An existing :class:`LinearOperator` (or any object
    with ``matvec`` and ``shape``) is returned as an operator unchanged in meaning.
    Symmetry is assumed, not checked: Lanczos and the trace estimators rely on it.
    """
    if isinstance(matrix_or_matvec, LinearOperator):
        if shape is not None and _check_shape(shape) != matrix_or_matvec.shape:
            raise ValueError(f"shape {shape} does not match the operator's {matrix_or_matvec.shape}")
        return matrix_or_matvec
    if hasattr(matrix_or_matvec, "matvec") and hasattr(matrix_or_matvec, "shape"):
        obj = matrix_or_matvec
        op_shape = _check_shape(obj.shape, "op.shape")
        op_dtype = dtype if dtype is not None else getattr(obj, "dtype", None)
        return linear_operator(obj.matvec, op_shape, op_dtype)
    if callable(matrix_or_matvec):
        if shape is None:
            raise ValueError("shape is required with a matvec callable: pass shape=n or shape=(n, n)")
        shape = _check_shape(shape)
        matvec = matrix_or_matvec
        if dtype is None:
            probe = jax.ShapeDtypeStruct((shape[0],), jnp.result_type(float))
            try:
                out = jax.eval_shape(matvec, probe)
            except Exception as err:  # report which argument failed, then the cause
                raise ValueError(f"matvec failed on a vector of shape ({shape[0]},): {err}") from err
            if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != (shape[0],):
                got = jax.tree_util.tree_map(lambda s: s.shape, out)
                raise ValueError(f"matvec must map shape ({shape[0]},) to ({shape[0]},), got {got}")
            dtype = out.dtype
        dtype = _real_float_dtype(dtype, "dtype")
        return LinearOperator(_callable_matvec(matvec), (), shape, dtype)
    try:
        a = jnp.asarray(matrix_or_matvec)
    except TypeError:
        raise TypeError(
            "matrix_or_matvec must be a square matrix, a matvec callable or a LinearOperator, "
            f"got {type(matrix_or_matvec).__name__}"
        ) from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"matrix must be square (n, n), got shape {a.shape}")
    if shape is not None and _check_shape(shape) != a.shape:
        raise ValueError(f"shape {shape} does not match the matrix shape {a.shape}")
    dtype = _real_float_dtype(dtype if dtype is not None else a.dtype, "matrix dtype")
    return LinearOperator(_dense_matvec, a.astype(dtype), a.shape, dtype)


def as_operator(op, name: str = "op") -> LinearOperator:
    """Accept a :class:`LinearOperator`, a square matrix, or an object with ``matvec`` and
    ``shape``; raise a ``TypeError`` naming ``name`` otherwise, and a ``ValueError`` for a
    0 x 0 operator (used by the spectral tools: there is no spectrum to estimate)."""
    if isinstance(op, LinearOperator):
        return _nonempty(op, name)
    if callable(op) and not hasattr(op, "matvec"):
        raise TypeError(
            f"{name} must be a LinearOperator or a square matrix; wrap a matvec callable with "
            f"linear_operator(matvec, shape=n) or a scalar function with hessian_operator(f, x)"
        )
    try:
        return _nonempty(linear_operator(op), name)
    except TypeError as err:
        raise TypeError(f"{name}: {err}") from None
    except ValueError as err:
        if str(err).startswith(name):
            raise
        raise ValueError(f"{name}: {err}") from None


def _nonempty(op: LinearOperator, name: str) -> LinearOperator:
    if op.shape[0] == 0:
        raise ValueError(f"{name} is a 0 x 0 operator (a matrix or a point x with no elements); "
                         "the spectral tools need n >= 1")
    return op

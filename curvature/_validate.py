"""Argument checks shared by the curvature operators.

Each check runs on shapes only (``jax.eval_shape``), so it is free under ``jit`` and
raises a ``ValueError``/``TypeError`` that names the argument before JAX traces deeply.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def check_float_pytree(x, name: str = "x") -> None:
    """Raise ``TypeError`` unless every leaf of ``x`` is a floating-point array."""
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves:
        raise ValueError(f"{name} must be a non-empty pytree of float arrays, got {x!r}")
    for leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"{name} must hold floating-point arrays; found a leaf of dtype {dtype}. "
                f"Convert it first, e.g. jnp.asarray({name}, dtype=float)."
            )


def check_scalar_fn(f, x, name: str = "f") -> None:
    """Raise ``ValueError`` unless ``f(x)`` is a real scalar (shape ``()``)."""
    out = jax.eval_shape(f, x)
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape not in ((), (1,)):
        shapes = jax.tree_util.tree_map(lambda s: s.shape, out)
        raise ValueError(
            f"{name} must return a scalar (shape ()), got output of shape {shapes}; "
            f"reduce it first (e.g. sum or mean)."
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"{name} must return a floating-point scalar, got dtype {out.dtype}")


def check_like(x, v, x_name: str = "x", v_name: str = "v", *, dtype: bool = True) -> None:
    """Raise ``ValueError`` unless ``v`` has the tree structure and leaf shapes of ``x``, and
    (``dtype=True``) ``TypeError`` unless each leaf of ``v`` has the dtype of ``x``'s leaf."""
    tx, tv = jax.tree_util.tree_structure(x), jax.tree_util.tree_structure(v)
    if tx != tv:
        raise ValueError(f"{v_name} must have the same pytree structure as {x_name}: {tv} != {tx}")
    for a, b in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(v)):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"{v_name} leaf shape {jnp.shape(b)} does not match {x_name} leaf shape {jnp.shape(a)}"
            )
        da, db = jnp.result_type(a), jnp.result_type(b)
        if dtype and da != db:
            raise TypeError(
                f"{v_name} leaf dtype {db} does not match {x_name} leaf dtype {da}; cast it first, "
                f"e.g. jax.tree_util.tree_map(lambda a, b: a.astype(b.dtype), {v_name}, {x_name})"
            )


def check_nonempty(x, name: str = "x", what: str = "") -> None:
    """Raise ``ValueError`` when the pytree ``x`` has no elements at all (every leaf size 0)."""
    if sum(int(np.prod(jnp.shape(leaf))) for leaf in jax.tree_util.tree_leaves(x)) == 0:
        shapes = jax.tree_util.tree_map(jnp.shape, x)
        raise ValueError(f"{name} has no elements (leaf shapes {shapes}){what}")


def check_real(value, name: str, low: float | None = None, *, open_low: bool = False,
               traced: bool = True, what: str = "a real number"):
    """``value`` checked as a real scalar >= ``low`` (> ``low`` with ``open_low``): a Python
    number or a concrete 0-d array becomes a float; NaN, a bool or a non-scalar raise a
    TypeError/ValueError naming ``name`` (``what`` says what it is). A traced scalar (under
    jit) cannot be compared: it is returned unchecked when ``traced`` is True, refused
    otherwise."""
    bound = "" if low is None else f" {'>' if open_low else '>='} {low:g}"
    expected = f"{name} must be{bound} ({what})"
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise TypeError(f"{expected}, got {value!r}")
    if isinstance(value, jax.core.Tracer):
        if jnp.shape(value) != () or not jnp.issubdtype(value.dtype, jnp.number):
            raise TypeError(f"{expected}, got a traced array of shape {jnp.shape(value)} "
                            f"dtype {value.dtype}")
        if not traced:
            raise TypeError(f"{expected} and concrete, got a traced value: it decides the "
                            "Python control flow, so pass it outside jax.jit (static)")
        return value
    try:
        shape, dtype = jnp.shape(value), jnp.result_type(value)
    except TypeError:
        raise TypeError(f"{expected}, got {type(value).__name__} {value!r}") from None
    if shape != () or not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"{expected}, got shape {shape} dtype {dtype}")
    v = float(value)
    if v != v or (low is not None and (v <= low if open_low else v < low)):
        raise ValueError(f"{expected}, got {v!r}")
    return v


@functools.lru_cache(maxsize=None)
def _raw_key_shape(impl: str) -> tuple:
    """Shape of a raw key of the PRNG implementation ``impl`` (the cache key)."""
    return jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape


def check_key(key, name: str = "key"):
    """``key`` unchanged if it is one PRNG key: a typed key (``jax.random.key(seed)``, shape
    ()) or a raw uint32 key (``jax.random.PRNGKey(seed)``, shape (2,) for the default
    threefry implementation); else a TypeError/ValueError naming ``name``. Shapes and dtypes
    only, so traced keys are checked too."""
    how = "pass jax.random.PRNGKey(seed) or jax.random.key(seed)"
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is None or shape is None:
        raise TypeError(f"{name} must be a PRNG key, not {type(key).__name__} {key!r}: {how}")
    shape = tuple(shape)
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(f"{name} must be a single PRNG key, got an array of keys of shape "
                             f"{shape}: pass one key (e.g. keys[0]) or vmap over them")
        return key
    raw = _raw_key_shape(str(jax.config.jax_default_prng_impl))
    if np.dtype(dtype) != np.uint32:
        seed = " (an integer seed is not a key)" if jnp.issubdtype(dtype, jnp.integer) else ""
        raise TypeError(f"{name} must be a PRNG key, got an array of dtype {dtype} and shape "
                        f"{shape}{seed}: {how}")
    if shape != raw:
        raise ValueError(f"{name} must be a single PRNG key: a raw key has shape {raw} and "
                         f"dtype uint32, got shape {shape}; {how}")
    return key


def check_model_loss(model_fn, loss_fn, params) -> None:
    """Raise unless ``params`` is a float pytree and ``loss_fn(model_fn(params))`` is a
    real scalar; a shape mismatch between the two names both functions."""
    check_float_pytree(params, "params")
    out = jax.eval_shape(model_fn, params)
    try:
        check_scalar_fn(loss_fn, out, "loss_fn")
    except (TypeError, ValueError) as err:
        if "scalar" in str(err):
            raise
        raise ValueError(
            f"model_fn output {jax.tree_util.tree_map(lambda s: s.shape, out)} does not fit "
            f"loss_fn's input: {err}"
        ) from err


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    """``value`` as a Python int in [low, high], else a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int (a static size), got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value

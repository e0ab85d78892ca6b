"""Argument checks shared by the curvature operators.

Each check runs on shapes only (``jax.eval_shape``), so it is free under ``jit`` and
raises a ``ValueError``/``TypeError`` that names the argument before JAX traces deeply.
"""

from __future__ import annotations

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


def check_like(x, v, x_name: str = "x", v_name: str = "v") -> None:
    """Raise ``ValueError`` unless ``v`` has the tree structure and leaf shapes of ``x``."""
    tx, tv = jax.tree_util.tree_structure(x), jax.tree_util.tree_structure(v)
    if tx != tv:
        raise ValueError(f"{v_name} must have the same pytree structure as {x_name}: {tv} != {tx}")
    for a, b in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(v)):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"{v_name} leaf shape {jnp.shape(b)} does not match {x_name} leaf shape {jnp.shape(a)}"
            )


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

"""The problem a ``minimize`` / ``least_squares`` call poses: ``fun(x, *args)``, its aux, its checks.

``args`` is a tuple of pytrees of arrays, traced like x0 (new data of the same shapes and
dtypes reuses the compiled loop). The methods never see it: the driver closes over it
inside the traced program (:func:`close_over`), so a step keeps calling f(x). The checks run
on shapes only (``jax.eval_shape``) and are cached per (function, has_aux, shapes and
dtypes of x0 and args), so a repeated eager call neither compiles nor traces the function.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from curvature._validate import check_float_pytree, check_nonempty, check_scalar_fn

__all__ = ["bind_options", "check_problem", "close_over", "split_aux"]

_NUMBERS = (bool, int, float, complex, np.generic)
#: Errors of a traced value used where a concrete one is needed (a shape, an int, a bool).
_TRACER_ERRORS = (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError,
                  jax.errors.TracerArrayConversionError)


def split_aux(out, has_aux: bool, name: str, *, value_may_be_tuple: bool = False):
    """``(value, aux)`` of the output ``out`` of ``name`` (aux None without has_aux);
    TypeError naming ``has_aux`` when the output does not fit it. ``value_may_be_tuple``:
    the value itself may be a tuple (a residual pytree), so only has_aux=True is checked."""
    if has_aux:
        if not isinstance(out, tuple) or len(out) != 2:
            got = f"a tuple of {len(out)} items" if isinstance(out, tuple) else _describe(out)
            raise TypeError(f"{name} must return a pair (value, aux) with has_aux=True, got {got}")
        return out[0], out[1]
    if isinstance(out, tuple) and not value_may_be_tuple:
        raise TypeError(f"{name} returned a tuple of {len(out)} items, but with has_aux=False it "
                        f"must return the scalar value alone; if it returns (value, aux), pass "
                        f"has_aux=True")
    return out, None


def _describe(out) -> str:
    if isinstance(out, jax.ShapeDtypeStruct) or hasattr(out, "shape"):
        return f"an array of shape {tuple(out.shape)}"
    return f"a {type(out).__name__}"


def _check_args(args) -> None:
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of the extra arguments of fun(x, *args), got a "
                        f"{type(args).__name__}; for a single array write args=(a,)")
    for path, leaf in jax.tree_util.tree_flatten_with_path(args)[0]:
        if not (isinstance(leaf, (jax.Array, np.ndarray, jax.core.Tracer, *_NUMBERS))):
            raise TypeError(f"args must hold arrays (it is traced like x0); args"
                            f"{jax.tree_util.keystr(path)} is a {type(leaf).__name__}: pass it "
                            f"with functools.partial (or as a default argument) instead")


def _check_x0(x0) -> None:
    check_float_pytree(x0, "x0")
    check_nonempty(x0, "x0", ": there is nothing to minimize (every method needs n >= 1)")
    if type(x0) in (list, tuple) and any(isinstance(v, _NUMBERS) for v in jax.tree_util.tree_leaves(x0)):
        raise TypeError(f"x0 is a Python {type(x0).__name__} of numbers, which would be solved as a "
                        f"pytree of {len(x0)} separate scalars: pass an array, e.g. jnp.asarray(x0)")


def _check_signature(fun, nargs: int, name: str) -> None:
    try:
        sig = inspect.signature(fun)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*range(1 + nargs))
    except TypeError as err:
        raise TypeError(f"{name} is called as {name}(x, *args) with {nargs} args, but "
                        f"{getattr(fun, '__qualname__', type(fun).__name__)}{sig} cannot take "
                        f"{1 + nargs} positional arguments: {err}") from None


def _struct(v) -> jax.ShapeDtypeStruct:
    aval = jax.typeof(v)
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=aval.weak_type)


def _check_residual_output(out) -> None:
    leaves = jax.tree_util.tree_leaves(out)
    if not leaves or all(leaf.shape == () for leaf in leaves):
        raise ValueError("residual must return a vector of residuals r(x) (cost = ||r||^2 / 2), got a scalar; "
                         "for a scalar objective use optimizers.minimize")
    for leaf in leaves:
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(f"residual must return floating-point residuals, got dtype {leaf.dtype}")


def _trace(fun, has_aux, name, x0, args) -> None:
    """Trace ``fun(x0, *args)`` on shapes and check its output; a TypeError raised by a call
    with args names args."""
    residual = name == "residual"

    def value(xa):
        x, a = xa
        try:
            out = fun(x, *a)
        except TypeError as err:
            if not a:
                raise
            shapes = jax.tree_util.tree_map(lambda s: f"{s.dtype}{list(s.shape)}", a)
            hint = ("args are traced: pass values that set shapes or Python control flow with "
                    "functools.partial instead" if isinstance(err, _TRACER_ERRORS)
                    else f"check that args are the extra arguments {name} expects, in order")
            raise TypeError(f"{name}(x, *args) raised {type(err).__name__} with args = {shapes}; "
                            f"{hint}. The error: {err}") from err
        return split_aux(out, has_aux, name, value_may_be_tuple=residual)[0]

    if residual:
        _check_residual_output(jax.eval_shape(value, (x0, args)))
    else:
        check_scalar_fn(value, (x0, args), name)


@functools.lru_cache(maxsize=256)
def _cached_trace(fun, has_aux, name, x0_def, x0_structs, args_def, args_structs) -> None:
    _trace(fun, has_aux, name, jax.tree_util.tree_unflatten(x0_def, x0_structs),
           jax.tree_util.tree_unflatten(args_def, args_structs))


def check_problem(fun: Callable, x0, args, has_aux, name: str = "fun") -> None:
    """The checks of a ``fun(x, *args)`` problem, before compiling: ``fun`` a function, x0 a
    non-empty float pytree (not a list of numbers), args a tuple of arrays, has_aux a bool,
    ``fun`` callable with 1 + len(args) arguments, and its output (``(out, aux)`` with
    has_aux): a float scalar, or for ``name == "residual"`` float residuals, not a scalar.
    Shape-only; cached per (fun, has_aux, shapes and dtypes of x0 and args)."""
    if not callable(fun):
        what = "a vector of residuals" if name == "residual" else "a scalar"
        raise TypeError(f"{name} must be a function of x returning {what}, got {type(fun).__name__}")
    if not isinstance(has_aux, bool):
        raise TypeError(f"has_aux must be True or False, got {has_aux!r}")
    _check_args(args)
    _check_x0(x0)
    _check_signature(fun, len(args), name)
    x_leaves, x_def = jax.tree_util.tree_flatten(jax.tree_util.tree_map(_struct, x0))
    a_leaves, a_def = jax.tree_util.tree_flatten(jax.tree_util.tree_map(_struct, args))
    key = (fun, has_aux, name, x_def, tuple(x_leaves), a_def, tuple(a_leaves))
    try:
        hash(key)
    except TypeError:  # an unhashable function: checked on every call
        _trace(fun, has_aux, name, jax.tree_util.tree_unflatten(x_def, x_leaves),
               jax.tree_util.tree_unflatten(a_def, a_leaves))
        return
    _cached_trace(*key)


def close_over(fun: Callable, args, has_aux: bool) -> Callable:
    """f(x) = the value of ``fun(x, *args)``: inside the traced program, where args are the
    traced data, so every method keeps seeing a function of x alone."""

    def f(x):
        return split_aux(fun(x, *args), has_aux, "fun")[0]

    return f


def bind_options(opts: dict, static_names, args) -> dict:
    """The options with every function option (model_fn, loss_fn, residual,
    per_example_grads) called as ``fn(first, *args, **kw)``, so the functions a method gets
    through its options see the same data as ``fun``; unchanged when args is empty."""
    if not args:
        return opts

    def bound(fn):
        def with_args(first, **kw):
            return fn(first, *args, **kw)

        return with_args

    return {k: bound(v) if k in static_names and callable(v) else v for k, v in opts.items()}

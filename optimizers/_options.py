"""Option declarations and their validation, run in Python before anything compiles.

Each checker returns the value (normalized) or raises ``TypeError`` (wrong kind) or
``ValueError`` (out of range) with a message saying what is expected; :func:`resolve`
prefixes the method and option name.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from optimizers._method import Method, Option

__all__ = ["RENAMED", "real", "integer", "boolean", "choice", "function", "renamed_hint", "resolve"]

#: Options renamed to optax's names: old -> (new, why). An old name is refused with a
#: message naming the new one (no silent alias: a config or call with the old name fails
#: once, clearly, instead of meaning two things).
RENAMED = {
    "m": ("memory_size", "the L-BFGS memory, named as in optax.lbfgs(memory_size=...)"),
}


def renamed_hint(name: str, options: Mapping[str, Any]) -> str | None:
    """The sentence telling that option ``name`` is now called something else, when the
    new name is one of ``options`` (the method's); None otherwise."""
    if name not in RENAMED or RENAMED[name][0] not in options:
        return None
    new, why = RENAMED[name]
    return f"option {name!r} was renamed {new!r} ({why}): pass {new}= instead"


def _is_traced(value) -> bool:
    return isinstance(value, jax.core.Tracer)


def _interval(lo, hi, lo_closed, hi_closed) -> str:
    left = "[" if lo_closed else "("
    right = "]" if hi_closed else ")"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"{left}{lo_s}, {hi_s}{right}"


def real(default: float, doc: str, lo=None, hi=None, *, lo_closed=False, hi_closed=False) -> Option:
    """A float option in an interval; may be a traced scalar under jit (range not checked then)."""
    where = _interval(lo, hi, lo_closed, hi_closed)

    def check(value):
        if isinstance(value, (bool, np.bool_)) or value is None:
            raise TypeError(f"expected a real number in {where}, got {value!r}")
        if _is_traced(value) or isinstance(value, (jax.Array, np.ndarray, np.generic)):
            dtype = jnp.result_type(value)
            if jnp.shape(value) != () or not (
                jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
            ):
                raise TypeError(f"expected a real scalar in {where}, got shape "
                                f"{jnp.shape(value)} dtype {dtype}")
            if _is_traced(value):
                return value
            value = float(value)
        elif not isinstance(value, (int, float)):
            raise TypeError(f"expected a real number in {where}, got {type(value).__name__} {value!r}")
        v = float(value)
        ok = not math.isnan(v)
        ok &= lo is None or (v >= lo if lo_closed else v > lo)
        ok &= hi is None or (v <= hi if hi_closed else v < hi)
        if not ok:
            raise ValueError(f"expected a real number in {where}, got {value!r}")
        return value

    return Option(default, check, False, doc)


def integer(default: int | None, doc: str, lo: int = 0, *, optional: bool = False) -> Option:
    """A concrete Python int >= lo (``None`` allowed when ``optional``); static."""

    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            extra = " (a concrete Python int: pass it with functools.partial or static_argnames under jit)" \
                if _is_traced(value) else ""
            none = " or None" if optional else ""
            raise TypeError(f"expected an int >= {lo}{none}, got {value!r}{extra}")
        if value < lo:
            raise ValueError(f"expected an int >= {lo}, got {value!r}")
        return int(value)

    return Option(default, check, True, doc)


def boolean(default: bool, doc: str) -> Option:
    """A Python bool; static."""

    def check(value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"expected True or False, got {value!r}")
        return bool(value)

    return Option(default, check, True, doc)


def choice(default: str, doc: str, *choices: str) -> Option:
    """One of a fixed set of strings; static."""

    def check(value):
        if value not in choices:
            raise ValueError(f"expected one of {list(choices)}, got {value!r}")
        return value

    return Option(default, check, True, doc)


def function(doc: str) -> Option:
    """A callable or None (default None); static."""

    def check(value):
        if value is not None and not callable(value):
            raise TypeError(f"expected a function or None, got {type(value).__name__}")
        return value

    return Option(None, check, True, doc)


def resolve(method: Method, options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``options`` for ``method`` and fill in the defaults.

    Unknown names raise ``TypeError`` listing the method's options; a wrong value raises the
    checker's ``TypeError``/``ValueError`` prefixed with the method and option name; then the
    method's ``validate`` hook checks the options together (e.g. c1 < c2), prefixed with the
    method name. Traced float options (under jit) pass their checks unexamined.
    """
    unknown = sorted(set(options) - set(method.options))
    for name in unknown:
        hint = renamed_hint(name, method.options)
        if hint is not None:
            raise TypeError(f"method {method.name!r}: {hint}")
    if unknown:
        known = ", ".join(f"{k}={v.default!r}" for k, v in method.options.items()) or "none"
        raise TypeError(
            f"unknown option(s) {unknown} for method {method.name!r}; its options are: {known}"
        )
    out = {}
    for name, opt in method.options.items():
        value = options.get(name, opt.default)
        try:
            out[name] = opt.check(value)
        except (TypeError, ValueError) as err:
            raise type(err)(f"method {method.name!r} option {name!r}: {err}") from None
    if method.validate is not None:
        try:
            method.validate(out)
        except (TypeError, ValueError) as err:
            if str(err).startswith("method "):
                raise
            raise type(err)(f"method {method.name!r}: {err}") from None
    return out

"""The method registry: name -> :class:`~optimizers._method.Method`, in a fixed order.

The registry is the one module that imports the method modules; nothing it imports looks
methods up by name, so there is no import circle. ``register(method)`` adds a user's
method (a :class:`Method` record, e.g. ``compose(...)`` of a direction and a globalisation);
``get_method`` takes a name or a record, so every entry point (``minimize``, ``least_squares``,
``make_transform``, configs) accepts either.
"""

from __future__ import annotations

from typing import Any

import optax

from optimizers import (
    adam,
    bfgs,
    dogleg,
    gauss_newton,
    gd,
    hessian_free,
    lbfgs,
    levenberg_marquardt,
    momentum,
    newton,
    newton_cg,
    nonlinear_cg,
    saddle_free_newton,
    trust_exact,
    trust_krylov,
    trust_ncg,
)
from optimizers._method import Method, frozen_options
from optimizers._transforms import transform

__all__ = ["get_method", "make_transform", "method_names", "method_options", "register"]

_METHODS: dict[str, Method] = {}


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` under ``method.name`` (``replace=True`` to redefine a name); returns
    the registered record (its options frozen, so it is hashable)."""
    if not isinstance(method, Method):
        raise TypeError(f"register takes a Method record (see optimizers.compose), got {type(method).__name__}")
    if not isinstance(method.name, str) or not method.name:
        raise ValueError(f"a method needs a non-empty string name, got {method.name!r}")
    if method.name in _METHODS and not replace:
        raise ValueError(f"method {method.name!r} is registered already; pass replace=True to redefine it")
    method = method._replace(options=frozen_options(method.options))
    _METHODS[method.name] = method
    return method


for _module, _name in (
    (gd, "GD"), (momentum, "MOMENTUM"), (adam, "ADAM"), (lbfgs, "LBFGS"), (bfgs, "BFGS"),
    (newton, "NEWTON"), (newton_cg, "NEWTON_CG"), (trust_ncg, "TRUST_NCG"), (nonlinear_cg, "NONLINEAR_CG"),
    (trust_krylov, "TRUST_KRYLOV"), (trust_exact, "TRUST_EXACT"), (dogleg, "DOGLEG"),
    (gauss_newton, "GAUSS_NEWTON"), (levenberg_marquardt, "LEVENBERG_MARQUARDT"),
    (hessian_free, "HESSIAN_FREE"), (saddle_free_newton, "SADDLE_FREE_NEWTON"),
):
    register(getattr(_module, _name))


def method_names() -> list[str]:
    """Names of the registered methods, in registry order."""
    return list(_METHODS)


def get_method(method) -> Method:
    """The :class:`Method` named ``method`` (or ``method`` itself when it is a record);
    ValueError listing the known names."""
    if isinstance(method, Method):
        return method._replace(options=frozen_options(method.options))
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(_METHODS)}")
    return _METHODS[method]


def method_options(method) -> dict[str, Any]:
    """Every option of ``method`` (a name or a record), with its default."""
    return {k: opt.default for k, opt in get_method(method).options.items()}


def make_transform(method, **options) -> optax.GradientTransformationExtraArgs:
    """The optax transform of ``method`` (a name or a record) with ``options``."""
    return transform(get_method(method), **options)

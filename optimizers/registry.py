"""The method registry: name -> :class:`~optimizers.method.Method`, in a fixed order.

Adding a method is one new module defining a ``Method`` and one line in ``_METHODS``
below (docs/optimizers.md, "Adding a method"); the driver and the optax plumbing look
methods up here and need no change.
"""

from __future__ import annotations

from typing import Any

from optimizers import dense_bfgs, first_order, limited_memory, modified_newton, trust_region, truncated_newton
from optimizers import hessian_free_method, saddle_free
from optimizers.method import Method

__all__ = ["get_method", "method_names", "method_options"]

_METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        first_order.GD,
        first_order.MOMENTUM,
        first_order.ADAM,
        limited_memory.LBFGS,
        dense_bfgs.BFGS,
        modified_newton.NEWTON,
        truncated_newton.NEWTON_CG,
        trust_region.TRUST_NCG,
        hessian_free_method.HESSIAN_FREE,
        saddle_free.SADDLE_FREE_NEWTON,
    )
}


def method_names() -> list[str]:
    """Names of the registered methods, in registry order."""
    return list(_METHODS)


def get_method(name: str) -> Method:
    """The registered :class:`Method` called ``name``; ValueError listing the known names."""
    if not isinstance(name, str) or name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(_METHODS)}")
    return _METHODS[name]


def method_options(name: str) -> dict[str, Any]:
    """Every option method ``name`` accepts, with its default (``minimize(..., **options)``)."""
    return {k: opt.default for k, opt in get_method(name).options.items()}

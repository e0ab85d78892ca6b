"""The method registry: name -> :class:`~optimizers._method.Method`, in a fixed order.

The registry is the one module that imports the method modules; nothing it imports looks
methods up by name, so there is no import circle. ``register(method)`` adds a user's
method (a :class:`Method` record, e.g. ``compose(...)`` of a direction and a globalisation);
``get_method`` takes a name or a record, so every entry point (``minimize``, ``least_squares``,
``make_transform``, configs) accepts either.
"""

from __future__ import annotations

import difflib
import re
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

__all__ = ["canonical_name", "get_method", "make_transform", "method_names", "method_options", "register"]

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


# Spellings of other libraries that name one of our methods differently (after folding
# case, "-", "_" and spaces): scipy's "CG" is Polak-Ribiere nonlinear CG; optimistix's
# GradientDescent, LevenbergMarquardt... fold onto our names by themselves.
_ALIASES = {
    "cg": "nonlinear-cg",
    "gradientdescent": "gd",
    "lm": "levenberg-marquardt",
}

# Methods of scipy.optimize.minimize that curvax does not have, with the reason and what
# to use instead, so a scipy user's one-line change fails with advice, not a bare list.
_NOT_HERE = {
    "lbfgsb": "L-BFGS-B handles bound constraints, which curvax does not; for an unconstrained "
              "problem use 'lbfgs' (the same two-loop L-BFGS recursion, no bounds)",
    "tnc": "TNC is truncated Newton with bound constraints, which curvax does not have; for an "
           "unconstrained problem use 'newton-cg' (truncated Newton, matrix-free)",
    "neldermead": "Nelder-Mead is derivative-free; curvax's methods use derivatives from JAX: "
                  "try 'lbfgs' or 'trust-ncg'",
    "powell": "Powell's method is derivative-free; curvax's methods use derivatives from JAX: "
              "try 'lbfgs' or 'trust-ncg'",
    "cobyla": "COBYLA is for constrained derivative-free problems, which curvax does not solve",
    "cobyqa": "COBYQA is for constrained derivative-free problems, which curvax does not solve",
    "slsqp": "SLSQP is for constrained problems, which curvax does not solve",
    "trustconstr": "trust-constr is for constrained problems, which curvax does not solve; for "
                   "an unconstrained one its trust-region Newton-CG is 'trust-ncg'",
}


def _fold(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


def canonical_name(name: str) -> str:
    """The registered name that ``name`` spells: an exact name, or another library's spelling
    of it (case, "-", "_" and spaces ignored: scipy's "Newton-CG", "BFGS", "trust-krylov",
    "CG"; optimistix's "LBFGS", "GaussNewton", "LevenbergMarquardt", "Dogleg"). ValueError
    for any other string: for a scipy method curvax does not have, the reason and what to
    use instead; otherwise the nearest known names and the full list."""
    if not isinstance(name, str):
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(_METHODS)}")
    if name in _METHODS:
        return name
    folded = _fold(name)
    if folded in _NOT_HERE:
        raise ValueError(f"unknown method {name!r}: {_NOT_HERE[folded]}")
    by_fold = {_fold(known): known for known in _METHODS}
    target = _ALIASES.get(folded, by_fold.get(folded))
    if target is not None and target in _METHODS:
        return target
    near = difflib.get_close_matches(folded, list(by_fold), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(by_fold[c]) for c in near)}?)" if near else ""
    raise ValueError(f"unknown method {name!r}{hint}; known methods: {', '.join(_METHODS)}")


def get_method(method) -> Method:
    """The :class:`Method` named ``method`` (or ``method`` itself when it is a record); a
    name may be spelled as scipy or optimistix spell it (:func:`canonical_name`).
    ValueError listing the known names."""
    if isinstance(method, Method):
        return method._replace(options=frozen_options(method.options))
    return _METHODS[canonical_name(method)]


def method_options(method) -> dict[str, Any]:
    """Every option of ``method`` (a name or a record), with its default."""
    return {k: opt.default for k, opt in get_method(method).options.items()}


def make_transform(method, **options) -> optax.GradientTransformationExtraArgs:
    """The optax transform of ``method`` (a name or a record) with ``options``."""
    return transform(get_method(method), **options)

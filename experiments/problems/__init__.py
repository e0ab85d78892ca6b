"""Registry of test loss surfaces: 2-D surfaces, saddles, More-Garbow-Hillstrom functions,
conditioning studies and small ML losses on seeded synthetic data.

``get(name, **params)`` builds a ``Problem``; ``names(tag)`` lists them (tags such as
"2d", "mgh", "ml", "saddle", "ill-conditioned", "least-squares"); ``params(name)`` gives
the accepted parameters with their defaults. Least-squares problems satisfy
``fun(x) == sum(residual(x)**2)`` (no factor 1/2) throughout. With the optional extra
``cutest`` (sif2jax), the unconstrained CUTEst problems join as ``cutest_<name>``, loaded
on first need (see ``cutest``); ``unavailable(name=..., tag=...)`` says what to install
where they are absent.
"""

from . import cutest, mgh_fixed, mgh_variable, ml, quadratic, saddles, surfaces  # noqa: F401  (registration)
from .base import Problem
from .registry import (
    build_problem,
    coerce_param,
    draft,
    get,
    names,
    params,
    register,
    tags,
    unavailable,
    unknown_message,
)

__all__ = ["Problem", "build_problem", "coerce_param", "draft", "get", "names", "params", "register", "tags",
           "unavailable", "unknown_message"]

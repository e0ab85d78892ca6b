"""The objective bundle every method step receives: f, its gradient and curvature on flat vectors.

The driver ravels the parameters once (``jax.flatten_util.ravel_pytree``); a method only
ever sees flat 1-D vectors ``z``. Every evaluation a method makes goes through this
bundle, and the method adds it to the counters of its :class:`~optimizers._method.Iterate`
where it happens (see docs/optimizers.md, "Adding a method").
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

import curvature

__all__ = ["Objective", "make_objective"]


class Objective(NamedTuple):
    """f and its derivatives on flat vectors.

    value(z) -> f; grad(z) -> g; value_and_grad(z) -> (f, g) (counts as one f and one
    gradient evaluation); hvp(z, v) -> H(z) v via ``curvature.hvp`` (one HVP);
    hessian(z) -> dense (n, n) via ``curvature.hessian`` (counts as n HVPs).
    unravel: flat vector -> parameter pytree, to lift pytree functions given as options
    (a model function, say) to flat vectors; ravel: its inverse (a pytree like the
    parameters -> flat vector in the same order; ``optimizers/_ravel.py``). extra: keyword
    arguments the optax path passes on to the loss (a batch); ``{}`` under ``minimize``.
    """

    value: Callable
    grad: Callable
    value_and_grad: Callable
    hvp: Callable
    hessian: Callable
    unravel: Callable
    extra: dict[str, Any]
    ravel: Callable


def make_objective(fun: Callable, unravel: Callable, extra: dict[str, Any] | None = None,
                   ravel: Callable | None = None) -> Objective:
    """Bundle ``fun(params, **extra)`` as functions of the flat vector ``z``; ``ravel``
    (default ``ravel_pytree``'s) flattens pytrees shaped like the parameters."""
    extra = dict(extra or {})

    def flat(z):  # f in the dtype of the parameters, like the gradient
        return jnp.reshape(fun(unravel(z), **extra), ()).astype(z.dtype)

    return Objective(
        value=flat,
        grad=jax.grad(flat),
        value_and_grad=jax.value_and_grad(flat),
        hvp=lambda z, v: curvature.hvp(flat, z, v),
        hessian=lambda z: curvature.hessian(flat, z),
        unravel=unravel,
        extra=extra,
        ravel=ravel or (lambda tree: ravel_pytree(tree)[0]),
    )

"""``least_squares``: minimize cost(x) = ||r(x)||^2 / 2 for a residual function r.

In the spirit of ``scipy.optimize.least_squares``: the default method is
``levenberg-marquardt``; ``gauss-newton``, ``hessian-free`` and the other methods with a
model/loss split get ``model_fn=residual`` and ``loss_fn = ||r||^2 / 2``, so their curvature
is the Gauss-Newton matrix J^T J (products only: J is never formed); every other registered
method minimizes the cost with its own curvature. The result carries the residual at the
solution (``fun``, as scipy names it) and the cost; the counters are those of ``minimize``
plus the one evaluation of r at the returned x.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from optimizers._driver import minimize
from optimizers._registry import get_method
from optimizers._result import Trace
from optimizers._status import status_message

__all__ = ["LeastSquaresResult", "least_squares"]


class LeastSquaresResult(NamedTuple):
    """Outcome of :func:`least_squares` (a pytree, like ``OptimizeResult``).

    x: the solution (x0's structure). cost: ||r(x)||^2 / 2. fun: the residual r(x) (its own
    structure). grad_norm: infinity norm of J^T r at x. nit, nfev, ngev, nhvp, status,
    success, trace: as ``OptimizeResult`` (nfev includes the final residual evaluation).
    """

    x: Any
    cost: jax.Array
    fun: Any
    grad_norm: jax.Array
    nit: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhvp: jax.Array
    status: jax.Array
    success: jax.Array
    trace: Trace

    @property
    def message(self):
        """Text for ``status`` (``optimizers.STATUS_MESSAGES``)."""
        return status_message(self.status)


def _half_sum_of_squares(r):
    flat, _ = ravel_pytree(r)
    return 0.5 * jnp.sum(flat * flat)


def _cost(residual):
    def cost(x):
        return _half_sum_of_squares(residual(x))

    return cost


@functools.lru_cache(maxsize=64)
def _cached_cost(residual):
    return _cost(residual)


def _cost_of(residual):
    """cost(x) = ||residual(x)||^2 / 2, the same function object for the same residual:
    ``minimize`` compiles once per objective function (a static argument of its jit), so a
    new closure on every call would recompile the whole loop each time."""
    try:
        return _cached_cost(residual)
    except TypeError:  # an unhashable callable
        return _cost(residual)


def _check_residual(residual, x0) -> None:
    if not callable(residual):
        raise TypeError(f"residual must be a function of x returning a vector of residuals, got "
                        f"{type(residual).__name__}")
    out = jax.eval_shape(residual, x0)
    leaves = jax.tree_util.tree_leaves(out)
    if not leaves or all(leaf.shape == () for leaf in leaves):
        raise ValueError("residual must return a vector of residuals r(x) (cost = ||r||^2 / 2), got a scalar; "
                         "for a scalar objective use optimizers.minimize")
    for leaf in leaves:
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(f"residual must return floating-point residuals, got dtype {leaf.dtype}")


def least_squares(residual, x0, method="levenberg-marquardt", *, gtol=1e-6, max_iter: int = 1000,
                  **options) -> LeastSquaresResult:
    """Minimize ||residual(x)||^2 / 2 from ``x0`` (any pytree of float arrays).

    ``method``: a name or a record; ``options``: the method's options (``residual``,
    ``model_fn`` and ``loss_fn`` are supplied here). ``gtol``, ``max_iter`` and the other
    keywords of :func:`optimizers.minimize` (ftol, xtol, relative_gtol, record_path,
    callback) pass through. jit- and vmap-able like ``minimize``.
    """
    spec = get_method(method)
    supplied = {"residual", "model_fn", "loss_fn"} & set(options)
    if supplied:
        raise TypeError(f"least_squares supplies {sorted(supplied)} itself from residual; do not pass them")
    _check_residual(residual, x0)
    if {"model_fn", "loss_fn"} <= set(spec.options):
        options = {**options, "model_fn": residual, "loss_fn": _half_sum_of_squares}

    res = minimize(_cost_of(residual), x0, spec, gtol=gtol, max_iter=max_iter, **options)
    r = residual(res.x)
    return LeastSquaresResult(x=res.x, cost=_half_sum_of_squares(r), fun=r, grad_norm=res.grad_norm,
                              nit=res.nit, nfev=res.nfev + 1, ngev=res.ngev, nhvp=res.nhvp,
                              status=res.status, success=res.success, trace=res.trace)

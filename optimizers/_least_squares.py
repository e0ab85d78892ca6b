"""``least_squares``: minimize cost(x) = ||r(x)||^2 / 2 for a residual function r.

In the spirit of ``scipy.optimize.least_squares``: the default method is
``levenberg-marquardt``; ``gauss-newton``, ``hessian-free`` and the other methods with a
model/loss split get ``model_fn=residual`` and ``loss_fn = ||r||^2 / 2``, so their curvature
is the Gauss-Newton matrix J^T J (products only: J is never formed); every other registered
method minimizes the cost with its own curvature. The result carries the residual at the
solution (``fun``, as scipy names it) and the cost; the counters are those of ``minimize``
plus the one evaluation of r at the returned x (made inside the compiled program: the cost
is minimized with ``has_aux=True``, its aux being the residual and the user's aux).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from optimizers._callback import running_eagerly
from optimizers._curvature_split import SPLIT_FUNCTIONS
from optimizers._driver import minimize
from optimizers._implicit import implicit_options, solution_with_implicit_gradient
from optimizers._problem import check_problem, split_aux
from optimizers._registry import get_method
from optimizers._result import Trace
from optimizers._status import status_message

__all__ = ["LeastSquaresResult", "least_squares"]


class LeastSquaresResult(NamedTuple):
    """Outcome of :func:`least_squares` (a pytree, like ``OptimizeResult``).

    x: the solution (x0's structure). cost: ||r(x)||^2 / 2. fun: the residual r(x) (its own
    structure). grad_norm: infinity norm of J^T r at x. nit, nfev, ngev, nhvp, status,
    success, trace: as ``OptimizeResult`` (nfev includes the final residual evaluation).
    grad: J^T r at x, a pytree like x0. aux: with ``has_aux=True`` the aux output of the
    residual at x, else None.
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
    grad: Any = None
    aux: Any = None

    @property
    def message(self):
        """Text for ``status`` (``optimizers.STATUS_MESSAGES``)."""
        return status_message(self.status)


def _half_sum_of_squares(r, *_args):  # also the split's loss_fn, which gets args after r
    flat, _ = ravel_pytree(r)
    return 0.5 * jnp.sum(flat * flat)


def _split(residual, has_aux):
    """``(cost, model_fn)`` for ``residual``: cost(x, *args) = (||r||^2 / 2, (r, aux)) and
    model_fn(x, *args) = r alone."""

    def cost(x, *args):
        r, aux = split_aux(residual(x, *args), has_aux, "residual", value_may_be_tuple=True)
        return _half_sum_of_squares(r), (r, aux)

    def model_fn(x, *args, **extra):
        return residual(x, *args, **extra)[0]

    return cost, model_fn if has_aux else residual


@functools.lru_cache(maxsize=64)
def _cached_split(residual, has_aux):
    return _split(residual, has_aux)


def _split_of(residual, has_aux):
    """:func:`_split`, the same function objects for the same (residual, has_aux):
    ``minimize`` compiles once per objective function (a static argument of its jit), so a
    new closure on every call would recompile the whole loop each time."""
    try:
        return _cached_split(residual, has_aux)
    except TypeError:  # an unhashable callable
        return _split(residual, has_aux)


def _residual_value(residual, has_aux):
    """r(x, *args) without the aux of a has_aux residual."""
    if not has_aux:
        return residual
    return lambda x, *args: split_aux(residual(x, *args), True, "residual", value_may_be_tuple=True)[0]


def least_squares(residual, x0, method="levenberg-marquardt", *, args: tuple = (), has_aux: bool = False,
                  gtol=1e-6, max_iter: int = 1000, implicit_diff=True, **options) -> LeastSquaresResult:
    """Minimize ||residual(x, *args)||^2 / 2 over x from ``x0`` (any pytree of float arrays).

    ``method``: a name or a record; ``options``: the method's options (``residual``,
    ``model_fn`` and ``loss_fn`` are supplied here). ``args``: a tuple of the extra
    arguments of ``residual`` (pytrees of arrays), traced, as in :func:`optimizers.minimize`:
    new data of the same shapes reuses the compiled loop, which is cached on the residual
    function object (a fresh lambda per call compiles again). ``has_aux``: residual returns
    ``(r, aux)``; ``result.aux`` is aux at the solution. ``gtol``, ``max_iter`` and the
    other keywords of :func:`optimizers.minimize` (ftol, xtol, relative_gtol, record_path,
    callback) pass through; the callback sees f = the cost. jit- and vmap-able like
    ``minimize``.

    Derivatives of ``result.x``, ``result.cost`` and ``result.fun`` with respect to
    ``args``: as in :func:`optimizers.minimize` (implicit function theorem, CG on
    Hessian-vector products, NaN where the run did not succeed or CG did not converge),
    with H the exact Hessian of the cost by default, so the theorem holds for any
    residual. ``implicit_diff={"hessian": "gauss-newton"}`` uses J^T J instead: cheaper,
    exact only where the residual is zero or linear in x at the solution. Also ``tol``,
    ``max_iter``; ``implicit_diff=False`` turns the derivatives off.
    """
    spec = get_method(method)
    supplied = set(SPLIT_FUNCTIONS) & set(options)
    if supplied:
        raise TypeError(f"least_squares supplies {sorted(supplied)} itself from residual; do not pass them")
    check_problem(residual, x0, args, has_aux, "residual")
    cost, model_fn = _split_of(residual, has_aux)
    if {"model_fn", "loss_fn"} <= set(spec.options):
        options = {**options, "model_fn": model_fn, "loss_fn": _half_sum_of_squares}

    implicit_options(implicit_diff, least_squares=True)
    res = minimize(cost, x0, spec, args=jax.lax.stop_gradient(args), has_aux=True, gtol=gtol,
                   max_iter=max_iter, implicit_diff=False, **options)
    r, aux = res.aux
    if not running_eagerly(x0, args):  # derivatives through the solution (see the docstring)
        x = solution_with_implicit_gradient(_residual_value(residual, has_aux), args, res.x, res.success,
                                            implicit_diff, least_squares=True)
        r, aux = split_aux(residual(x, *args), has_aux, "residual", value_may_be_tuple=True)
        res = res._replace(x=x, fun=jnp.asarray(_half_sum_of_squares(r), res.fun.dtype))
    return LeastSquaresResult(x=res.x, cost=res.fun, fun=r, grad_norm=res.grad_norm, nit=res.nit,
                              nfev=res.nfev, ngev=res.ngev, nhvp=res.nhvp, status=res.status,
                              success=res.success, trace=res.trace, grad=res.grad, aux=aux)

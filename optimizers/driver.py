"""The driver: ``minimize`` runs any registered method inside one ``lax.while_loop``.

Stopping tests, checked after every iteration and once at x0 (in this order):
``grad_norm <= gtol`` (infinity norm) -> CONVERGED; f or g not finite -> NONFINITE (the
previous point is kept); the step stalled -> NO_PROGRESS; ``max_iter`` reached -> MAX_ITER.
Status codes: :mod:`optimizers.status`.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from curvature._validate import check_float_pytree, check_scalar_fn
from optimizers import status as st
from optimizers.method import Iterate, Method
from optimizers.objective import make_objective
from optimizers.options import real, resolve
from optimizers.registry import get_method
from optimizers.result import OptimizeResult, Trace

__all__ = ["minimize"]

_GTOL = real(1e-6, "gradient tolerance", 0.0)


def minimize(
    fun: Callable,
    x0,
    method: str = "newton-cg",
    *,
    gtol=1e-6,
    max_iter: int = 1000,
    record_path: bool = False,
    callback: Callable | None = None,
    **options,
) -> OptimizeResult:
    """Minimize the scalar ``fun(x)`` from ``x0`` with a registered method.

    x0 is any pytree of float arrays; it is raveled once (``ravel_pytree``) and the method
    runs on flat vectors inside one ``lax.while_loop``. Stops when ``||g||_inf <= gtol``
    (success), after ``max_iter`` iterations, when no further decrease is possible, or when
    f or g become non-finite; ``result.status`` says which (``optimizers.STATUS_MESSAGES``).
    A minimizer as x0 returns ``nit == 0`` and success; a non-finite f(x0) or g(x0) returns
    status 3 rather than raising.

    method: a name from ``method_names()``; options: that method's options
    (``method_options(method)``). record_path: also keep the flat iterates in
    ``result.trace.x``, shape (max_iter + 1, n). callback: a host function
    ``callback(iteration, f, grad_norm)`` called through ``jax.debug.callback`` at x0
    (iteration 0) and after each iteration; it synchronizes with the host each time, and
    under vmap receives batched arrays.

    jit and vmap: ``jax.vmap(functools.partial(minimize, fun, method="lbfgs"))(x0s)`` solves
    many starts in one call. Under ``jax.jit`` pass ``fun``, ``method``, ``max_iter``,
    ``record_path``, ``callback`` and the integer/bool/function options as static (or close
    over them with ``functools.partial``); float options and gtol may be traced. The
    compiled loop is cached per (fun, method, max_iter, static options).

    Raises ValueError/TypeError before compiling on: an unknown method or option, a
    wrong-typed or out-of-range option, gtol <= 0, max_iter < 0, an integer x0, a ``fun``
    that does not return a float scalar.
    """
    spec = get_method(method)
    opts = resolve(spec, options)
    try:
        gtol = _GTOL.check(gtol)
    except (TypeError, ValueError) as err:
        raise type(err)(f"gtol: {err}") from None
    if isinstance(max_iter, bool) or not isinstance(max_iter, int):
        raise TypeError(f"max_iter must be a concrete Python int >= 0, got {max_iter!r}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    if not isinstance(record_path, bool):
        raise TypeError(f"record_path must be True or False, got {record_path!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function callback(iteration, f, grad_norm) or None, "
                        f"got {type(callback).__name__}")
    if not callable(fun):
        raise TypeError(f"fun must be a function of x0 returning a scalar, got {type(fun).__name__}")
    check_float_pytree(x0, "x0")
    check_scalar_fn(fun, x0, "fun")
    static = tuple((k, v) for k, v in opts.items() if spec.options[k].static)
    dynamic = {k: v for k, v in opts.items() if not spec.options[k].static}
    return _solve(x0, gtol, dynamic, fun=fun, method=method, max_iter=int(max_iter),
                  record_path=record_path, callback=callback, static=static)


@functools.partial(
    jax.jit, static_argnames=("fun", "method", "max_iter", "record_path", "callback", "static")
)
def _solve(x0, gtol, dynamic, *, fun, method, max_iter, record_path, callback, static):
    spec = get_method(method)
    opts = {**dict(static), **dynamic}
    z0, unravel = ravel_pytree(x0)
    objective = make_objective(fun, unravel)
    it, _, nit, status, gnorm, trace = _run(
        spec, objective, z0, gtol, max_iter, opts, record_path, callback
    )
    return OptimizeResult(
        x=unravel(it.x), fun=it.f, grad_norm=gnorm, nit=nit, nfev=it.nfev, ngev=it.ngev,
        nhvp=it.nhvp, status=status, success=status == st.CONVERGED, trace=trace,
    )


def _inf_norm(g):
    return jnp.max(jnp.abs(g)) if g.size else jnp.zeros((), g.dtype)


def _status(gnorm, finite, stalled, nit, gtol, max_iter):
    """The stopping tests of the module docstring, in their order of precedence."""
    return jnp.select(
        [finite & (gnorm <= gtol), ~finite, stalled, nit >= max_iter],
        [st.CONVERGED, st.NONFINITE, st.NO_PROGRESS, st.MAX_ITER],
        st.RUNNING,
    ).astype(jnp.int32)


def _record(trace: Trace, k, it: Iterate, gnorm) -> Trace:
    dtype = trace.f.dtype
    entries = dict(f=it.f, grad_norm=gnorm, nfev=it.nfev, ngev=it.ngev, nhvp=it.nhvp)
    out = {name: getattr(trace, name).at[k].set(jnp.asarray(v, dtype)) for name, v in entries.items()}
    x = None if trace.x is None else trace.x.at[k].set(it.x)
    return Trace(**out, x=x)


def _run(spec: Method, objective, z0, gtol, max_iter, opts, record_path, callback):
    dtype = z0.dtype
    f0, g0 = objective.value_and_grad(z0)
    one = jnp.ones((), jnp.int32)
    it0 = Iterate(z0, f0, g0, one, one, 0 * one, jnp.zeros((), bool))
    state0 = spec.init(z0, opts)
    gnorm0 = _inf_norm(g0)
    finite0 = jnp.isfinite(f0) & jnp.isfinite(gnorm0)
    status0 = jnp.where(finite0, _status(gnorm0, finite0, False, 0, gtol, max_iter),
                        st.NONFINITE_START).astype(jnp.int32)
    nan = jnp.full((max_iter + 1,), jnp.nan, dtype)
    trace0 = Trace(nan, nan, nan, nan, nan,
                   jnp.full((max_iter + 1, z0.size), jnp.nan, dtype) if record_path else None)
    trace0 = _record(trace0, 0, it0, gnorm0)
    if callback is not None:
        jax.debug.callback(callback, 0, f0, gnorm0)

    def cond(carry):
        return carry[3] == st.RUNNING

    def body(carry):
        it, state, k, _, gnorm_old, trace = carry
        new, state = spec.step(objective, it, state, opts)
        k = k + 1
        gnorm = _inf_norm(new.g)
        finite = jnp.isfinite(new.f) & jnp.isfinite(gnorm)
        # A non-finite point is never returned: keep the previous one, with the new counts.
        kept = it._replace(nfev=new.nfev, ngev=new.ngev, nhvp=new.nhvp)
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), new, kept)
        gnorm = jnp.where(finite, gnorm, gnorm_old)
        status = _status(gnorm, finite, new.stalled, k, gtol, max_iter)
        trace = _record(trace, k, new, gnorm)
        if callback is not None:
            jax.debug.callback(callback, k, new.f, gnorm)
        return new, state, k, status, gnorm, trace

    carry = (it0, state0, jnp.zeros((), jnp.int32), status0, gnorm0, trace0)
    return lax.while_loop(cond, body, carry)

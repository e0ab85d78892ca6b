"""The driver: ``minimize`` runs any registered method inside one ``lax.while_loop``.

Stopping tests, checked after every iteration and once at x0 (in this order):
``grad_norm <= gtol`` (infinity norm; ``gtol * max(1, |f|)`` with ``relative_gtol``) ->
CONVERGED; f or g not finite -> NONFINITE (the previous point is kept); with ``ftol > 0`` a
step that decreased f by at most ``ftol * max(1, |f|)`` -> FTOL; with ``xtol > 0`` a step
with ``||dx||_inf <= xtol * max(1, ||x||_inf)`` -> XTOL; the step stalled -> NO_PROGRESS;
``max_iter`` reached -> MAX_ITER. FTOL and XTOL count as success.
Status codes: :mod:`optimizers._status`.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from optimizers import _memory as memory
from optimizers import _status as st
from optimizers._callback import check_callback, host_callback, running_eagerly
from optimizers._implicit import implicit_options, solution_with_implicit_gradient, value_at_solution
from optimizers._loops import while_loop
from optimizers._method import Iterate, Method
from optimizers._objective import make_objective
from optimizers._options import real, resolve
from optimizers._problem import bind_options, check_problem, close_over, split_aux
from optimizers._ravel import flattener, layout_of, placed, ravel, standard_order
from optimizers._registry import get_method
from optimizers._result import OptimizeResult, Trace

__all__ = ["check_memory", "estimate_memory", "minimize"]

_GTOL = real(1e-6, "gradient tolerance", 0.0)
_STEP_TOL = real(0.0, "relative tolerance of a stopping test (0: off)", 0.0, lo_closed=True)
_MAX_ITER = 2**31 - 2  # the iteration counter is int32


def check_call(method, options, tolerances: dict, relative_gtol, max_iter, record_path, batch=None):
    """The checks ``minimize`` runs on its arguments before compiling: ``(spec, options with
    defaults, tolerances)``. ``batch``: a number of starts, whose tolerances may also be
    vectors of that length (one per start)."""
    spec = get_method(method)
    opts = resolve(spec, options)
    tols = {}
    for name, value in tolerances.items():
        check = _GTOL if name == "gtol" else _STEP_TOL
        try:
            if batch is not None and jnp.ndim(value) == 1:
                if jnp.shape(value) != (batch,):
                    raise ValueError(f"a vector of tolerances needs one per start ({batch}), got shape "
                                     f"{jnp.shape(value)}")
                if not isinstance(value, jax.core.Tracer):
                    for v in np.asarray(value).tolist():
                        check.check(v)
                tols[name] = value
            else:
                tols[name] = check.check(value)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{name}: {err}") from None
    if not isinstance(relative_gtol, bool):
        raise TypeError(f"relative_gtol must be True or False, got {relative_gtol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int):
        raise TypeError(f"max_iter must be a concrete Python int >= 0, got {max_iter!r}")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    if max_iter > _MAX_ITER:
        raise ValueError(f"max_iter must be <= 2**31 - 2 = {_MAX_ITER} (the iteration counter "
                         f"is int32), got {max_iter}")
    if not isinstance(record_path, bool):
        raise TypeError(f"record_path must be True or False, got {record_path!r}")
    return spec, opts, tols


def check_size(spec, opts, n, dtype, max_iter, record_path, batch, caller) -> None:
    """A dense method past its largest n, or a run that cannot fit in memory: ValueError."""
    if spec.max_dim is not None and n > spec.max_dim:
        raise ValueError(f"method {spec.name!r} holds a dense {n} x {n} matrix and is for n <= {spec.max_dim}; "
                         f"x0 has n = {n}: use a matrix-free method (newton-cg, trust-ncg, trust-krylov, lbfgs)")
    memory.check(memory.estimate(spec, opts, n, dtype, int(max_iter), record_path, batch),
                 f"{caller}(method={spec.name!r})")


def minimize(
    fun: Callable,
    x0,
    method="newton-cg",
    *,
    args: tuple = (),
    has_aux: bool = False,
    gtol=1e-6,
    max_iter: int = 1000,
    ftol=0.0,
    xtol=0.0,
    relative_gtol: bool = False,
    record_path: bool = False,
    callback: Callable | None = None,
    implicit_diff=True,
    **options,
) -> OptimizeResult:
    """Minimize the scalar ``fun(x, *args)`` over x from ``x0`` with a registered method.

    x0 is any pytree of float arrays (an array, not a Python list of numbers); it is raveled
    once (``ravel_pytree``) and the method runs on flat vectors inside one
    ``lax.while_loop``. Stops when ``||g||_inf <= gtol`` (success), after ``max_iter``
    iterations, when no further decrease is possible, or when f or g become non-finite;
    ``result.status`` says which (``optimizers.STATUS_MESSAGES``). A minimizer as x0
    returns ``nit == 0`` and success; a non-finite f(x0) or g(x0) returns status 3 rather
    than raising.

    method: a name from ``method_names()`` or a :class:`~optimizers.Method` record (e.g.
    ``optimizers.compose(...)``); options: that method's options (``method_options(method)``).

    args: a tuple of the extra arguments of ``fun`` (each any pytree of arrays: data,
    targets, hyperparameters). They are traced like x0, so a second call with new data of
    the same shapes and dtypes reuses the compiled loop; function options (``model_fn``,
    ``loss_fn``, ``residual``, ``per_example_grads``) are then called with the same args
    after their first argument. Eager calls compile once per (fun, method, max_iter, static
    options, shapes and dtypes of x0 and args): the cache is keyed on the function OBJECT,
    so a fresh ``lambda`` (or ``functools.partial``) built on every call compiles again
    every time. Define fun once and pass the data through ``args``.
    has_aux: ``fun`` returns ``(value, aux)``, aux any pytree; ``result.aux`` is aux at the
    returned x (one more evaluation of fun there, counted in ``nfev``). Without it
    ``result.aux`` is None.

    Stopping tests besides ``||g||_inf <= gtol`` (status CONVERGED): ``relative_gtol=True``
    compares with ``gtol * max(1, |f|)`` instead, for objectives whose scale makes an
    absolute gradient test unreachable at the floor of rounding; ``ftol > 0`` stops (status
    FTOL, a success) after a step that decreased f by at most ``ftol * max(1, |f|)``;
    ``xtol > 0`` stops (status XTOL, a success) after a step with
    ``||dx||_inf <= xtol * max(1, ||x||_inf)``. Both are off by default: they stop early on
    slow but steady progress, so use them when f is known to be flat at the minimum.
    record_path: also keep the flat iterates in
    ``result.trace.x``, shape (max_iter + 1, n). callback: a host function called through
    ``jax.debug.callback`` at x0 (iteration 0) and after each iteration, either
    ``callback(info)`` with an :class:`optimizers.CallbackInfo` ``(iteration, f, grad_norm,
    x)``, x the current point as a pytree like x0, or (a function that can take three
    positional arguments) ``callback(iteration, f, grad_norm)``, which does not send x to
    the host. It synchronizes with the host each time, and under vmap receives batched
    arrays. If it raises, the run finishes without calling it
    again and minimize re-raises that exception; under jit or vmap the exception cannot be
    re-raised and ends up as the last line of a ``JaxRuntimeError`` naming the callback.

    Derivatives through the solution: ``jax.grad``, ``jax.jacrev``, ``jax.jvp`` (any order,
    under jit and vmap) of a function of ``result.x`` or ``result.fun`` with respect to
    ``args`` follow the implicit function theorem at the returned point: dx*/dargs =
    -H^{-1} d/dargs grad f(x*, args), one conjugate-gradient solve on Hessian-vector
    products per tangent or cotangent (matrix-free; the loop itself is never
    differentiated). It assumes x* is a strict local minimum (H positive definite there).
    Where the run did not succeed the derivatives are NaN; where CG does not reach its
    tolerance (H singular with the right-hand side outside its range, H indefinite: a
    saddle, or the CG cap hit) that direction's derivative is NaN; derivatives with respect
    to x0 and the tolerances are zero. ``implicit_diff``: True (default; CG tolerance
    eps**(2/3) of x's dtype, at most 10 n products), a dict ``{"tol": ..., "max_iter": ...}``,
    or False: then differentiating through the solution raises a ValueError. Eager calls
    that are not being differentiated skip all of this; a traced call evaluates fun once
    more at the solution (for a differentiable ``result.fun``, whose derivative is the
    partial derivative in args, the envelope theorem).

    jit and vmap: ``jax.vmap(functools.partial(minimize, fun, method="lbfgs"))(x0s)`` solves
    many starts in one call. Under ``jax.jit`` pass ``fun``, ``method``, ``has_aux``,
    ``max_iter``, ``record_path``, ``callback`` and the integer/bool/function options as
    static (or close over them with ``functools.partial``); ``args``, float options and
    gtol may be traced. The compiled loop is cached as said under ``args``.

    Raises ValueError/TypeError before compiling on: an unknown method or option, a
    wrong-typed or out-of-range option (or c1 >= c2), gtol <= 0, max_iter < 0 (or past
    the int32 counter), an integer x0, a Python list of numbers as x0, an x0 with no
    elements, ``args`` not a tuple of arrays, a ``fun`` that cannot take ``(x, *args)`` (a
    TypeError raised while tracing it with args names args), a ``fun`` that does not return
    a float scalar (with has_aux: a pair (scalar, aux); without: a tuple is refused), a
    callback that takes neither 3 arguments nor 1, and a run whose
    trace buffer, method state and step workspace cannot fit in the device's memory
    (:func:`optimizers.check_memory`; the message gives the bytes of each part).
    """
    spec, opts, tols = check_call(method, options, dict(gtol=gtol, ftol=ftol, xtol=xtol), relative_gtol,
                                  max_iter, record_path)
    check_callback(callback)
    implicit_options(implicit_diff)
    check_problem(fun, x0, args, has_aux)
    leaves = jax.tree_util.tree_leaves(x0)
    n = sum(int(np.prod(jnp.shape(leaf))) for leaf in leaves)
    dtype = jnp.result_type(*leaves)
    check_size(spec, opts, n, dtype, max_iter, record_path, 1, "minimize")
    static = tuple((k, v) for k, v in opts.items() if spec.options[k].static)
    dynamic = {k: v for k, v in opts.items() if not spec.options[k].static}
    eager = running_eagerly(x0, args, tols, dynamic)
    host = None if callback is None else host_callback(callback, eager)
    if host is not None:
        host.pop_error()  # a run interrupted earlier must not silence this one
    # the loop's inputs carry no tangents: JAX never linearizes the while_loop (reverse mode
    # through it fails, forward mode would differentiate every iteration for nothing)
    result = _solve(*lax.stop_gradient((x0, args, tols, dynamic)), fun=fun, has_aux=has_aux, method=spec,
                    max_iter=int(max_iter), relative_gtol=relative_gtol, record_path=record_path,
                    callback=host, static=static, layout=layout_of(x0))
    if host is not None and eager:
        jax.effects_barrier()
        err = host.pop_error()
        if err is not None:
            raise err
    if eager:  # concrete inputs: nothing can differentiate the result
        return result
    x = solution_with_implicit_gradient(fun, args, result.x, result.success, implicit_diff, has_aux=has_aux)
    return result._replace(x=x, fun=value_at_solution(fun, x, args, result.fun, has_aux=has_aux))


@functools.partial(
    jax.jit,
    static_argnames=("fun", "has_aux", "method", "max_iter", "relative_gtol", "record_path", "callback", "static",
                     "layout"),
)
def _solve(x0, args, tols, dynamic, *, fun, has_aux, method, max_iter, relative_gtol, record_path, callback,
           static, layout):
    # args are traced here and closed over: the methods (and their function options) see
    # functions of x alone
    opts = bind_options({**dict(static), **dynamic}, {k for k, _ in static}, args)
    z0, unravel = ravel(x0, layout)  # split parameters stay split (optimizers/_ravel.py)
    objective = make_objective(close_over(fun, args, has_aux), unravel, ravel=flattener(layout))
    stop = _Stopping(tols["gtol"], tols["ftol"], tols["xtol"], relative_gtol, max_iter)
    end = _run(method, objective, z0, stop, opts, record_path, callback)
    it, trace = end.it, _unpack(end.trace, record_path)
    if layout is not None and record_path:  # the path in ravel_pytree order, as documented
        trace = trace._replace(x=standard_order(trace.x, unravel))
    x, nfev, aux = placed(unravel(it.x), layout), it.nfev, None
    if has_aux:  # one more evaluation, at the returned point
        aux = split_aux(fun(x, *args), True, "fun")[1]
        nfev = nfev + 1
    return OptimizeResult(
        x=x, fun=it.f, grad_norm=end.gnorm, nit=end.k, nfev=nfev, ngev=it.ngev,
        nhvp=it.nhvp, status=end.status, success=st.is_success(end.status), trace=trace,
        grad=placed(unravel(it.g), layout), aux=aux,
    )


def _inf_norm(g):
    return jnp.max(jnp.abs(g)) if g.size else jnp.zeros((), g.dtype)


class _Stopping(NamedTuple):
    """The stopping tests' parameters (gtol, ftol, xtol may be traced)."""

    gtol: jax.Array
    ftol: jax.Array
    xtol: jax.Array
    relative_gtol: bool
    max_iter: int


def _status(stop: _Stopping, old: Iterate, new: Iterate, gnorm, finite, nit):
    """The stopping tests of the module docstring, in their order of precedence."""
    bound = stop.gtol * jnp.maximum(1, jnp.abs(new.f)) if stop.relative_gtol else stop.gtol
    moved = jnp.any(new.x != old.x)
    f_small = moved & (old.f - new.f <= stop.ftol * jnp.maximum(1, jnp.abs(old.f)))
    x_small = moved & (_inf_norm(new.x - old.x) <= stop.xtol * jnp.maximum(1, _inf_norm(old.x)))
    out = jnp.where(nit >= stop.max_iter, st.MAX_ITER, st.RUNNING)
    out = jnp.where(new.stalled, st.NO_PROGRESS, out)
    out = jnp.where((stop.xtol > 0) & x_small, st.XTOL, out)
    out = jnp.where((stop.ftol > 0) & f_small, st.FTOL, out)
    out = jnp.where(finite, out, st.NONFINITE)
    return jnp.where(finite & (gnorm <= bound), st.CONVERGED, out).astype(jnp.int32)


class _Carry(NamedTuple):
    """The driver loop's state: the iterate, the method's state, the iteration count, the
    status (RUNNING while going on), the gradient norm and the trace buffer."""

    it: Iterate
    state: Any
    k: jax.Array
    status: jax.Array
    gnorm: jax.Array
    trace: jax.Array


def _row(it: Iterate, gnorm):
    """One trace row: f, grad_norm, nfev, ngev, nhvp (then x when the path is recorded)."""
    dtype = it.x.dtype
    head = jnp.stack([it.f.astype(dtype), gnorm.astype(dtype), it.nfev.astype(dtype),
                      it.ngev.astype(dtype), it.nhvp.astype(dtype)])
    return head


def _unpack(buffer, record_path) -> Trace:
    cols = [buffer[:, i] for i in range(5)]
    return Trace(*cols, x=buffer[:, 5:] if record_path else None)


def _first(spec: Method, objective, z0, stop: _Stopping, opts, record_path):
    """The loop's state at x0 (``trace`` left None) and the trace's row 0."""
    f0, g0 = objective.value_and_grad(z0)
    one = jnp.ones((), jnp.int32)
    it0 = Iterate(z0, f0, g0, one, one, 0 * one, jnp.zeros((), bool))
    state0 = spec.init(z0, opts)
    gnorm0 = _inf_norm(g0)
    finite0 = jnp.isfinite(f0) & jnp.isfinite(gnorm0)
    status0 = jnp.where(finite0, _status(stop, it0, it0, gnorm0, finite0, 0),
                        st.NONFINITE_START).astype(jnp.int32)
    carry0 = _Carry(it0, state0, jnp.zeros((), jnp.int32), status0, gnorm0, None)
    return carry0, _trace_row(it0, gnorm0, record_path)


def _trace_row(it: Iterate, gnorm, record_path):
    head = _row(it, gnorm)
    return jnp.concatenate([head, it.x]) if record_path else head


def _advance(spec: Method, objective, c: _Carry, stop: _Stopping, opts, record_path):
    """One iteration from the state ``c`` (its ``trace`` untouched): the new state and the
    trace row of the new iterate (to be written at row ``new.k``)."""
    it = c.it
    new, state = spec.step(objective, it, c.state, opts)
    k = c.k + 1
    gnorm = _inf_norm(new.g)
    finite = jnp.isfinite(new.f) & jnp.isfinite(gnorm)
    # A non-finite point is never returned: keep the previous one (with the new counts).
    new = new._replace(x=jnp.where(finite, new.x, it.x), f=jnp.where(finite, new.f, it.f),
                       g=jnp.where(finite, new.g, it.g))
    gnorm = jnp.where(finite, gnorm, c.gnorm)
    status = _status(stop, it, new, gnorm, finite, k)
    return c._replace(it=new, state=state, k=k, status=status, gnorm=gnorm), _trace_row(new, gnorm, record_path)


def _run(spec: Method, objective, z0, stop: _Stopping, opts, record_path, callback) -> _Carry:
    carry0, first = _first(spec, objective, z0, stop, opts, record_path)
    # The trace: one (max_iter + 1, 5 [+ n]) buffer, a row written per iteration.
    trace0 = jnp.full((stop.max_iter + 1, first.size), jnp.nan, z0.dtype).at[0].set(first)

    def report(k, it, gnorm):
        if callback is not None:
            x = (objective.unravel(it.x),) if callback.wants_x else ()
            jax.debug.callback(callback, k, it.f, gnorm, *x)

    report(0, carry0.it, carry0.gnorm)

    def cond(c: _Carry):
        return c.status == st.RUNNING

    def body(c: _Carry) -> _Carry:
        new, row = _advance(spec, objective, c, stop, opts, record_path)
        report(new.k, new.it, new.gnorm)
        return new._replace(trace=lax.dynamic_update_index_in_dim(c.trace, row, new.k, axis=0))

    return while_loop(cond, body, carry0._replace(trace=trace0))


def estimate_memory(method, n: int, dtype="float64", *, max_iter: int = 1000,
                    record_path: bool = False, batch: int = 1, **options) -> memory.MemoryEstimate:
    """What ``batch`` runs of ``minimize(method=..., max_iter=..., record_path=...,
    **options)`` on ``n`` parameters of ``dtype`` need at least (module docstring)."""
    n, max_iter, batch = memory.checked_ints(n, max_iter, batch)
    spec = get_method(method)
    return memory.estimate(spec, resolve(spec, options), n, dtype, max_iter, record_path, batch)


def check_memory(method, n: int, dtype="float64", *, max_iter: int = 1000,
                 record_path: bool = False, batch: int = 1, device=None, **options) -> memory.MemoryEstimate:
    """:func:`estimate_memory`, raising ValueError (with the bytes per part) when it is more
    than :func:`available_memory` of ``device``; returns the estimate otherwise."""
    est = estimate_memory(method, n, dtype, max_iter=max_iter, record_path=record_path,
                          batch=batch, **options)
    return memory.check(est, f"minimize(method={method!r})", device)

"""Gradients through a solution: implicit differentiation at a minimizer.

At a solution x*(theta) of min_x f(x, theta), grad_x f(x*, theta) = 0 for all theta near
by, so (implicit function theorem)

    dx*/dtheta = -H^{-1} d_theta grad_x f(x*, theta),    H = Hess_xx f(x*, theta).

:func:`attach_implicit_gradient` returns the solver's x* unchanged in value, with these
derivatives w.r.t. ``args`` (theta) attached through a ``jax.custom_jvp``. The tangent rule
is one Jacobian-vector product of ``grad_x f`` in theta and one conjugate-gradient solve
with H, matrix-free (Hessian-vector products from one ``jax.linearize`` of ``grad_x f``),
wrapped in ``lax.custom_linear_solve`` with ``symmetric=True``: the solve is transposable,
so the one rule serves ``jax.jvp``/``jacfwd`` (a solve per tangent) and ``jax.grad``/
``jacrev`` (a solve per cotangent) alike. The solver's own iterations are never
differentiated (x* is ``stop_gradient``-ed): x* gets zero derivative w.r.t. everything
else (x0, tolerances), as the theorem says it should. The rule is itself differentiable
(its x* is the attached one, its solve differentiable in H and b), so second derivatives
(``jax.hessian`` of a function of x w.r.t. args) follow the theorem too, at one more solve
per direction.

What it assumes, and what it returns otherwise:

- x* is a strict local minimum where H is positive definite; CG from 0 must reach
  ``||H u + b|| <= tol ||b||`` within ``max_iter`` Hessian-vector products.
- Every derivative is NaN when ``converged`` is false (the run did not succeed): a
  derivative of a point that is not a minimizer is not the derivative of the solution.
- NaN as well, per direction, when CG stops without reaching ``tol``: H indefinite, or
  singular with the right-hand side outside its range (CG meets a direction with
  ``p.Hp <= eps ||p|| ||Hp||``), or ``max_iter`` reached. A demanding caller checks
  ``jnp.isfinite`` of the derivative; with ``success`` true, NaN means the curvature test or
  the cap (raise ``max_iter`` or ``tol``).
- H positive semidefinite and singular (a valley of minimizers, not a point): the system
  solved is H u = -b in forward mode (b = d_theta grad_x f along the tangent) and H w = c in
  reverse mode (c the cotangent of x). Where that right-hand side lies in range(H), CG from
  0 stays in range(H) and returns the minimum-norm solution, finite: the derivative of the
  solution's minimum-norm selection, H^+ (-b). Where it has a component in the null space,
  CG meets a direction of zero curvature and the result is NaN. So a valley that theta
  shifts along its own floor gives finite ``jvp`` tangents, while ``grad`` of a function
  that weighs x along the valley (a cotangent outside range(H)) is NaN: the theorem
  defines no derivative there.

Objective values recomputed from the returned x, e.g. ``fun(x, *args)``, differentiate by
the chain rule; at a minimizer that is the envelope theorem (d f(x*, theta) = d_theta f,
since grad_x f = 0), NaN like x's when the run did not succeed.

Least squares (:func:`attach_implicit_gradient_least_squares`): f = ||r(x, theta)||^2 / 2.
The default H is the exact Hessian of that cost, J^T J + sum_i r_i Hess r_i: the exact
theorem for any residual. ``gauss_newton=True`` uses J^T J instead (one JVP and one VJP of
r per product, no second derivatives of r); it is exact only where the second term
vanishes: residuals zero at x*, or r linear in x. The right-hand side is exact either way.

The wiring in ``minimize`` and ``least_squares`` is :func:`solution_with_implicit_gradient`;
its docstring gives the lines they call.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from curvature._validate import check_int, check_real
from optimizers._krylov import CONVERGED, truncated_cg

__all__ = [
    "ImplicitDiff",
    "attach_implicit_gradient",
    "attach_implicit_gradient_least_squares",
    "default_tol",
    "implicit_options",
    "solution_with_implicit_gradient",
    "value_at_solution",
    "without_implicit_gradient",
]

_HESSIANS = ("exact", "gauss-newton")
_KEYS = ("tol", "max_iter", "hessian")


class ImplicitDiff(NamedTuple):
    """The checked ``implicit_diff`` option: CG tolerance and cap (None: the defaults of
    :func:`attach_implicit_gradient`) and, for least squares, the Hessian used."""

    tol: float | None = None
    max_iter: int | None = None
    hessian: str = "exact"


def implicit_options(value, *, least_squares: bool = False) -> ImplicitDiff | None:
    """Check the ``implicit_diff`` option of minimize / least_squares.

    ``True``: implicit gradients with the default CG settings. ``False``: none; any
    derivative through the solution then raises (:func:`without_implicit_gradient`). A dict
    with keys from ``tol`` (float > 0, the relative residual CG must reach), ``max_iter``
    (int >= 1, Hessian-vector products per solve) and, for least squares only, ``hessian``
    (``"exact"``, the default, or ``"gauss-newton"``). Returns None for ``False``.
    """
    if isinstance(value, bool):
        return ImplicitDiff() if value else None
    if not isinstance(value, dict):
        raise TypeError(f"implicit_diff must be True, False or a dict of {list(_KEYS)}, got {value!r}")
    keys = _KEYS if least_squares else _KEYS[:2]
    unknown = sorted(set(value) - set(keys), key=str)
    if unknown:
        raise ValueError(f"implicit_diff: unknown key(s) {unknown}; expected some of {list(keys)}")
    tol, max_iter = value.get("tol"), value.get("max_iter")
    if tol is not None:
        tol = check_real(tol, "implicit_diff['tol']", 0, open_low=True, traced=False,
                         what="the relative residual the CG solve must reach")
    if max_iter is not None:
        max_iter = check_int(max_iter, "implicit_diff['max_iter']", 1)
    hessian = value.get("hessian", "exact")
    if hessian not in _HESSIANS:
        raise ValueError(f"implicit_diff['hessian'] must be one of {_HESSIANS}, got {hessian!r}")
    return ImplicitDiff(tol, max_iter, hessian)


def default_tol(dtype) -> float:
    """eps ** (2/3) of ``dtype``: about 4e-11 in float64, 5e-6 in float32. Tight enough that
    the derivative's relative error, about cond(H) * tol, stays small for moderate
    conditioning, and loose enough that CG's recursive residual reaches it."""
    return float(jnp.finfo(dtype).eps) ** (2.0 / 3.0)


def _cg_solve(matvec, b, *, tol, max_iter, converged):
    """CG from 0 on H u = b; NaN where the run did not converge or CG did not reach tol."""
    res = truncated_cg(matvec, b, rtol=tol, max_iter=max_iter)
    ok = converged & (res.status == CONVERGED)
    return jnp.where(ok, res.x, jnp.nan)


def _exact_hessian(grad_fn):
    """H v at (z, args) by one linearization of grad_fn(., args): the primal gradient is
    computed once, each product is one tangent pass (curvature.hvp redoes both)."""

    def at(z, args):
        return jax.linearize(lambda y: grad_fn(y, args), z)[1]

    return at


def _check_args(args):
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of the extra arguments of fun (fun(x, *args)), got "
                        f"{type(args).__name__}; write (a,) for a single one")


def _attach(grad_fn, curvature_at, x_star, args, converged, tol, max_iter):
    """x_star with dx/dargs = -H^{-1} d_args grad_fn, H the operator ``curvature_at(z, args)``.

    grad_fn(z, args): grad_x f on the flat z. tol, max_iter: Python numbers (None: defaults).
    """
    z_star, unravel = ravel_pytree(x_star)
    if not jnp.issubdtype(z_star.dtype, jnp.floating):
        raise TypeError(f"x_star must hold floating-point arrays, got dtype {z_star.dtype}")
    tol = default_tol(z_star.dtype) if tol is None else check_real(
        tol, "tol", 0, open_low=True, traced=False, what="the relative residual of the CG solve")
    max_iter = 10 * z_star.size if max_iter is None else check_int(max_iter, "max_iter", 1)
    converged = jnp.asarray(converged)
    if converged.shape != () or converged.dtype != jnp.bool_:
        raise TypeError(f"converged must be a boolean scalar (result.success), got shape "
                        f"{converged.shape} dtype {converged.dtype}")

    @jax.custom_jvp
    def solution(z, args, converged):
        return z

    @solution.defjvp
    def solution_jvp(primals, tangents):
        z, args, converged = primals
        _, dargs, _ = tangents
        # The rule's x* (its primal output, and the point of b and H) goes through `solution`
        # again: a derivative of this rule (second order: jax.hessian) then sees x* move
        # with args too, instead of taking it for a constant.
        x = solution(z, args, converged)
        # b = d_args grad_x f(x, args)[dargs]; the tangent u solves H u = -b.
        b = jax.jvp(lambda a: grad_fn(x, a), (args,), (dargs,))[1]
        matvec = curvature_at(x, args)

        def solve(mv, rhs):
            return _cg_solve(mv, rhs, tol=tol, max_iter=max_iter, converged=converged)

        u = lax.custom_linear_solve(matvec, -b, solve, symmetric=True)
        return x, u

    z = solution(lax.stop_gradient(z_star), args, lax.stop_gradient(converged))
    return unravel(z)


def attach_implicit_gradient(fun: Callable, x_star, args: tuple = (), *, converged=True, tol=None,
                             max_iter=None, has_aux: bool = False):
    """``x_star`` (a minimizer of ``fun(x, *args)``) with derivatives w.r.t. ``args`` by the
    implicit function theorem (module docstring: assumptions, NaN cases).

    fun(x, *args) -> float scalar, or (scalar, aux) with ``has_aux``. x_star: a pytree of
    float arrays, the solver's output; its value is returned unchanged and its own
    derivatives are dropped. args: a tuple of pytrees (arrays, dicts...); derivatives w.r.t.
    any of their float leaves work in forward (``jax.jvp``, ``jacfwd``) and reverse mode
    (``jax.grad``, ``jacrev``), under ``jit`` and ``vmap``. converged: a boolean scalar, the
    run's ``success``; False makes every derivative NaN. tol: the relative residual each CG
    solve must reach (None: :func:`default_tol` of x's dtype). max_iter: Hessian-vector
    products per solve (None: 10 n). Each derivative direction costs one solve: a JVP of
    ``grad_x f`` in args, then CG iterations of one Hessian-vector product each.
    """
    _check_args(args)
    if not callable(fun):
        raise TypeError(f"fun must be a function fun(x, *args), got {type(fun).__name__}")
    _, unravel = ravel_pytree(x_star)

    def value(z, a):
        out = fun(unravel(z), *a)
        return jnp.reshape(out[0] if has_aux else out, ())

    grad_fn = jax.grad(value)
    return _attach(grad_fn, _exact_hessian(grad_fn), x_star, args, converged, tol, max_iter)


def attach_implicit_gradient_least_squares(residual: Callable, x_star, args: tuple = (), *,
                                           converged=True, tol=None, max_iter=None,
                                           gauss_newton: bool = False):
    """:func:`attach_implicit_gradient` for cost(x) = ||residual(x, *args)||^2 / 2.

    H is the exact Hessian of the cost by default; ``gauss_newton=True`` uses J^T J (exact
    only for zero residuals at x* or residuals linear in x; module docstring).
    """
    _check_args(args)
    if not callable(residual):
        raise TypeError(f"residual must be a function residual(x, *args), got {type(residual).__name__}")
    _, unravel = ravel_pytree(x_star)

    def flat_residual(z, a):
        return ravel_pytree(residual(unravel(z), *a))[0]

    def cost(z, a):
        r = flat_residual(z, a)
        return 0.5 * jnp.vdot(r, r)

    grad_fn = jax.grad(cost)
    if not gauss_newton:
        return _attach(grad_fn, _exact_hessian(grad_fn), x_star, args, converged, tol, max_iter)

    def gauss_newton_at(z, a):
        _, jvp = jax.linearize(lambda y: flat_residual(y, a), z)
        vjp = jax.linear_transpose(jvp, z)
        return lambda v: vjp(jvp(v))[0]

    return _attach(grad_fn, gauss_newton_at, x_star, args, converged, tol, max_iter)


def without_implicit_gradient(x, args: tuple = ()):
    """``x`` unchanged, for ``implicit_diff=False``: differentiating it w.r.t. ``args`` (or
    through x itself) raises a ValueError that says so, when JAX traces the derivative,
    instead of JAX's error about loops or a silent zero."""

    @jax.custom_jvp
    def solution(x, args):
        return x

    @solution.defjvp
    def solution_jvp(primals, tangents):
        raise ValueError(
            "derivatives through the solution are off (implicit_diff=False): the solver's loop "
            "is not differentiated. Pass implicit_diff=True (or a dict of CG settings) for "
            "derivatives w.r.t. args by the implicit function theorem.")

    return solution(x, args)


def solution_with_implicit_gradient(fun: Callable, args: tuple, x_raw, success, implicit_diff=True, *,
                                    has_aux: bool = False, least_squares: bool = False):
    """The one call ``minimize`` / ``least_squares`` make: ``x_raw`` (the loop's solution,
    computed from stop_gradient-ed inputs) with the derivatives ``implicit_diff`` asks for.

    ``fun`` is the objective fun(x, *args), or with ``least_squares=True`` the residual
    residual(x, *args). ``success``: the run's success flag. ``implicit_diff``: as
    :func:`implicit_options`.

    In ``minimize`` (after ``args`` and ``has_aux`` exist there), around the ``_solve`` call::

        implicit_options(implicit_diff)  # check before compiling: raises on a bad value
        x0_in, args_in, tols_in, dynamic_in = lax.stop_gradient((x0, args, tols, dynamic))
        result = _solve(x0_in, args_in, tols_in, dynamic_in, fun=fun, ...)  # as today
        x = solution_with_implicit_gradient(fun, args, result.x, result.success,
                                            implicit_diff, has_aux=has_aux)
        fun_value = value_at_solution(fun, x, args, result.fun, has_aux=has_aux)
        result = result._replace(x=x, fun=fun_value)

    The loop's inputs are stop_gradient-ed so JAX never linearizes the while_loop (reverse
    mode through it fails; forward mode would differentiate the iterations for nothing).
    :func:`value_at_solution` makes ``result.fun`` differentiable (envelope theorem) without
    evaluating fun again unless a derivative is taken; each derivative of it costs one CG
    solve.

    In ``least_squares``, which already recomputes the residual at the returned x::

        implicit_options(implicit_diff, least_squares=True)
        res = minimize(cost, x0, spec, ..., args=lax.stop_gradient(args), implicit_diff=False,
                       **options)
        x = solution_with_implicit_gradient(residual, args, res.x, res.success, implicit_diff,
                                            least_squares=True)
        r = residual(x, *args)   # then cost and fun from r, as today, and x in the result

    (minimize's own attachment is off there; its inputs carry no tangents, so it never raises.)
    """
    opts = implicit_options(implicit_diff, least_squares=least_squares)
    if opts is None:
        return without_implicit_gradient(x_raw, args)
    if least_squares:
        return attach_implicit_gradient_least_squares(
            fun, x_raw, args, converged=success, tol=opts.tol, max_iter=opts.max_iter,
            gauss_newton=opts.hessian == "gauss-newton")
    return attach_implicit_gradient(fun, x_raw, args, converged=success, tol=opts.tol,
                                    max_iter=opts.max_iter, has_aux=has_aux)


def value_at_solution(fun: Callable, x, args: tuple, f_loop, *, has_aux: bool = False):
    """``f_loop`` (the loop's value at x, already computed) as the value of fun(x, *args),
    differentiable in ``x`` and ``args`` by the chain rule (the envelope theorem at a
    minimizer whose x carries :func:`attach_implicit_gradient`'s derivatives).

    Nothing is evaluated unless a derivative is asked for: a plain (jitted) call costs no
    evaluation of fun beyond the solver's own, so ``nfev`` stays the count of true calls.
    A derivative evaluates fun once more (its JVP at x), the primal included, so higher
    derivatives differentiate a real evaluation.
    """

    def value(z, a):
        out = fun(z, *a)
        return jnp.reshape(out[0] if has_aux else out, ()).astype(jnp.result_type(f_loop))

    @jax.custom_jvp
    def at(z, a, f):
        return f

    @at.defjvp
    def at_jvp(primals, tangents):
        z, a, _ = primals
        dz, da, _ = tangents
        return jax.jvp(value, (z, a), (dz, da))

    return at(x, args, lax.stop_gradient(f_loop))

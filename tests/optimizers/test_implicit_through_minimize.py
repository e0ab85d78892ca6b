"""Derivatives through ``minimize(...)`` and ``least_squares(...)`` with respect to ``args``
(the public wiring of optimizers._implicit), against the closed forms of ridge regression
and linear least squares. Tolerance: the solve stops at gtol = 1e-10 on ||g||_inf, so x*
is off by at most gtol / lambda_min(H), and the CG solve of the derivative adds cond(H)
(tol + eps); both are bounded by 10 cond(H) max(gtol / lambda_min, tol)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
from optimizers._implicit import default_tol

X = jax.random.normal(jax.random.PRNGKey(3), (25, 5))
Y = jax.random.normal(jax.random.PRNGKey(4), (25,))
LAM = 0.4
GTOL = 1e-10


def ridge(w, lam, X, y):
    r = X @ w - y
    return 0.5 * jnp.vdot(r, r) + 0.5 * lam * jnp.vdot(w, w)


def ridge_residual(w, lam, X, y):
    return jnp.concatenate([X @ w - y, jnp.sqrt(lam) * w])


def _closed(lam):
    A = np.asarray(X.T @ X) + lam * np.eye(5)
    w = np.linalg.solve(A, np.asarray(X.T @ Y))
    return w, -np.linalg.solve(A, w), A  # w*, dw*/dlam, H


def _rel(A):
    ev = np.linalg.eigvalsh(A)
    return 10 * ev[-1] / ev[0] * max(GTOL / ev[0], default_tol(jnp.float64))


def _solution(method):
    def sol(lam, X, y):
        return optimizers.minimize(ridge, jnp.zeros(5), method, args=(lam, X, y), gtol=GTOL).x
    return sol


@pytest.mark.parametrize("method", ["newton-cg", "lbfgs"])
@pytest.mark.parametrize("jac", [jax.jacfwd, jax.jacrev], ids=["jacfwd", "jacrev"])
def test_minimize_solution_derivative_in_lam_matches_the_closed_form(method, jac):
    w, dw, A = _closed(LAM)
    got = jac(_solution(method))(LAM, X, Y)
    np.testing.assert_allclose(got, dw, rtol=0, atol=_rel(A) * np.max(np.abs(dw)))


def test_grad_of_a_function_of_the_solution_and_of_fun_under_jit():
    w, dw, A = _closed(LAM)

    def outer(lam):
        res = optimizers.minimize(ridge, jnp.zeros(5), "trust-ncg", args=(lam, X, Y), gtol=GTOL)
        return jnp.sum(res.x**2), res.fun

    (g_x, g_f) = jax.jit(jax.jacrev(outer))(LAM)
    np.testing.assert_allclose(g_x, 2 * w @ dw, rtol=_rel(A) * 10)
    np.testing.assert_allclose(g_f, 0.5 * w @ w, rtol=_rel(A) * 10)  # envelope theorem


def test_second_derivative_of_fun_follows_the_solution():
    # d f*/dlam = |w*|^2 / 2 (envelope), so d2 f*/dlam2 = w* . dw*/dlam: the value's
    # derivative rule must see x* move with lam, not hold it fixed
    w, dw, A = _closed(LAM)

    def value(lam):
        return optimizers.minimize(ridge, jnp.zeros(5), "newton", args=(lam, X, Y), gtol=GTOL).fun

    np.testing.assert_allclose(jax.hessian(value)(LAM), w @ dw, rtol=_rel(A) * 10)
    np.testing.assert_allclose(jax.jit(jax.grad(value))(LAM), 0.5 * w @ w, rtol=_rel(A) * 10)


def test_least_squares_solution_derivative_matches_the_closed_form():
    w, dw, A = _closed(LAM)

    def sol(lam):
        return optimizers.least_squares(ridge_residual, jnp.zeros(5), args=(lam, X, Y), gtol=GTOL).x

    got = jax.jacrev(sol)(LAM)
    np.testing.assert_allclose(got, dw, rtol=0, atol=_rel(A) * np.max(np.abs(dw)))
    _, tangent = jax.jvp(sol, (LAM,), (1.0,))
    np.testing.assert_allclose(tangent, dw, rtol=0, atol=_rel(A) * np.max(np.abs(dw)))


def test_a_run_that_did_not_converge_gives_nan_and_off_raises():
    def sol(lam, **kw):
        return optimizers.minimize(ridge, jnp.zeros(5), "gd", args=(lam, X, Y), max_iter=2, **kw)

    res = sol(LAM)
    assert not bool(res.success)
    assert np.all(np.isnan(jax.jacfwd(lambda lam: sol(lam).x)(LAM)))
    with pytest.raises(ValueError, match="implicit_diff=False"):
        jax.grad(lambda lam: jnp.sum(sol(lam, implicit_diff=False).x))(LAM)


def test_bad_implicit_diff_option_is_refused_before_compiling():
    with pytest.raises((TypeError, ValueError), match="implicit_diff"):
        optimizers.minimize(ridge, jnp.zeros(5), "lbfgs", args=(LAM, X, Y), implicit_diff="yes")
    with pytest.raises((TypeError, ValueError), match="implicit_diff|tol"):
        optimizers.minimize(ridge, jnp.zeros(5), "lbfgs", args=(LAM, X, Y), implicit_diff={"tol": -1.0})

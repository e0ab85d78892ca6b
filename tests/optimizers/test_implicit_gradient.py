"""Implicit differentiation of a solution (optimizers._implicit): derivatives of x*(theta)
w.r.t. the objective's extra arguments by the implicit function theorem, against closed
forms (ridge regression, linear and nonlinear least squares), central finite differences
of solves by ``minimize`` (logistic-regression hyper-gradients), and each other (jvp,
jacfwd, jacrev, vjp, under jit and vmap); the NaN cases (run not converged, singular or
indefinite Hessian, CG cap) and the option that turns it off.

The solutions are computed without tracing the arguments (closed forms on
stop_gradient-ed inputs, or ``minimize`` on a closure over concrete values) and then
attached, as the driver will do.

Tolerances: the attached derivative solves H u = -b by CG to a relative residual tol
(default eps^(2/3)), so its relative error is at most cond(H) tol (plus rounding of the
products, cond(H) eps); each comparison with a closed form uses 10 cond(H) tol.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import optimizers
from optimizers._implicit import (
    ImplicitDiff,
    attach_implicit_gradient,
    attach_implicit_gradient_least_squares,
    default_tol,
    implicit_options,
    solution_with_implicit_gradient,
    without_implicit_gradient,
)

EPS = float(jnp.finfo(jnp.float64).eps)
TOL = default_tol(jnp.float64)


def _bound(H):
    """Relative accuracy of a derivative solved with H: 10 cond(H) (tol + eps)."""
    ev = np.linalg.eigvalsh(np.asarray(H))
    return 10 * ev[-1] / ev[0] * (TOL + EPS)


def _close(a, b, rel):
    a, b = np.asarray(a), np.asarray(b)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, rtol=0, atol=rel * np.max(np.abs(b)))


# ---------------------------------------------------------------- ridge regression

KEY = jax.random.PRNGKey(0)
X = jax.random.normal(KEY, (30, 6))
Y = jax.random.normal(jax.random.PRNGKey(1), (30,))
LAM = 0.3


def ridge_loss(w, lam, X, y):
    r = X @ w - y
    return 0.5 * jnp.vdot(r, r) + 0.5 * lam * jnp.vdot(w, w)


def _ridge_closed(lam, X, y):
    return jnp.linalg.solve(X.T @ X + lam * jnp.eye(X.shape[1]), X.T @ y)


def ridge_solution(lam, X, y):
    w = _ridge_closed(*lax.stop_gradient((lam, X, y)))
    return attach_implicit_gradient(ridge_loss, w, (lam, X, y))


def _ridge_derivatives(lam, X, y):
    """Hand-derived: with A = X^T X + lam I, w = A^{-1} X^T y, r = y - X w,
    dw/dlam = -A^{-1} w, dw/dy = A^{-1} X^T, dw_k/dX_ij = Ainv_kj r_i - (Ainv X^T)_ki w_j."""
    X, y = np.asarray(X), np.asarray(y)
    Ainv = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    w = Ainv @ X.T @ y
    r = y - X @ w
    dX = np.einsum("kj,i->kij", Ainv, r) - np.einsum("ki,j->kij", Ainv @ X.T, w)
    return -Ainv @ w, Ainv @ X.T, dX, X.T @ X + lam * np.eye(X.shape[1])


@pytest.mark.parametrize("jac", [jax.jacfwd, jax.jacrev], ids=["jacfwd", "jacrev"])
def test_ridge_derivatives_match_the_closed_form(jac):
    d_lam, d_y, d_X, H = _ridge_derivatives(LAM, X, Y)
    got_lam, got_X, got_y = jax.jit(jac(ridge_solution, argnums=(0, 1, 2)))(LAM, X, Y)
    rel = _bound(H)
    _close(got_lam, d_lam, rel)
    _close(got_y, d_y, rel)
    _close(got_X, d_X, rel)


def test_the_value_is_the_solvers_and_its_own_derivatives_are_dropped():
    """x* keeps its value bit for bit; a dependence of x_star on anything but args (here an
    offset t added to the solver's output) gets zero derivative."""
    w = _ridge_closed(LAM, X, Y)

    def sol(t):
        return attach_implicit_gradient(ridge_loss, w + t, (LAM, X, Y))

    assert np.array_equal(sol(0.0), w)
    np.testing.assert_array_equal(jax.jacfwd(sol)(0.0), 0.0)
    np.testing.assert_array_equal(jax.jacrev(sol)(0.0), 0.0)


def test_the_objective_at_the_solution_follows_the_envelope_theorem():
    """d/dlam f(x*(lam), lam) = d_lam f = ||w*||^2 / 2 (grad_x f = 0), and d/dy = y - X w*."""
    def value(lam, y):
        return ridge_loss(ridge_solution(lam, X, y), lam, X, y)

    g_lam, g_y = jax.grad(value, argnums=(0, 1))(LAM, Y)
    w = np.asarray(_ridge_closed(LAM, X, Y))
    rel = _bound(_ridge_derivatives(LAM, X, Y)[3])
    _close(g_lam, 0.5 * w @ w, rel)
    _close(g_y, np.asarray(Y) - np.asarray(X) @ w, rel)


def test_second_derivatives_of_the_ridge_solution():
    """jax.hessian (forward over reverse) of V(w*) = sum(sin w*): with A^{-1} w = -dw/dlam,
    d2w/dlam2 = 2 A^{-2} w, so V'' = cos(w).(2 A^{-2} w) - sin(w).(A^{-1} w)^2; w* is linear in
    y, so d2V/dy2 = M^T diag(-sin w) M with M = A^{-1} X^T."""
    def V(lam, y):
        return jnp.sum(jnp.sin(ridge_solution(lam, X, y)))

    d_lam, M, _, H = _ridge_derivatives(LAM, X, Y)
    w = np.asarray(_ridge_closed(LAM, X, Y))
    Ainv_w = -d_lam
    want_lam = np.cos(w) @ (2 * np.linalg.solve(H, Ainv_w)) - np.sin(w) @ Ainv_w**2
    want_y = M.T @ np.diag(-np.sin(w)) @ M
    (h_ll, _), (_, h_yy) = jax.hessian(V, argnums=(0, 1))(LAM, Y)
    rel = _bound(H)
    _close(h_ll, want_lam, rel)
    _close(h_yy, want_y, rel)


# ---------------------------------------------------------------- least squares

A = jax.random.normal(jax.random.PRNGKey(2), (12, 4))
B = jax.random.normal(jax.random.PRNGKey(3), (12,))


def linear_residual(x, A, b):
    return A @ x - b


@pytest.mark.parametrize("gauss_newton", [False, True], ids=["exact", "gauss-newton"])
def test_linear_least_squares_matches_the_normal_equations(gauss_newton):
    """x* = (A^T A)^{-1} A^T b: dx/db = pinv(A); with the residual nonzero at x*,
    dx_k/dA_ij = N_kj r_i - (N A^T)_ki x_j, r = b - A x, N = (A^T A)^{-1}. The residual is
    linear in x, so J^T J is the exact Hessian and both options agree with it."""
    def sol(A, b):
        x = jnp.linalg.lstsq(*lax.stop_gradient((A, b)))[0]
        return attach_implicit_gradient_least_squares(linear_residual, x, (A, b), gauss_newton=gauss_newton)

    An, bn = np.asarray(A), np.asarray(B)
    N = np.linalg.inv(An.T @ An)
    x = N @ An.T @ bn
    r = bn - An @ x
    assert np.linalg.norm(r) > 0.1
    d_A = np.einsum("kj,i->kij", N, r) - np.einsum("ki,j->kij", N @ An.T, x)
    got_A, got_b = jax.jacrev(sol, argnums=(0, 1))(A, B)
    rel = _bound(An.T @ An)
    _close(got_b, np.linalg.pinv(An), rel)
    _close(got_A, d_A, rel)


def _exp_residual(x, a, c):
    """r = (e^x - a, x - c): cost stationary where (e^x - a) e^x + x - c = 0."""
    return jnp.stack([jnp.exp(x[0]) - a, x[0] - c])


def _exp_solution(a, c):
    x = np.log(a)
    for _ in range(60):  # Newton on the stationarity condition, to the last bits
        e = np.exp(x)
        g, h = (e - a) * e + x - c, 2 * e * e - a * e + 1
        x -= g / h
    return x


@pytest.mark.parametrize("gauss_newton", [False, True], ids=["exact", "gauss-newton"])
def test_nonzero_residual_least_squares_gauss_newton_is_only_approximate(gauss_newton):
    """With a residual of -0.8 at x*, the exact IFT gives dx/da = e^x / (2 e^2x - a e^x + 1)
    (the cost's Hessian); the Gauss-Newton option gives e^x / (e^2x + 1), a different
    number, as documented."""
    a, c = 3.0, -1.0
    x = _exp_solution(a, c)
    e = np.exp(x)
    assert abs(e - a) > 0.5  # the residual term of the Hessian matters
    exact, gn = e / (2 * e * e - a * e + 1), e / (e * e + 1)

    def sol(a):
        return attach_implicit_gradient_least_squares(
            _exp_residual, jnp.array([x]), (a, c), gauss_newton=gauss_newton)[0]

    got = jax.grad(sol)(a)
    np.testing.assert_allclose(got, gn if gauss_newton else exact, rtol=1e-9)
    assert abs(exact - gn) > 0.1 * abs(exact)


def test_second_derivative_of_a_nonlinear_least_squares_solution():
    """g(x, a) = (e^x - a) e^x + x - c = 0: x' = e^x / H with H = 2 e^2x - a e^x + 1, and
    x'' = e^x (x' H - H') / H^2 with H' = (4 e^2x - a e^x) x' - e^x."""
    a, c = 3.0, -1.0
    x = _exp_solution(a, c)
    e = np.exp(x)
    H = 2 * e * e - a * e + 1
    d1 = e / H
    dH = (4 * e * e - a * e) * d1 - e
    d2 = e * (d1 * H - dH) / H**2

    def sol(a):
        return attach_implicit_gradient_least_squares(_exp_residual, jnp.array([x]), (a, c))[0]

    np.testing.assert_allclose(jax.grad(sol)(a), d1, rtol=1e-9)
    np.testing.assert_allclose(jax.hessian(sol)(a), d2, rtol=1e-9)
    np.testing.assert_allclose(jax.jacrev(jax.jacrev(sol))(a), d2, rtol=1e-9)


# ---------------------------------------------------------------- hyper-gradients

XT = jax.random.normal(jax.random.PRNGKey(4), (40, 5))
YT = (XT @ jnp.array([1.0, -2.0, 0.5, 0.0, 1.5]) + jax.random.normal(jax.random.PRNGKey(5), (40,)) > 0) * 1.0
XV = jax.random.normal(jax.random.PRNGKey(6), (25, 5))
YV = (XV @ jnp.array([1.0, -2.0, 0.5, 0.0, 1.5]) > 0) * 1.0
GTOL = 1e-13


def logistic_loss(w, lam, X, y):
    z = X @ w
    return jnp.mean(jax.nn.softplus(z) - y * z) + 0.5 * lam * jnp.vdot(w, w)


@functools.lru_cache(maxsize=None)
def _train_closure(lam):
    return lambda w: logistic_loss(w, lam, XT, YT)


def _solve(lam):
    """minimize on a closure over the concrete lam (no traced args reach the solver)."""
    res = optimizers.minimize(_train_closure(float(lam)), jnp.zeros(5), "newton", gtol=GTOL)
    assert bool(res.success)
    return res


def validation_loss(w):
    z = XV @ w
    return jnp.mean(jax.nn.softplus(z) - YV * z)


def test_logistic_regression_hypergradient_matches_central_differences():
    """d/dlam V(w*(lam)) against (V(w*(lam + h)) - V(w*(lam - h))) / 2h.

    Each solve stops at ||g||_inf <= GTOL, so its w is within sqrt(n) GTOL / mu of w*
    (mu >= lam, the strong convexity of the ridge term), and V within
    dV = ||grad V|| sqrt(n) GTOL / lam + 4 eps |V|. The difference quotient errs by
    dV / h + h^2 |V'''| / 6; with the scale of lam as the scale of V's variation
    (|V'''| ~ |V| / lam^3) the best step is h = lam (3 dV / |V|)^(1/3), and the tolerance
    is that error bound, times 10.
    """
    lam = 0.05
    res = _solve(lam)

    def hyper(lam):
        w = attach_implicit_gradient(logistic_loss, res.x, (lam, XT, YT), converged=res.success)
        return validation_loss(w)

    V = float(validation_loss(res.x))
    gV = float(jnp.linalg.norm(jax.grad(validation_loss)(res.x)))
    dV = gV * np.sqrt(5) * GTOL / lam + 4 * EPS * abs(V)
    h = lam * (3 * dV / abs(V)) ** (1 / 3)
    fd = (float(validation_loss(_solve(lam + h).x)) - float(validation_loss(_solve(lam - h).x))) / (2 * h)
    tol = 10 * (dV / h + h * h * abs(V) / lam**3 / 6)
    got = float(jax.jit(jax.grad(hyper))(lam))
    assert abs(fd) > 100 * tol  # the comparison has teeth
    assert abs(got - fd) <= tol, (got, fd, tol)


def test_the_wiring_with_minimize_inside_the_derivative():
    """The lines minimize will run (solution_with_implicit_gradient's docstring): the loop on
    stop_gradient-ed inputs (here a warm start that depends on lam), the solution attached,
    fun recomputed from it. jit(grad) goes through and matches d_lam f = ||w*||^2 / 2 (the
    envelope theorem) and the hyper-gradient of the outside solve."""
    lam = 0.05
    fixed = _train_closure(lam)  # the objective at the lam value traced below

    def run(lam):
        x0 = lax.stop_gradient(jnp.full(5, 0.1 * lam))
        res = optimizers.minimize(fixed, x0, "newton", gtol=GTOL)
        x = solution_with_implicit_gradient(logistic_loss, (lam, XT, YT), res.x, res.success)
        return validation_loss(x), logistic_loss(x, lam, XT, YT)

    g_val, g_fun = jax.jit(jax.jacrev(run))(lam)
    w = _solve(lam).x
    outside = jax.grad(lambda l: validation_loss(attach_implicit_gradient(logistic_loss, w, (l, XT, YT))))(lam)
    np.testing.assert_allclose(g_val, outside, rtol=1e-8)
    np.testing.assert_allclose(g_fun, 0.5 * jnp.vdot(w, w), rtol=1e-8)


def test_hypergradients_under_vmap_match_one_by_one():
    lams = jnp.array([0.05, 0.2, 1.0])
    ws = jnp.stack([_solve(float(l)).x for l in lams])

    def hyper(w, lam):
        return validation_loss(attach_implicit_gradient(logistic_loss, w, (lam, XT, YT)))

    batched = jax.vmap(jax.grad(hyper, argnums=1))(ws, lams)
    single = [jax.grad(hyper, argnums=1)(w, l) for w, l in zip(ws, lams)]
    np.testing.assert_allclose(batched, single, rtol=1e-10)


# ---------------------------------------------------------------- pytrees, modes

def tree_loss(x, p):
    """Minimum at x = {'a': c, 'b': s * c[:2]} for p = {'s': s, 'c': c}, any weights > 0."""
    a = x["a"] - p["c"]
    b = x["b"] - p["s"] * p["c"][:2]
    return 0.5 * jnp.sum(jnp.cosh(a) - 1) * 2 + 0.5 * jnp.vdot(b, b) * (1 + p["s"] ** 2)


P = {"s": jnp.asarray(1.7), "c": jnp.array([0.3, -1.2, 2.0])}


def tree_solution(p):
    s, c = lax.stop_gradient((p["s"], p["c"]))
    x = {"a": c, "b": s * c[:2]}
    return attach_implicit_gradient(tree_loss, x, (p,))


def test_pytree_solution_and_dict_args():
    """x is a dict and args a dict: dx_a/dc = I, dx_a/ds = 0, dx_b/dc = s [I 0], dx_b/ds = c[:2]."""
    jac = jax.jacrev(tree_solution)(P)
    s, c = float(P["s"]), np.asarray(P["c"])
    rel = 1e-9
    _close(jac["a"]["c"], np.eye(3), rel)
    np.testing.assert_allclose(jac["a"]["s"], 0.0, atol=1e-12)
    _close(jac["b"]["c"], s * np.eye(3)[:2], rel)
    _close(jac["b"]["s"], c[:2], rel)


def test_jvp_jacfwd_jacrev_and_vjp_agree():
    """One tangent rule: forward (jvp, jacfwd) and reverse (vjp, jacrev) give J v and u^T J
    of the same J, on a non-quadratic objective."""
    lam = 0.2
    w = _solve(lam).x

    def sol(lam, X):
        return attach_implicit_gradient(logistic_loss, w, (lam, X, YT))

    J_lam_f, J_X_f = jax.jacfwd(sol, argnums=(0, 1))(lam, XT)
    J_lam_r, J_X_r = jax.jacrev(sol, argnums=(0, 1))(lam, XT)
    np.testing.assert_allclose(J_lam_f, J_lam_r, rtol=1e-8)
    np.testing.assert_allclose(J_X_f, J_X_r, rtol=1e-8, atol=1e-12)
    dX = jax.random.normal(jax.random.PRNGKey(7), XT.shape)
    _, t = jax.jvp(sol, (lam, XT), (0.5, dX))
    np.testing.assert_allclose(t, 0.5 * J_lam_r + jnp.einsum("kij,ij->k", J_X_r, dX), rtol=1e-8)
    u = jax.random.normal(jax.random.PRNGKey(8), (5,))
    _, vjp = jax.vjp(sol, lam, XT)
    c_lam, c_X = vjp(u)
    np.testing.assert_allclose(c_lam, u @ J_lam_f, rtol=1e-8)
    np.testing.assert_allclose(c_X, jnp.einsum("k,kij->ij", u, J_X_f), rtol=1e-8, atol=1e-12)


def test_has_aux_uses_the_value_only():
    def with_aux(w, lam, X, y):
        return ridge_loss(w, lam, X, y), {"norm": jnp.linalg.norm(w)}

    w = _ridge_closed(LAM, X, Y)
    got = jax.jacrev(lambda l: attach_implicit_gradient(with_aux, w, (l, X, Y), has_aux=True))(LAM)
    _close(got, _ridge_derivatives(LAM, X, Y)[0], _bound(_ridge_derivatives(LAM, X, Y)[3]))


# ---------------------------------------------------------------- when it does not hold

def test_a_run_that_did_not_converge_gives_nan_derivatives():
    w = _ridge_closed(LAM, X, Y)

    def sol(lam, ok):
        return attach_implicit_gradient(ridge_loss, w, (lam, X, Y), converged=ok)

    assert np.array_equal(sol(LAM, False), w)
    assert np.all(np.isnan(jax.jacfwd(sol)(LAM, False)))
    assert np.all(np.isnan(jax.jacrev(sol)(LAM, jnp.asarray(False))))
    assert np.all(np.isfinite(jax.jacrev(sol)(LAM, True)))
    # traced under jit, as result.success is
    assert np.all(np.isnan(jax.jit(jax.jacrev(sol))(LAM, jnp.asarray(False))))


def _cusp(x, t):
    """x1^2 / 2 + x2^4 / 4 - t x2: at t = 0 the minimizer (0, 0) has H = diag(1, 0) and
    x2*(t) = t^(1/3), whose derivative is infinite; d_t grad f = (0, -1) is outside range(H)."""
    return 0.5 * x[0] ** 2 + 0.25 * x[1] ** 4 - t * x[1]


def _flat_valley(x, t):
    """(x1 - t)^2 / 2, x2 free: H = diag(1, 0) singular, d_t grad f = (-1, 0) in its range."""
    return 0.5 * (x[0] - t) ** 2 + 0.0 * x[1]


def _saddle(x, t):
    """A saddle, stationary at (t, -2t): H = diag(1, -1) indefinite, not a minimum; the
    right-hand side (1, 2) has curvature 1 - 4 < 0."""
    return 0.5 * x[0] ** 2 - 0.5 * x[1] ** 2 - t * (x[0] + 2 * x[1])


def test_singular_and_indefinite_hessians():
    zero = jnp.zeros(2)
    cusp = jax.grad(lambda t: attach_implicit_gradient(_cusp, zero, (t,)).sum())(0.0)
    assert np.isnan(cusp)
    def valley(t):
        return attach_implicit_gradient(_flat_valley, zero, (t,))

    # forward: the right-hand side (1, 0) is in range(H): the minimum-norm answer
    np.testing.assert_allclose(jax.jacfwd(valley)(0.0), [1.0, 0.0], atol=1e-15)
    # reverse: the cotangent e1 is in range(H), e2 is in its null space
    np.testing.assert_allclose(jax.grad(lambda t: valley(t)[0])(0.0), 1.0, atol=1e-15)
    assert np.isnan(jax.grad(lambda t: valley(t)[1])(0.0))
    saddle = jax.jacfwd(lambda t: attach_implicit_gradient(_saddle, jnp.array([1.0, -2.0]), (t,)))(1.0)
    assert np.all(np.isnan(saddle))


def test_cg_cap_and_tolerance_options():
    """A ridge problem with 6 distinct curvatures needs 6 CG steps to reach the default
    tol: NaN at max_iter=2, finite with the default cap; a loose tol gives a less exact
    but finite answer."""
    lam = 1e-6
    w = _ridge_closed(lam, X, Y)

    def sol(lam, **kw):
        return attach_implicit_gradient(ridge_loss, w, (lam, X, Y), **kw)

    assert np.all(np.isnan(jax.jacrev(functools.partial(sol, max_iter=2))(lam)))
    loose = jax.jacrev(functools.partial(sol, tol=1e-3))(lam)
    exact = _ridge_derivatives(lam, X, Y)[0]
    assert np.all(np.isfinite(loose))
    # tol = 1e-3 solves to a residual of 1e-3 ||b||: the answer differs from the exact one.
    assert 1e-10 < np.max(np.abs(loose - exact)) / np.max(np.abs(exact))
    _close(jax.jacrev(sol)(lam), exact, _bound(_ridge_derivatives(lam, X, Y)[3]))


# ---------------------------------------------------------------- the option, off

def test_turned_off_derivatives_raise_a_clear_error():
    w = _ridge_closed(LAM, X, Y)

    def sol(lam):
        return solution_with_implicit_gradient(ridge_loss, (lam, X, Y), w, True, False)

    assert np.array_equal(sol(LAM), w)
    with pytest.raises(ValueError, match="implicit_diff=False"):
        jax.grad(lambda l: sol(l).sum())(LAM)
    with pytest.raises(ValueError, match="implicit_diff=False"):
        jax.jvp(sol, (LAM,), (1.0,))
    with pytest.raises(ValueError, match="implicit_diff=False"):
        jax.grad(lambda t: without_implicit_gradient(w + t, ()).sum())(0.0)


def test_the_wiring_helper_passes_the_options():
    w = _ridge_closed(LAM, X, Y)
    capped = solution_with_implicit_gradient  # the dict reaches CG: a cap of 1 fails
    assert np.all(np.isnan(jax.jacrev(lambda l: capped(ridge_loss, (l, X, Y), w, True, {"max_iter": 1}))(LAM)))
    assert np.all(np.isnan(jax.jacrev(lambda l: capped(ridge_loss, (l, X, Y), w, False, True))(LAM)))
    a, c = 3.0, -1.0
    x = jnp.array([_exp_solution(a, c)])
    e = float(jnp.exp(x[0]))
    gn = jax.grad(lambda a: solution_with_implicit_gradient(
        _exp_residual, (a, c), x, True, {"hessian": "gauss-newton"}, least_squares=True)[0])(a)
    np.testing.assert_allclose(gn, e / (e * e + 1), rtol=1e-9)


def test_option_validation():
    assert implicit_options(True) == ImplicitDiff()
    assert implicit_options(False) is None
    assert implicit_options({"tol": 1e-8, "max_iter": 50}) == ImplicitDiff(1e-8, 50, "exact")
    assert implicit_options({"hessian": "gauss-newton"}, least_squares=True).hessian == "gauss-newton"
    with pytest.raises(ValueError, match="unknown key"):
        implicit_options({"hessian": "gauss-newton"})  # minimize has no Gauss-Newton matrix
    with pytest.raises(ValueError, match="tol"):
        implicit_options({"tol": 0.0})
    with pytest.raises(ValueError, match="max_iter"):
        implicit_options({"max_iter": 0})
    with pytest.raises(TypeError, match="implicit_diff"):
        implicit_options("yes")
    with pytest.raises(ValueError, match="hessian"):
        implicit_options({"hessian": "bfgs"}, least_squares=True)
    with pytest.raises(TypeError, match="tuple"):
        attach_implicit_gradient(ridge_loss, jnp.zeros(6), [LAM, X, Y])
    with pytest.raises(TypeError, match="converged"):
        attach_implicit_gradient(ridge_loss, jnp.zeros(6), (LAM, X, Y), converged=jnp.ones(2, bool))

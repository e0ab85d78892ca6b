"""Saddle-free Newton against independent truth: numpy eigh / solve for |H| steps, a numpy
Krylov basis, the second-order test at the final point (curvature.classify_critical_point,
dense eigvalsh), the known minima of the test functions, and plain Newton written out in
numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
from curvature import CRITICAL_POINT_LABELS, classify_critical_point, lanczos, linear_operator
from optimizers import minimize
from optimizers.saddle_free_newton import dense_directions, grid_step, krylov_directions

GRID = (0.0, 1e-3, 1e-1, 1.0)
_classify = jax.jit(classify_critical_point, static_argnums=0)  # dense eigvalsh of the Hessian


def _label(f, x):
    return CRITICAL_POINT_LABELS[int(_classify(f, jnp.asarray(x)).label)]


def _indefinite(seed, n):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    w = np.concatenate([-np.geomspace(0.1, 3.0, n // 3), np.geomspace(0.05, 5.0, n - n // 3)])
    return (q * w) @ q.T, rng.normal(size=n)


def _abs_step(H, g, lam):
    w, q = np.linalg.eigh(H)
    return -np.linalg.solve((q * np.abs(w)) @ q.T + lam * np.eye(len(g)), g)


# ---------------------------------------------------------------- directions


def test_dense_directions_match_numpy_abs_hessian():
    H, g = _indefinite(0, 9)
    got = np.asarray(dense_directions(jnp.asarray(H), jnp.asarray(g), jnp.asarray(GRID)))
    for row, lam in zip(got, GRID):
        np.testing.assert_allclose(row, _abs_step(H, g, lam), rtol=1e-9, atol=1e-12)


def test_krylov_directions_in_a_subspace_match_a_numpy_krylov_basis():
    # (k = n is checked through minimize: Krylov and dense runs agree step for step)
    n, k = 12, 4
    H, g = _indefinite(2, n)
    # Independent basis of span{g, Hg, H^2 g, H^3 g}: QR of the Krylov matrix.
    K = np.stack([np.linalg.matrix_power(H, j) @ g for j in range(k)], axis=1)
    W, _ = np.linalg.qr(K)
    w, s = np.linalg.eigh(W.T @ H @ W)
    lz = lanczos(linear_operator(jnp.asarray(H)), k, v0=jnp.asarray(g))
    got = np.asarray(krylov_directions(lz.alpha, lz.beta, lz.basis, jnp.asarray(g), jnp.asarray(GRID)))
    for row, lam in zip(got, GRID):
        want = -W @ (s @ ((s.T @ (W.T @ g)) / (np.abs(w) + lam)))
        np.testing.assert_allclose(row, want, rtol=1e-7, atol=1e-9)


def test_gradient_outside_the_subspace_gets_a_scaled_gradient_step():
    # A basis that misses part of g (as after a Lanczos restart): that part is stepped
    # along -g_perp / (max |theta| + lambda).
    n = 6
    H, g = _indefinite(3, n)
    rng = np.random.default_rng(4)
    V, _ = np.linalg.qr(rng.normal(size=(n, 3)))
    T = V.T @ H @ V
    w, s = np.linalg.eigh(T)
    # Express T in tridiagonal form by rotating V (Householder tridiagonalization via scipy).
    from scipy.linalg import hessenberg

    T3, Z = hessenberg(T, calc_q=True)
    basis = (V @ Z).T
    alpha, beta = np.diag(T3), np.diag(T3, 1)
    lam = 0.3
    got = np.asarray(krylov_directions(jnp.asarray(alpha), jnp.asarray(beta), jnp.asarray(basis),
                                       jnp.asarray(g), jnp.asarray([lam])))[0]
    perp = g - V @ (V.T @ g)
    want = -V @ (s @ ((s.T @ (V.T @ g)) / (np.abs(w) + lam))) - perp / (np.abs(w).max() + lam)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- grid and step length


@pytest.fixture(scope="module")
def quad1d():
    return jax.jit(lambda x, dirs: grid_step(lambda y: jnp.sum((y - 3.0) ** 2), x, 9.0, dirs, max_expand=5))


def test_grid_step_takes_the_best_candidate_then_expands(quad1d):
    x = jnp.zeros(1)
    r = quad1d(x, jnp.array([[1.0], [2.0], [0.5]]))  # f = 4, 1, 6.25 -> 2.0; t = 2 -> x = 4 (f = 1, not lower)
    assert int(r.index) == 1 and float(r.t) == 1.0 and float(r.x[0]) == 2.0 and float(r.f) == 1.0
    assert int(r.nfev) == 3 + 1 and bool(r.decrease)
    r = quad1d(x, jnp.array([[0.5]]))  # t = 1, 2, 4 improve (f = 6.25, 4, 1), t = 8 does not
    assert float(r.t) == 4.0 and float(r.x[0]) == 2.0 and int(r.nfev) == 1 + 3


def test_grid_step_shrinks_the_most_damped_direction_when_nothing_decreases(quad1d):
    r = quad1d(jnp.zeros(1), jnp.array([[10.0], [8.0]]))  # f = 49, 25 > 9: halve the last row
    assert int(r.index) == 1 and float(r.t) == 0.5 and float(r.x[0]) == 4.0
    assert int(r.nfev) == 2 + 1 and bool(r.decrease)
    r = quad1d(jnp.zeros(1), jnp.array([[-100.0]]))  # never decreases: x stays, 1 + 5 evaluations
    assert not bool(r.decrease) and int(r.nfev) == 6 and float(r.x[0]) == 0.0


# ---------------------------------------------------------------- saddle escape


def _saddle2(z):
    return z[0] ** 2 - z[1] ** 2 + z[1] ** 4 / 4


N10 = 10
_Q10 = np.linalg.qr(np.random.default_rng(5).normal(size=(N10, N10)))[0]
_A10 = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 0, 0, 0, 0])
_B10 = np.array([0, 0, 0, 0, 0, 0, 0.5, 0.8, 1.0, 1.3])


def _saddle10(z):
    """h(Qz), h(u) = sum a_i u_i^2 + sum (-b_i u_i^2 + u_i^4 / 4): 4 negative directions at 0."""
    u = jnp.asarray(_Q10) @ z
    return jnp.sum(_A10 * u**2) + jnp.sum(-_B10 * u**2 + (_B10 > 0) * u**4 / 4)


_F10_STAR = -np.sum(_B10**2)  # at u_i = +-sqrt(2 b_i)


def _numpy_newton(f, z, iters):
    """Plain Newton z <- z - H^-1 g (no modification), derivatives by JAX, solve by numpy."""
    grad, hess = jax.jit(jax.grad(f)), jax.jit(jax.hessian(f))
    z = np.asarray(z, float)
    for _ in range(iters):
        z = z - np.linalg.solve(np.asarray(hess(z)), np.asarray(grad(z)))
    return z


@pytest.mark.parametrize(
    "f, x0, f_star, opts",
    [
        (_saddle2, np.array([1e-8, 1e-8]), -1.0, {}),
        (_saddle10, 1e-8 * np.random.default_rng(6).normal(size=N10), _F10_STAR, {}),
    ],
    ids=["2d", "10d"],
)
def test_saddle_free_newton_escapes_where_newton_stays_and_gd_crawls(f, x0, f_star, opts):
    x0 = jnp.asarray(x0)
    # (same static settings as the step-for-step test below: one compiled loop for both)
    sfn = minimize(f, x0, "saddle-free-newton", gtol=1e-8, max_iter=30, record_path=True, **opts)
    z = np.asarray(sfn.x)
    assert _label(f, sfn.x) == "minimum"
    assert abs(float(sfn.fun) - f_star) < 1e-9
    assert int(sfn.status) == 0 and int(sfn.nit) <= 15
    # Plain Newton is attracted by the saddle at 0: it lands there and stays.
    zn = _numpy_newton(f, x0, 5)
    assert np.linalg.norm(zn) < 1e-12
    assert _label(f, zn) == "saddle"
    # Gradient descent (stable step) escapes only at the rate of the negative curvature.
    gd = minimize(f, x0, "gd", gtol=1e-8, max_iter=3000, learning_rate=0.1)
    assert int(gd.status) == 0
    assert int(gd.nit) > 10 * int(sfn.nit)
    assert np.linalg.norm(z) > 1.0


def test_krylov_at_full_dimension_matches_dense_step_for_step():
    f = _saddle10
    x0 = jnp.asarray(np.random.default_rng(7).normal(size=N10) * 0.3)
    kry = minimize(f, x0, "saddle-free-newton", gtol=1e-8, max_iter=30, record_path=True)
    den = minimize(f, x0, "saddle-free-newton", gtol=1e-8, max_iter=30, record_path=True, dense=True)
    assert int(kry.nit) == int(den.nit) and int(kry.status) == 0
    k = int(kry.nit) + 1
    np.testing.assert_allclose(np.asarray(kry.trace.x[:k]), np.asarray(den.trace.x[:k]),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.asarray(kry.trace.f[:k]), np.asarray(den.trace.f[:k]),
                               rtol=1e-9, atol=1e-12)
    # Counters: k Lanczos products per iteration vs n dense Hessian columns; same f count.
    nit = int(kry.nit)
    assert int(kry.nhvp) == N10 * nit and int(den.nhvp) == N10 * nit
    assert int(kry.nfev) == int(den.nfev)
    assert int(kry.ngev) == 1 + nit and int(den.ngev) == 1 + nit


def test_optax_transform_escapes_the_saddle():
    opt = optimizers.saddle_free_newton(dense=True)  # (Krylov steps: tested through minimize)
    params = {"z": jnp.asarray(1e-8 * np.random.default_rng(8).normal(size=N10))}
    value_fn = lambda p: _saddle10(p["z"])  # noqa: E731

    @jax.jit
    def step(params, state):
        updates, state = opt.update(None, state, params, value_fn=value_fn)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    for _ in range(15):
        params, state = step(params, state)
    assert abs(float(value_fn(params)) - _F10_STAR) < 1e-9
    assert _label(_saddle10, params["z"]) == "minimum"
    assert int(state.nhvp) == N10 * int(state.count) and int(state.count) == 15


# ---------------------------------------------------------------- bad input


def test_bad_input_names_the_option():
    x0 = jnp.ones(3)
    f = lambda z: jnp.sum(z**2)  # noqa: E731
    with pytest.raises(ValueError, match="krylov_dim.*between 1 and n = 3.*got 4"):
        minimize(f, x0, "saddle-free-newton", krylov_dim=4)
    with pytest.raises(ValueError, match="krylov_dim"):
        minimize(f, x0, "saddle-free-newton", krylov_dim=0)
    with pytest.raises(ValueError, match="lambda must be >= 0.*-0.1"):
        minimize(f, x0, "saddle-free-newton", damping_grid=(0.0, -0.1))
    with pytest.raises(ValueError, match="at least one damping value"):
        minimize(f, x0, "saddle-free-newton", damping_grid=())
    with pytest.raises(TypeError, match="damping_grid"):
        minimize(f, x0, "saddle-free-newton", damping_grid=0.5)

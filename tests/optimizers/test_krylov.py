"""Truncated CG and Steihaug CG against dense linear algebra (numpy.linalg)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimizers._krylov import CG_STATUS, steihaug_cg, truncated_cg

N = 12


def _spd(seed, n=N, cond=1e3):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.geomspace(1.0, cond, n)
    return (q * lam) @ q.T, q, lam


def _indefinite(seed, n=N):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.linspace(-2.0, 5.0, n)
    return (q * lam) @ q.T, q, lam


def _matvec(A):
    A = jnp.asarray(A)
    return lambda v: A @ v


# One compiled solver per signature, reused by every test with N x N matrices (the matrix is
# an argument, not a constant, so each new matrix does not recompile).
@jax.jit
def _cg(A, b, rtol, max_iter):
    return truncated_cg(lambda v: A @ v, b, rtol=rtol, max_iter=max_iter)


@jax.jit
def _cg_warm(A, b, x0, rtol, max_iter):
    return truncated_cg(lambda v: A @ v, b, rtol=rtol, max_iter=max_iter, x0=x0)


@jax.jit
def _steihaug(B, g, radius, rtol, max_iter):
    return steihaug_cg(lambda v: B @ v, g, radius, rtol=rtol, max_iter=max_iter)


def cg(A, b, *, rtol, max_iter, x0=None):
    A, b = jnp.asarray(A, float), jnp.asarray(b, float)
    rtol, max_iter = jnp.asarray(rtol, float), jnp.asarray(max_iter, jnp.int32)  # no weak types
    if x0 is None:
        return _cg(A, b, rtol, max_iter)
    return _cg_warm(A, b, jnp.asarray(x0, float), rtol, max_iter)


def steihaug(B, g, radius, *, rtol, max_iter):
    B, g, radius = jnp.asarray(B, float), jnp.asarray(g, float), jnp.asarray(radius, float)
    return _steihaug(B, g, radius, jnp.asarray(rtol, float), jnp.asarray(max_iter, jnp.int32))


def _q(A, b, x):
    return 0.5 * x @ A @ x - b @ x


def _m(B, g, p):
    return g @ p + 0.5 * p @ B @ p


@pytest.fixture(scope="module")
def spd():
    A, _, _ = _spd(0)
    b = np.random.default_rng(1).normal(size=N)
    return A, b


# ---------------------------------------------------------------- truncated CG


@pytest.mark.parametrize("warm", [False, True])
def test_truncated_cg_solves_spd_to_tolerance(spd, warm):
    A, b = spd
    x0 = jnp.asarray(np.linalg.solve(A, b) + 0.1) if warm else None
    res = cg(A, b, rtol=1e-10, max_iter=200, x0=x0)
    x = np.asarray(res.x)
    assert int(res.status) == 0
    assert np.linalg.norm(A @ x - b) <= 1e-10 * np.linalg.norm(b) * 1.0001
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(float(res.model_value), _q(A, b, x), rtol=1e-9)
    assert 1 <= int(res.iters) <= 200


def test_truncated_cg_loose_tolerance_stops_early(spd):
    A, b = spd
    res = cg(A, b, rtol=0.5, max_iter=200)
    x = np.asarray(res.x)
    assert int(res.status) == 0
    r = np.linalg.norm(A @ x - b)
    assert r <= 0.5 * np.linalg.norm(b)
    assert int(res.iters) < N
    # Energy-norm decrease: q(x) < q(0) = 0 for SPD A.
    assert _q(A, b, x) < 0
    np.testing.assert_allclose(float(res.model_value), _q(A, b, x), rtol=1e-9)


def test_truncated_cg_iteration_cap(spd):
    A, b = spd
    res = cg(A, b, rtol=1e-14, max_iter=3)
    assert int(res.status) == 2
    assert int(res.iters) == 3
    # Three CG steps = the minimizer of q over the Krylov space K_3(A, b).
    K = np.stack([b, A @ b, A @ A @ b], axis=1)
    y = np.linalg.solve(K.T @ A @ K, K.T @ b)
    np.testing.assert_allclose(np.asarray(res.x), K @ y, rtol=1e-6, atol=1e-10)


def test_truncated_cg_negative_curvature_later_iteration():
    # b has a large component on positive eigenvalues, so p0 = b has positive curvature;
    # the indefinite A forces a non-positive-curvature direction later.
    A, Q, lam = _indefinite(2)
    b = Q @ np.where(lam > 0, 1.0, 0.3)
    assert b @ A @ b > 0
    res = cg(A, b, rtol=1e-12, max_iter=100)
    assert int(res.status) == 1
    k = int(res.iters)
    assert k >= 2
    # Independent check: the returned x is the minimizer of q over K_{k-1}(A, b)
    # (the last iterate before the bad direction), computed densely.
    K = np.stack([np.linalg.matrix_power(A, j) @ b for j in range(k - 1)], axis=1)
    K, _ = np.linalg.qr(K)
    y = np.linalg.solve(K.T @ A @ K, K.T @ b)
    x = np.asarray(res.x)
    np.testing.assert_allclose(x, K @ y, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(float(res.model_value), _q(A, b, x), rtol=1e-8)
    assert b @ x > 0  # for b = -g: a descent direction


def test_truncated_cg_first_iteration_negative_curvature_returns_b():
    A, Q, lam = _indefinite(3)
    b = Q[:, 0] + 0.1 * Q[:, 1]  # mostly along the most negative eigenvector
    assert b @ A @ b < 0
    res = cg(A, b, rtol=1e-8, max_iter=50)
    assert int(res.status) == 1
    assert int(res.iters) == 1
    np.testing.assert_array_equal(np.asarray(res.x), b)
    np.testing.assert_allclose(float(res.model_value), _q(A, b, b), rtol=1e-12)


def test_truncated_cg_singular_direction_is_negative_curvature():
    A = np.diag(np.arange(N, dtype=float))
    b = np.eye(N)[0]  # A b = 0
    res = cg(A, b, rtol=1e-8, max_iter=10)
    assert int(res.status) == 1
    np.testing.assert_array_equal(np.asarray(res.x), b)
    assert np.all(np.isfinite(np.asarray(res.x)))


def test_truncated_cg_zero_rhs():
    A, _, _ = _spd(4)
    for x0 in (None, jnp.ones(N)):
        res = cg(A, np.zeros(N), rtol=0.1, max_iter=10, x0=x0)
        np.testing.assert_array_equal(np.asarray(res.x), np.zeros(N))
        assert int(res.iters) == 0 and int(res.status) == 0
        assert float(res.model_value) == 0.0


def test_truncated_cg_nan_matvec_does_not_spread():
    res = cg(np.full((N, N), np.nan), np.ones(N), rtol=1e-8, max_iter=10)
    assert int(res.status) == 1
    assert np.all(np.isfinite(np.asarray(res.x)))


def test_truncated_cg_counts_matvecs(spd):
    A, b = spd
    calls = []
    Aj = jnp.asarray(A)

    def matvec(v):
        jax.debug.callback(lambda: calls.append(1))
        return Aj @ v

    for x0 in (None, jnp.zeros(N)):
        calls.clear()
        res = truncated_cg(matvec, jnp.asarray(b), rtol=1e-6, max_iter=100, x0=x0)
        jax.effects_barrier()
        assert int(res.iters) == len(calls) > 0


def test_truncated_cg_jit_vmap_traced_rtol(spd):
    A, _ = spd
    bs = np.random.default_rng(5).normal(size=(4, N))
    rtols = jnp.asarray([1e-10, 1e-6, 1e-3, 0.5])

    solve = jax.jit(jax.vmap(_cg, in_axes=(None, 0, 0, None)))
    res = solve(jnp.asarray(A), jnp.asarray(bs), rtols, 100)
    for i in range(4):
        x = np.asarray(res.x[i])
        assert int(res.status[i]) == 0
        assert np.linalg.norm(A @ x - bs[i]) <= float(rtols[i]) * np.linalg.norm(bs[i]) * 1.0001
        np.testing.assert_allclose(float(res.model_value[i]), _q(A, bs[i], x), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(res.x[0]), np.linalg.solve(A, bs[0]), rtol=1e-7)
    assert int(res.iters[3]) < int(res.iters[0])


def test_truncated_cg_float32(spd):
    A, b = spd
    A32 = jnp.asarray(np.diag(np.linspace(1, 10, N)), jnp.float32)
    b32 = jnp.asarray(b, jnp.float32)
    res = truncated_cg(lambda v: A32 @ v, b32, rtol=1e-5, max_iter=50)
    assert res.x.dtype == jnp.float32 and res.model_value.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(res.x), b / np.linspace(1, 10, N), rtol=1e-4)


def test_bad_arguments():
    mv = lambda v: v  # noqa: E731
    with pytest.raises(ValueError, match="b must be a flat 1-D"):
        truncated_cg(mv, jnp.ones((2, 2)), rtol=0.1, max_iter=5)
    with pytest.raises(TypeError, match="b must be a floating"):
        truncated_cg(mv, jnp.ones(3, jnp.int32), rtol=0.1, max_iter=5)
    with pytest.raises(ValueError, match="rtol"):
        truncated_cg(mv, jnp.ones(3), rtol=-1.0, max_iter=5)
    with pytest.raises(ValueError, match="max_iter"):
        steihaug_cg(mv, jnp.ones(3), 1.0, rtol=0.1, max_iter=-1)
    with pytest.raises(ValueError, match="radius"):
        steihaug_cg(mv, jnp.ones(3), -1.0, rtol=0.1, max_iter=5)
    with pytest.raises(ValueError, match="x0 must have the shape"):
        truncated_cg(mv, jnp.ones(3), rtol=0.1, max_iter=5, x0=jnp.ones(4))
    assert set(CG_STATUS) == {0, 1, 2, 3}


# ---------------------------------------------------------------- Steihaug CG


def _cauchy_point(B, g, radius):
    """N&W (4.11)-(4.12): the model minimizer along -g inside the ball."""
    gBg = g @ B @ g
    gn = np.linalg.norm(g)
    tau = 1.0 if gBg <= 0 else min(gn**3 / (radius * gBg), 1.0)
    return -tau * radius / gn * g


def test_steihaug_interior_newton_step(spd):
    B, g = spd
    newton = -np.linalg.solve(B, g)
    radius = 2 * np.linalg.norm(newton)
    res = steihaug(B, g, radius, rtol=1e-10, max_iter=200)
    p = np.asarray(res.x)
    assert int(res.status) == 0
    np.testing.assert_allclose(p, newton, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(float(res.model_value), _m(B, g, p), rtol=1e-9)


def test_steihaug_boundary_when_newton_step_outside(spd):
    B, g = spd
    newton = -np.linalg.solve(B, g)
    radius = 0.3 * np.linalg.norm(newton)
    res = steihaug(B, g, radius, rtol=1e-10, max_iter=200)
    p = np.asarray(res.x)
    assert int(res.status) == 3
    np.testing.assert_allclose(np.linalg.norm(p), radius, rtol=1e-10)
    np.testing.assert_allclose(float(res.model_value), _m(B, g, p), rtol=1e-9)
    # At least the Cauchy decrease (N&W Thm 7.2 / Lemma 4.3 premise).
    assert _m(B, g, p) <= _m(B, g, _cauchy_point(B, g, radius)) + 1e-12


def test_steihaug_negative_curvature_goes_to_boundary():
    B, Q, lam = _indefinite(6)
    g = Q @ np.where(lam > 0, 1.0, 0.2)  # first direction -g has positive curvature
    radius = 50.0
    res = steihaug(B, g, radius, rtol=1e-12, max_iter=100)
    p = np.asarray(res.x)
    assert int(res.status) in (1, 3)
    np.testing.assert_allclose(np.linalg.norm(p), radius, rtol=1e-10)
    np.testing.assert_allclose(float(res.model_value), _m(B, g, p), rtol=1e-9)
    assert _m(B, g, p) <= _m(B, g, _cauchy_point(B, g, radius)) + 1e-9


def test_steihaug_first_iteration_negative_curvature():
    B, Q, _ = _indefinite(7)
    g = Q[:, 0]  # along the most negative eigenvector: -g.B(-g) < 0
    radius = 0.7
    res = steihaug(B, g, radius, rtol=1e-8, max_iter=50)
    assert int(res.status) == 1 and int(res.iters) == 1
    # The boundary minimizer along -g is -radius * g / ||g|| (both crossings checked by hand:
    # m(+-radius u) = -+radius ||g|| + lam radius^2 / 2).
    np.testing.assert_allclose(np.asarray(res.x), -radius * g / np.linalg.norm(g), rtol=1e-10)
    np.testing.assert_allclose(float(res.model_value), _m(B, g, np.asarray(res.x)), rtol=1e-10)


def test_steihaug_never_leaves_ball_vmap_over_radius():
    radii = jnp.asarray(np.geomspace(1e-3, 1e3, 24))
    solve = jax.jit(jax.vmap(_steihaug, in_axes=(None, None, 0, None, None)))
    for B, g in [(_spd(8)[0], np.ones(N)), (_indefinite(9)[0], np.arange(1.0, N + 1))]:
        res = solve(jnp.asarray(B), jnp.asarray(g), radii, 1e-8, 100)
        norms = np.linalg.norm(np.asarray(res.x), axis=1)
        assert np.all(norms <= np.asarray(radii) * (1 + 1e-12))
        dense = np.array([_m(B, g, p) for p in np.asarray(res.x)])
        np.testing.assert_allclose(np.asarray(res.model_value), dense, rtol=1e-8, atol=1e-14)
        assert np.all(dense < 0)
        # A larger radius never gives a worse model value for the same CG path.
        assert np.all(np.diff(dense) <= 1e-10 * np.abs(dense[1:]))


def test_steihaug_zero_gradient_and_cap(spd):
    B, g = spd
    res = steihaug(B, np.zeros(N), 1.0, rtol=0.1, max_iter=10)
    np.testing.assert_array_equal(np.asarray(res.x), np.zeros(N))
    assert int(res.iters) == 0 and int(res.status) == 0 and float(res.model_value) == 0.0
    res = steihaug(B, g, 1e6, rtol=1e-14, max_iter=2)
    assert int(res.status) == 2 and int(res.iters) == 2
    np.testing.assert_allclose(float(res.model_value), _m(B, g, np.asarray(res.x)), rtol=1e-10)


def test_steihaug_zero_radius_and_nan():
    res = steihaug(2 * np.eye(N), np.ones(N), 0.0, rtol=0.1, max_iter=10)
    np.testing.assert_array_equal(np.asarray(res.x), np.zeros(N))
    assert int(res.status) == 3 and float(res.model_value) == 0.0
    res = steihaug(np.full((N, N), np.nan), np.ones(N), 1.0, rtol=0.1, max_iter=10)
    assert int(res.status) == 1
    assert np.all(np.isfinite(np.asarray(res.x))) and np.isfinite(float(res.model_value))

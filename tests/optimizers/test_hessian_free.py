"""Hessian-free pieces against independent truth: a plain numpy CG, numpy.linalg.solve,
dense J^T H J, the normal equations, and the Levenberg-Marquardt rule written out by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimizers.lm_damping import reduction_ratio, update_damping
from optimizers.martens_cg import (
    MARTENS_CG_STATUS,
    cg_backtrack,
    martens_cg,
    martens_preconditioner,
    save_schedule,
)

N = 40


def _spd(seed, n=N, cond=1e2):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (q * np.geomspace(1.0, cond, n)) @ q.T


def _numpy_cg(B, g, x0, iters, m=None):
    """Textbook preconditioned CG on B x = -g (N&W Alg. 5.3), every iterate kept."""
    m = np.ones_like(g) if m is None else m
    x = x0.copy()
    r = -g - B @ x
    z = r / m
    d = z.copy()
    xs = [x.copy()]
    for _ in range(iters):
        Bd = B @ d
        a = (r @ z) / (d @ Bd)
        x = x + a * d
        r_new = r - a * Bd
        z_new = r_new / m
        d = z_new + (r_new @ z_new) / (r @ z) * d
        r, z = r_new, z_new
        xs.append(x.copy())
    return xs


def _phi(B, g, x):
    return 0.5 * x @ B @ x + g @ x


def _martens_stop(phis, eps=5e-4):
    """First i with i > k, phi_i < 0 and (phi_i - phi_{i-k}) / phi_i < k eps, k = max(10, ceil(0.1 i))."""
    for i in range(1, len(phis)):
        k = max(10, math.ceil(0.1 * i))
        if i > k and phis[i] < 0 and (phis[i] - phis[i - k]) / phis[i] < k * eps:
            return i
    return None


@pytest.fixture(scope="module")
def system():
    B = _spd(0)
    g = np.random.default_rng(1).normal(size=N)
    return B, g


@pytest.fixture(scope="module")
def run_cg():
    """One compiled martens_cg per option set (the matrix is an argument, not a constant)."""
    cache = {}

    def run(B, g, x0=None, precond=None, **opts):
        key = (x0 is None, precond is None, tuple(sorted(opts.items())))
        if key not in cache:

            def fn(B, g, x0, precond):
                return martens_cg(lambda v: B @ v, g, x0, precond=precond, **opts)

            cache[key] = jax.jit(fn)
        return cache[key](jnp.asarray(B), jnp.asarray(g), x0, precond)

    return run


# ---------------------------------------------------------------- Martens CG


def test_martens_rule_stops_where_the_rule_says(system, run_cg):
    B, g = system
    res = run_cg(B, g, max_iter=200)
    xs = _numpy_cg(B, g, np.zeros(N), 200)
    phis = [_phi(B, g, x) for x in xs]
    stop = _martens_stop(phis)
    assert stop is not None and stop < 200
    assert int(res.status) == 0, MARTENS_CG_STATUS[int(res.status)]
    assert int(res.num_iters) == stop
    assert int(res.num_matvec) == stop  # cold start: no product for the initial residual
    # CG iterates past ~n/2 carry rounding differences of ~1e-6 between implementations.
    np.testing.assert_allclose(np.asarray(res.x), xs[stop], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(res.phi), _phi(B, g, np.asarray(res.x)), rtol=1e-9)


def test_martens_cg_solves_to_tolerance_with_warm_start(system, run_cg):
    B, g = system
    exact = np.linalg.solve(B, -g)
    x0 = jnp.asarray(0.95 * exact + 0.01)
    res = run_cg(B, g, x0, eps=0.0, tol=1e-11, max_iter=400)
    assert int(res.status) == 1
    assert int(res.num_matvec) == int(res.num_iters) + 1  # warm start: one product for r0
    np.testing.assert_allclose(np.asarray(res.x), exact, rtol=1e-7, atol=1e-9)
    assert np.linalg.norm(B @ np.asarray(res.x) + g) <= 1e-11 * np.linalg.norm(g) * 1.001


def test_stored_iterates_follow_the_geometric_schedule(system, run_cg):
    B, g = system
    cap = 30
    res = run_cg(B, g, max_iter=cap, eps=0.0, tol=0.0)
    assert int(res.status) == 2 and int(res.num_iters) == cap
    expected = sorted({max(1, math.ceil(1.3**j - 1e-9)) for j in range(20)} & set(range(1, cap + 1)))
    expected = expected + ([cap] if expected[-1] != cap else [])
    used = int(res.num_saved)
    assert list(np.asarray(res.saved_iter[:used])) == expected
    assert np.all(np.asarray(res.saved_iter[used:]) == -1)
    xs = _numpy_cg(B, g, np.zeros(N), cap)
    for slot, it in enumerate(expected):
        np.testing.assert_allclose(np.asarray(res.saved_x[slot]), xs[it], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(float(res.saved_phi[slot]), _phi(B, g, xs[it]), rtol=1e-8)
        np.testing.assert_allclose(float(res.saved_sq_norm[slot]), xs[it] @ xs[it], rtol=1e-5)
    assert list(save_schedule(30)) == expected[: len(save_schedule(30))]


def test_diagonal_preconditioner_matches_numpy_pcg_and_helps(run_cg):
    rng = np.random.default_rng(2)
    scale = np.geomspace(1.0, 1e4, N)
    A = _spd(3, cond=10.0)
    B = np.sqrt(scale)[:, None] * A * np.sqrt(scale)[None, :]  # badly scaled, well conditioned core
    g = rng.normal(size=N)
    m = np.diag(B).copy()
    plain = run_cg(B, g, eps=0.0, tol=1e-8, max_iter=400)
    pre = run_cg(B, g, precond=jnp.asarray(m), eps=0.0, tol=1e-8, max_iter=400)
    assert int(pre.status) == 1
    assert int(pre.num_iters) < int(plain.num_iters)
    xs = _numpy_cg(B, g, np.zeros(N), int(pre.num_iters), m=m)
    np.testing.assert_allclose(np.asarray(pre.x), xs[-1], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(pre.x), np.linalg.solve(B, -g), rtol=1e-5, atol=1e-9)


def test_negative_curvature_stops_and_keeps_the_iterate(run_cg):
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    B = (q * np.linspace(-1.0, 3.0, N)) @ q.T
    g = rng.normal(size=N)
    res = run_cg(B, g, max_iter=200)
    assert int(res.status) == 3
    xs = _numpy_cg(B, g, np.zeros(N), int(res.num_iters))
    np.testing.assert_allclose(np.asarray(res.x), xs[-1], rtol=1e-7, atol=1e-9)
    assert int(res.num_matvec) == int(res.num_iters) + 1  # the product that found it counts
    assert np.all(np.isfinite(np.asarray(res.saved_x)))


def test_martens_preconditioner_formula():
    rng = np.random.default_rng(5)
    G = rng.normal(size=(7, 5))
    got = martens_preconditioner(jnp.asarray(G), 0.3)
    np.testing.assert_allclose(np.asarray(got), (np.sum(G**2, axis=0) + 0.3) ** 0.75, rtol=1e-12)


# ---------------------------------------------------------------- CG backtracking


def test_cg_backtrack_picks_the_best_stored_iterate(system, run_cg):
    B, g = system
    res = run_cg(B, g, max_iter=40, eps=0.0, tol=0.0)
    x = jnp.asarray(np.random.default_rng(6).normal(size=N))
    # A non-quadratic objective so the best iterate is not the last one.
    w = np.random.default_rng(7).normal(size=N)

    def fun(y):
        d = y - x
        return 0.5 * d @ jnp.asarray(B) @ d + jnp.asarray(g) @ d + 0.05 * jnp.sum(d**4) + w @ d

    used = int(res.num_saved)
    vals = [float(v) for v in jax.jit(jax.vmap(fun))(x + res.saved_x[:used])]
    full = jax.jit(lambda r: cg_backtrack(fun, x, r, exhaustive=True))(res)
    assert int(full.index) == int(np.argmin(vals))
    assert int(full.nfev) == used
    np.testing.assert_allclose(float(full.f), min(vals), rtol=1e-12)
    # Martens' rule: walk back from the last while the objective keeps improving.
    j = used - 1
    while j > 0 and vals[j - 1] < vals[j]:
        j -= 1
    quick = jax.jit(lambda r: cg_backtrack(fun, x, r))(res)
    assert int(quick.index) == j
    assert int(quick.nfev) == min(used, used - j + 1)
    np.testing.assert_allclose(np.asarray(quick.p), np.asarray(res.saved_x[j]))


# ---------------------------------------------------------------- damping


def test_damping_follows_the_levenberg_marquardt_rule_exactly():
    rhos = [0.1, 0.9, 0.5, -3.0, 0.8, 0.76, 0.25, 0.75, float("nan"), 1.2, float("-inf")]
    lam, expected = 1.0, []
    for rho in rhos:
        if not rho >= 0.25:
            lam *= 1.5
        elif rho > 0.75:
            lam *= 2.0 / 3.0
        expected.append(lam)
    step = jax.jit(update_damping)
    got, d = [], jnp.asarray(1.0)
    for rho in rhos:
        d = step(d, rho)
        got.append(float(d))
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    # other factors and thresholds
    assert float(update_damping(2.0, 0.05, increase=3.0)) == 6.0
    assert float(update_damping(2.0, 0.95, decrease=0.5)) == 1.0
    assert float(update_damping(2.0, 0.5, low=0.6, increase=2.0)) == 4.0
    assert float(update_damping(1e-9, 1.0, min_damping=1e-6)) == 1e-6


def test_reduction_ratio():
    assert float(reduction_ratio(0.5, 1.0, -1.0)) == 0.5
    assert float(reduction_ratio(1.5, 1.0, -1.0)) == -0.5
    assert float(reduction_ratio(0.5, 1.0, 0.0)) == -math.inf
    assert float(reduction_ratio(float("nan"), 1.0, -1.0)) == -math.inf
    g = jax.grad(lambda md: reduction_ratio(0.5, 1.0, md))(0.0)
    assert np.isfinite(float(g))


# ---------------------------------------------------------------- bad input


def test_martens_cg_bad_input():
    mv = lambda v: v  # noqa: E731
    with pytest.raises(ValueError, match="g must be a flat 1-D vector"):
        martens_cg(mv, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        martens_cg(mv, jnp.ones(3), max_iter=0)
    with pytest.raises(ValueError, match="x0 must have the shape of g"):
        martens_cg(mv, jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match="precond must have the shape of g"):
        martens_cg(mv, jnp.ones(3), precond=jnp.ones(2))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        martens_cg(mv, jnp.ones(3), eps=-1.0)
    with pytest.raises(ValueError, match="damping must be >= 0"):
        martens_preconditioner(jnp.ones((2, 3)), -1.0)

"""Line searches: Wolfe/Armijo conditions checked with analytic derivatives in numpy.

The searched functions are written in JAX; every check re-evaluates phi(t) = f(x + t d)
and phi'(t) independently with closed-form numpy expressions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimizers._step_length import backtracking, strong_wolfe

# The numpy reference of the NaN-region function is evaluated at rejected trials beyond t = 0.5.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")

# --------------------------------------------------------------------- test functions
# Each entry: (jax f of a 1-D x, numpy f, numpy gradient, x0, d).


def _mt1():  # More & Thuente (1994) function 1: -t / (t^2 + 2), minimum at sqrt(2)
    b = 2.0
    return (
        lambda x: -x[0] / (x[0] ** 2 + b),
        lambda x: -x[0] / (x[0] ** 2 + b),
        lambda x: np.array([(x[0] ** 2 - b) / (x[0] ** 2 + b) ** 2]),
    )


def _mt2():  # More & Thuente function 2: (t + b)^5 - 2 (t + b)^4, b = 0.004
    b = 0.004
    return (
        lambda x: (x[0] + b) ** 5 - 2 * (x[0] + b) ** 4,
        lambda x: (x[0] + b) ** 5 - 2 * (x[0] + b) ** 4,
        lambda x: np.array([5 * (x[0] + b) ** 4 - 8 * (x[0] + b) ** 3]),
    )


def _mt3():  # More & Thuente function 3: piecewise |t - 1| smoothed, plus an oscillation
    b, ell = 0.01, 39.0
    amp = 2 * (1 - b) / (ell * np.pi)

    def f(x, xp):
        t = x[0]
        base = xp.where(t <= 1 - b, 1 - t, xp.where(t >= 1 + b, t - 1, (t - 1) ** 2 / (2 * b) + b / 2))
        return base + amp * xp.sin(ell * np.pi * t / 2)

    def g(x):
        t = x[0]
        base = -1.0 if t <= 1 - b else (1.0 if t >= 1 + b else (t - 1) / b)
        return np.array([base + amp * ell * np.pi / 2 * np.cos(ell * np.pi * t / 2)])

    return (lambda x: f(x, jnp), lambda x: f(x, np), g)


def _yanai(b1, b2):  # More & Thuente functions 4-6 (Yanai, Ozawa & Kaneko 1981)
    def gam(b):
        return np.sqrt(1 + b * b) - b

    def f(x, xp):
        t = x[0]
        return gam(b1) * xp.sqrt((1 - t) ** 2 + b2**2) + gam(b2) * xp.sqrt(t**2 + b1**2)

    def g(x):
        t = x[0]
        return np.array([-gam(b1) * (1 - t) / np.sqrt((1 - t) ** 2 + b2**2) + gam(b2) * t / np.sqrt(t**2 + b1**2)])

    return (lambda x: f(x, jnp), lambda x: f(x, np), g)


def _rosenbrock():
    def f(x, xp=jnp):
        return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2

    def g(x):
        return np.array([-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]), 200 * (x[1] - x[0] ** 2)])

    return (f, lambda x: f(x, np), g)


def _far_quadratic():  # minimum at t = 1e6: needs extrapolation
    return (
        lambda x: 1e-6 * ((x[0] - 1e6) ** 2 + 10 * (x[1] - 2e6) ** 2),
        lambda x: 1e-6 * ((x[0] - 1e6) ** 2 + 10 * (x[1] - 2e6) ** 2),
        lambda x: 1e-6 * np.array([2 * (x[0] - 1e6), 20 * (x[1] - 2e6)]),
    )


def _flat_start():  # phi'(0) = -4e-8 at the start, minimum at t = 10 (d = 1)
    return (
        lambda x: (x[0] - 10.0) ** 4 * 1e-11,
        lambda x: (x[0] - 10.0) ** 4 * 1e-11,
        lambda x: np.array([4e-11 * (x[0] - 10.0) ** 3]),
    )


def _nan_beyond_half():
    # phi(t) = -log(0.5 - t) + 10 t^2 - 5 t: NaN for t > 0.5, minimizer inside (0, 0.5).
    def f(x, xp):
        return -xp.log(0.5 - x[0]) + 10 * x[0] ** 2 - 5 * x[0]

    return (lambda x: f(x, jnp), lambda x: f(x, np), lambda x: np.array([1 / (0.5 - x[0]) + 20 * x[0] - 5]))


def _padded(fns, x0, d=None):
    """Lift a test function to R^2 (1-D ones ignore x[1]) so all share one compiled search."""
    f, fn, gn = fns
    x0 = np.asarray(x0, float)
    d = -gn(x0) if d is None else np.asarray(d, float)
    n = x0.size
    pad = lambda v: np.concatenate([v, np.zeros(2 - n)])  # noqa: E731
    return (
        lambda x: f(x[:n]),
        lambda x: fn(x[:n]),
        lambda x: pad(gn(x[:n])),
        pad(x0),
        pad(d),
    )


CASES = {
    "mt1": _padded(_mt1(), [0.0]),
    "mt2": _padded(_mt2(), [0.0]),
    "mt3": _padded(_mt3(), [0.0]),
    "mt4": _padded(_yanai(0.001, 0.001), [0.0]),
    "mt5": _padded(_yanai(0.01, 0.001), [0.0]),
    "mt6": _padded(_yanai(0.001, 0.01), [0.0]),
    "rosen-sd": _padded(_rosenbrock(), [-1.2, 1.0]),
    "rosen-newton": _padded(_rosenbrock(), [-1.2, 1.0], [0.02471, 0.38301]),
    "far-quadratic": _padded(_far_quadratic(), [0.0, 0.0]),
    "flat-start": _padded(_flat_start(), [0.0], [1.0]),
    "nan-beyond-half": _padded(_nan_beyond_half(), [0.0], [1.0]),
}
NAMES = list(CASES)
INIT_STEPS = [1e-3, 1e-1, 1e1, 1e3]
C2S = [0.9, 0.1]
GRID = [(name, t0, c2) for name in NAMES for t0 in INIT_STEPS for c2 in C2S]


def _phi(fn, gn, x0, d, t):
    x = x0 + t * d
    return fn(x), float(gn(x) @ d)


@pytest.fixture(scope="module")
def wolfe_grid():
    """All (function, init_step, c2) searches in one compiled, vmapped call."""
    branches = [jax.value_and_grad(CASES[n][0]) for n in NAMES]
    x0s = jnp.asarray(np.stack([CASES[n][3] for n, _, _ in GRID]))
    ds = jnp.asarray(np.stack([CASES[n][4] for n, _, _ in GRID]))
    idx = jnp.asarray([NAMES.index(n) for n, _, _ in GRID])
    t0s = jnp.asarray([t0 for _, t0, _ in GRID])
    c2s = jnp.asarray([c2 for _, _, c2 in GRID])

    @jax.jit
    @jax.vmap
    def search(i, x0, d, t0, c2):
        vg = lambda x: jax.lax.switch(i, branches, x)  # noqa: E731
        f0, g0 = vg(x0)
        return strong_wolfe(vg, x0, f0, g0, d, init_step=t0, c1=1e-4, c2=c2, max_iter=30)

    return search(idx, x0s, ds, t0s, c2s)


@pytest.mark.parametrize("name", NAMES)
def test_strong_wolfe_conditions_hold(wolfe_grid, name):
    res = wolfe_grid
    _, fn, gn, x0, d = CASES[name]
    c1 = 1e-4
    phi0, dphi0 = _phi(fn, gn, x0, d, 0.0)
    assert dphi0 < 0
    for i, (n, t0, c2) in enumerate(GRID):
        if n != name:
            continue
        t = float(res.step[i])
        assert bool(res.success[i]), (name, t0, c2, t, int(res.nfev[i]))
        assert bool(res.decrease[i])
        assert t > 0
        phi, dphi = _phi(fn, gn, x0, d, t)
        assert np.isfinite(phi) and np.isfinite(dphi)
        assert phi <= phi0 + c1 * t * dphi0 + 1e-14 * abs(phi0), (name, t0, c2)
        assert abs(dphi) <= c2 * abs(dphi0) * (1 + 1e-9), (name, t0, c2, t, dphi, dphi0)
        np.testing.assert_allclose(np.asarray(res.x[i]), x0 + t * d, rtol=1e-15, atol=0)
        np.testing.assert_allclose(float(res.f[i]), phi, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(np.asarray(res.g[i]), gn(x0 + t * d), rtol=1e-9, atol=1e-11)
        assert int(res.nfev[i]) == int(res.ngev[i]) <= 30


def test_strong_wolfe_unit_step_accepted_on_quadratic_newton_step():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    f = lambda x: 0.5 * x @ jnp.asarray(A) @ x - x[0]  # noqa: E731
    x0 = jnp.asarray([1.0, -1.0])
    g0 = jnp.asarray(A @ np.asarray(x0) - [1.0, 0.0])
    d = jnp.asarray(-np.linalg.solve(A, np.asarray(g0)))
    res = strong_wolfe(jax.value_and_grad(f), x0, f(x0), g0, d)
    assert float(res.step) == 1.0 and int(res.nfev) == 1 and bool(res.success)
    np.testing.assert_allclose(np.asarray(res.x), np.linalg.solve(A, [1.0, 0.0]), rtol=1e-14)


def test_strong_wolfe_unbounded_slope_returns_best_armijo_point():
    # phi(t) = log(0.5 - t): decreasing to -inf at t = 0.5 and NaN beyond. No strong-Wolfe
    # point exists (|phi'| only grows), so the search fails but keeps its best decrease.
    f = lambda x: jnp.log(0.5 - x[0])  # noqa: E731
    x0 = jnp.zeros(1)
    f0, g0 = jax.value_and_grad(f)(x0)
    res = strong_wolfe(jax.value_and_grad(f), x0, f0, g0, jnp.ones(1), max_iter=20)
    t = float(res.step)
    assert not bool(res.success) and bool(res.decrease)
    assert 0 < t < 0.5 and np.isfinite(float(res.f))
    np.testing.assert_allclose(float(res.f), np.log(0.5 - t), rtol=1e-12)
    assert float(res.f) <= np.log(0.5) + 1e-4 * t * (-2.0)
    assert int(res.nfev) <= 20


def _nan_beyond_start(x):
    # f = -x[0] for x[0] <= x[1], NaN beyond (x[1] is the start, never moved: d = (1, 0)).
    # The slope is -1 at the start, so d is a descent direction, but every trial is NaN.
    bad = x[0] > x[1]
    return jnp.where(bad, jnp.nan, -jnp.where(bad, 0.0, x[0]))


def test_no_decrease_returns_start_unchanged():
    f = _nan_beyond_start
    # From 0 the bracket can shrink to 2^-1074 (any t > 0 moves x): the cap stops it.
    # From 1, x + t d == x once t <= eps: the search stops there, before the cap.
    x0s = jnp.asarray([[0.0, 0.0], [1.0, 1.0]])
    d = jnp.asarray([1.0, 0.0])

    @jax.jit
    @jax.vmap
    def searches(x0):
        f0, g0 = jax.value_and_grad(f)(x0)
        sw = strong_wolfe(jax.value_and_grad(f), x0, f0, g0, d, max_iter=60)
        bt = backtracking(f, jax.grad(f), x0, f0, g0, d, shrink=0.1, max_iter=40, interpolate=False)
        return sw, bt, g0

    sw, bt, g0 = searches(x0s)
    np.testing.assert_array_equal(np.asarray(g0), [[-1.0, 0.0], [-1.0, 0.0]])
    # Zoom bisects [0, 1]: the 53rd trial leaves a bracket of width 2^-52 = eps.
    np.testing.assert_array_equal(np.asarray(sw.nfev), [60, 53])
    np.testing.assert_array_equal(np.asarray(sw.ngev), [60, 53])
    # Backtracking tries t = 10^-k, k = 0..15, and stops when the next would be <= eps.
    np.testing.assert_array_equal(np.asarray(bt.nfev), [40, 16])
    np.testing.assert_array_equal(np.asarray(bt.ngev), [0, 0])
    for r in (sw, bt):
        np.testing.assert_array_equal(np.asarray(r.step), [0.0, 0.0])
        assert not np.any(np.asarray(r.success)) and not np.any(np.asarray(r.decrease))
        np.testing.assert_array_equal(np.asarray(r.x), np.asarray(x0s))
        np.testing.assert_array_equal(np.asarray(r.f), [0.0, -1.0])
        np.testing.assert_array_equal(np.asarray(r.g), np.asarray(g0))


def test_non_descent_direction_makes_no_evaluation():
    f, fn, gn, x0, _ = CASES["rosen-sd"]
    g0 = gn(x0)
    ds = jnp.asarray(np.stack([g0, np.zeros(2)]))  # uphill, and the zero direction
    calls = []

    def vg(x):
        jax.debug.callback(lambda: calls.append(1))
        return jax.value_and_grad(f)(x)

    x0j, g0j = jnp.asarray(x0), jnp.asarray(g0)
    res = jax.vmap(lambda d: strong_wolfe(vg, x0j, fn(x0), g0j, d))(ds)
    res2 = jax.vmap(lambda d: backtracking(f, jax.grad(f), x0j, fn(x0), g0j, d))(ds)
    jax.effects_barrier()
    assert calls == []
    for r in (res, res2):
        np.testing.assert_array_equal(np.asarray(r.step), 0.0)
        np.testing.assert_array_equal(np.asarray(r.nfev), 0)
        np.testing.assert_array_equal(np.asarray(r.ngev), 0)
        assert not np.any(np.asarray(r.decrease)) and not np.any(np.asarray(r.success))
        np.testing.assert_array_equal(np.asarray(r.x), np.stack([x0, x0]))


def _recording(fun, log):
    """Wrap fun so that each call appends the evaluated point to log (host side)."""

    def wrapped(x):
        jax.debug.callback(lambda v: log.append(np.asarray(v).copy()), x)
        return fun(x)

    return wrapped


@pytest.mark.parametrize("name,t0", [("mt3", 1e-3), ("nan-beyond-half", 10.0)])
def test_strong_wolfe_counts_every_evaluation(name, t0):
    f, fn, gn, x0, d = CASES[name]
    log = []
    vg = _recording(jax.value_and_grad(f), log)
    res = strong_wolfe(vg, jnp.asarray(x0), fn(x0), jnp.asarray(gn(x0)), jnp.asarray(d), init_step=t0, c2=0.1)
    jax.effects_barrier()
    assert bool(res.success)
    assert int(res.nfev) == int(res.ngev) == len(log) >= 3
    # On success the returned point is the last one evaluated (the search stops there).
    np.testing.assert_array_equal(log[-1], np.asarray(res.x))
    if name == "nan-beyond-half":
        assert not np.isfinite(fn(log[0]))  # the first trial was in the NaN region


@pytest.mark.parametrize("interpolate", [True, False])
@pytest.mark.parametrize("name", ["rosen-sd", "nan-beyond-half"])
def test_backtracking_armijo_and_safeguards(name, interpolate):
    f, fn, gn, x0, d = CASES[name]
    d = d * 10 / np.linalg.norm(d)  # the unit step is far too long: it must backtrack
    c1, shrink = 1e-4, 0.5
    fun_log, grad_log = [], []
    res = backtracking(
        _recording(f, fun_log),
        _recording(jax.grad(f), grad_log),
        jnp.asarray(x0),
        fn(x0),
        jnp.asarray(gn(x0)),
        jnp.asarray(d),
        c1=c1,
        shrink=shrink,
        interpolate=interpolate,
    )
    jax.effects_barrier()
    t = float(res.step)
    phi0, dphi0 = _phi(fn, gn, x0, d, 0.0)
    assert bool(res.success) and bool(res.decrease)
    assert int(res.nfev) == len(fun_log) >= 2 and int(res.ngev) == len(grad_log) == 1
    # Trial steps recovered from the evaluated points.
    k = int(np.argmax(np.abs(d)))
    trials = [(p[k] - x0[k]) / d[k] for p in fun_log]
    np.testing.assert_allclose(trials[-1], t, rtol=1e-12)
    for a in trials[:-1]:  # every rejected trial violates Armijo (or is non-finite)
        phi_a = fn(x0 + a * d)
        assert not (np.isfinite(phi_a) and phi_a <= phi0 + c1 * a * dphi0)
    ratios = np.array(trials[1:]) / np.array(trials[:-1])
    if interpolate:
        assert np.all(ratios >= 0.1 - 1e-12) and np.all(ratios <= shrink + 1e-12)
    else:
        np.testing.assert_allclose(ratios, shrink, rtol=1e-12)
    assert fn(x0 + t * d) <= phi0 + c1 * t * dphi0
    np.testing.assert_array_equal(np.asarray(res.x), fun_log[-1])
    np.testing.assert_allclose(np.asarray(res.g), gn(np.asarray(res.x)), rtol=1e-10)
    np.testing.assert_allclose(float(res.f), fn(np.asarray(res.x)), rtol=1e-12)


def test_backtracking_vmap_over_starts():
    f, fn, gn, _, _ = CASES["nan-beyond-half"]
    starts = np.array([[0.0, 0.0], [0.1, 0.0], [0.3, 0.0], [-1.0, 0.0]])

    @jax.jit
    @jax.vmap
    def search(x):
        f0, g0 = jax.value_and_grad(f)(x)
        return backtracking(f, jax.grad(f), x, f0, g0, -jnp.sign(g0) * 5.0)

    res = search(jnp.asarray(starts))
    for i, x0 in enumerate(starts):
        d = -np.sign(gn(x0)) * 5.0
        t = float(res.step[i])
        assert bool(res.success[i]) and t > 0
        assert fn(x0 + t * d) <= fn(x0) + 1e-4 * t * float(gn(x0) @ d)
        np.testing.assert_allclose(np.asarray(res.g[i]), gn(x0 + t * d), rtol=1e-10)


def test_float32_keeps_dtype():
    f, _, gn, x0, d = CASES["rosen-sd"]
    x32 = jnp.asarray(x0, jnp.float32)
    f0, g0 = jax.value_and_grad(f)(x32)
    d32 = -g0
    res = strong_wolfe(jax.value_and_grad(f), x32, f0, g0, d32)
    res2 = backtracking(f, jax.grad(f), x32, f0, g0, d32)
    for r in (res, res2):
        assert r.x.dtype == r.g.dtype == r.step.dtype == r.f.dtype == jnp.float32
        assert r.nfev.dtype == jnp.int32
        assert bool(r.success) and float(r.f) < float(f0)


def test_bad_arguments():
    f, _, _, _, _ = CASES["rosen-sd"]
    vg = jax.value_and_grad(f)
    x, g = jnp.ones(2), jnp.ones(2)
    with pytest.raises(ValueError, match="x must be a flat 1-D"):
        strong_wolfe(vg, jnp.ones((2, 1)), 1.0, g, g)
    with pytest.raises(ValueError, match="d must have the shape"):
        strong_wolfe(vg, x, 1.0, g, jnp.ones(3))
    with pytest.raises(TypeError, match="x must be a floating"):
        backtracking(f, jax.grad(f), jnp.ones(2, jnp.int32), 1.0, g, -g)
    with pytest.raises(ValueError, match="c1 < c2"):
        strong_wolfe(vg, x, 1.0, g, -g, c1=0.5, c2=0.1)
    with pytest.raises(ValueError, match="init_step"):
        strong_wolfe(vg, x, 1.0, g, -g, init_step=0.0)
    with pytest.raises(ValueError, match="shrink"):
        backtracking(f, jax.grad(f), x, 1.0, g, -g, shrink=1.5)
    with pytest.raises(TypeError, match="max_iter"):
        backtracking(f, jax.grad(f), x, 1.0, g, -g, max_iter=2.5)

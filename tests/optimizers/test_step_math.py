"""The step of each method against its textbook formula, computed independently in numpy
from the recorded path: L-BFGS two-loop recursion (N&W Alg. 7.4), dense BFGS (N&W eq. 6.17,
6.20), Newton's eigenvalue modification, Newton-CG's negative-curvature exit, and the
trust-region radius update of N&W Alg. 4.1."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optimizers

N = 6
_Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((N, N)))
A = (_Q * np.logspace(0, 2, N)) @ _Q.T
C = np.linspace(-1, 2, N)
X0 = np.zeros(N)
EPS = np.finfo(float).eps


def quad(x):
    r = x - C
    return 0.5 * r @ A @ r


def quad_grad(x):
    return A @ (x - C)


def himmelblau(x):
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


def himmelblau_grad(x):
    a, b = x[0] ** 2 + x[1] - 11, x[0] + x[1] ** 2 - 7
    return np.array([4 * a * x[0] + 2 * b, 2 * a + 4 * b * x[1]])


def himmelblau_hess(x):
    return np.array([[12 * x[0] ** 2 + 4 * x[1] - 42, 4 * (x[0] + x[1])],
                     [4 * (x[0] + x[1]), 4 * x[0] + 12 * x[1] ** 2 - 26]])


def _path(method, fun, x0, max_iter, **options):
    res = optimizers.minimize(fun, jnp.asarray(x0), method, gtol=1e-10, max_iter=max_iter,
                              record_path=True, **options)
    return np.asarray(res.trace.x[: int(res.nit) + 1]), res


def _assert_parallel(step, direction):
    cos = step @ direction / (np.linalg.norm(step) * np.linalg.norm(direction))
    assert cos > 1 - 1e-9, cos


def _two_loop(g, pairs):
    """N&W Alg. 7.4 with H0 = gamma I, gamma = s.y / y.y of the newest pair (eq. 7.20)."""
    q, alphas = g.copy(), []
    for s, y in reversed(pairs):
        a = (s @ q) / (s @ y)
        alphas.append(a)
        q -= a * y
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), a in zip(pairs, reversed(alphas)):
        b = (y @ r) / (s @ y)
        r += s * (a - b)
    return -r


def test_lbfgs_steps_follow_the_two_loop_recursion_with_memory_wraparound():
    m = 3
    xs, res = _path("lbfgs", quad, X0, 40, m=m)
    assert len(xs) > m + 3  # the circular buffer wraps around
    gs = [quad_grad(x) for x in xs]
    g0 = gs[0]
    _assert_parallel(xs[1] - xs[0], -g0)
    pairs = []
    for k in range(1, len(xs) - 1):
        s, y = xs[k] - xs[k - 1], gs[k] - gs[k - 1]
        if s @ y > EPS * (y @ y):
            pairs = (pairs + [(s, y)])[-m:]
        _assert_parallel(xs[k + 1] - xs[k], _two_loop(gs[k], pairs))


def test_bfgs_steps_follow_the_dense_inverse_update():
    xs, res = _path("bfgs", quad, X0, 40)
    assert res.success
    gs = [quad_grad(x) for x in xs]
    _assert_parallel(xs[1] - xs[0], -gs[0])
    h = None
    for k in range(1, len(xs) - 1):
        s, y = xs[k] - xs[k - 1], gs[k] - gs[k - 1]
        if h is None:
            h = (s @ y) / (y @ y) * np.eye(N)  # N&W eq. 6.20
        rho = 1 / (s @ y)
        v = np.eye(N) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)  # N&W eq. 6.17
        _assert_parallel(xs[k + 1] - xs[k], -h @ gs[k])


def test_newton_modification_and_plain_newton_step():
    # beside Himmelblau's local maximum the Hessian is indefinite / negative definite
    for x0 in ([-0.27, -0.9], [0.5, -1.5]):
        x0 = np.array(x0)
        xs, _ = _path("newton", himmelblau, x0, 1)
        lam, q = np.linalg.eigh(himmelblau_hess(x0))
        assert lam.min() < 0
        delta = 2 * EPS * max(1.0, np.abs(lam).max())
        d = -q @ ((q.T @ himmelblau_grad(x0)) / np.maximum(np.abs(lam), delta))
        _assert_parallel(xs[1] - xs[0], d)
    # positive definite quadratic: one full Newton step to the minimizer
    xs, res = _path("newton", quad, X0, 5)
    assert int(res.nit) == 1 and res.success
    np.testing.assert_allclose(xs[1], C, atol=1e-12)


def test_newton_cg_negative_curvature_at_first_cg_step_is_steepest_descent():
    x0 = np.array([-0.27, -0.9])
    assert np.linalg.eigvalsh(himmelblau_hess(x0)).max() < 0
    xs, _ = _path("newton-cg", himmelblau, x0, 1)
    _assert_parallel(xs[1] - xs[0], -himmelblau_grad(x0))


def rosen(x):
    return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


def rosen_grad(x):
    return np.array([-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]), 200 * (x[1] - x[0] ** 2)])


def rosen_hess(x):
    return np.array([[1200 * x[0] ** 2 - 400 * x[1] + 2, -400 * x[0]], [-400 * x[0], 200.0]])


def test_trust_region_radius_update_follows_algorithm_4_1():
    """Through the optax transform, whose state exposes the radius after each update."""
    opt = optimizers.trust_ncg(initial_radius=0.05, max_radius=0.8, eta=0.15)
    fun = lambda p: rosen(p)  # noqa: E731
    step = jax.jit(lambda p, s: opt.update(jax.grad(fun)(p), s, p, value=fun(p), grad=jax.grad(fun)(p),
                                           value_fn=fun))
    x = jnp.array([-1.2, 1.0])
    state = opt.init(x)
    radius = 0.05
    kinds = set()
    for _ in range(40):
        upd, state = step(x, state)
        p = np.asarray(upd)
        new_radius = float(state.method_state.radius)
        xn = np.asarray(x)
        if not np.any(p):  # rejected: rho <= eta < 1/4, so the radius shrinks to a quarter
            kinds.add("rejected")
            assert np.isclose(new_radius, radius / 4, rtol=1e-12)
        else:
            assert np.linalg.norm(p) <= radius * (1 + 1e-10)
            g, h = rosen_grad(xn), rosen_hess(xn)
            rho = (rosen(xn) - rosen(xn + p)) / -(g @ p + 0.5 * p @ h @ p)
            assert rho > 0.15
            on_boundary = np.linalg.norm(p) >= radius * (1 - 1e-8)
            if rho < 0.25:
                kinds.add("shrink")
                expected = radius / 4
            elif rho > 0.75 and on_boundary:
                kinds.add("grow")
                expected = min(2 * radius, 0.8)
            else:
                kinds.add("keep")
                expected = radius
            assert np.isclose(new_radius, expected, rtol=1e-12), (rho, on_boundary, radius, new_radius)
        radius = new_radius
        x = optax.apply_updates(x, upd)
    assert {"grow", "keep"} <= kinds
    assert float(rosen(np.asarray(x))) < 1e-10

"""The step of each method against its textbook formula, computed independently in numpy
from the recorded path: L-BFGS two-loop recursion (N&W Alg. 7.4), dense BFGS (N&W eq. 6.17,
6.20), Newton's eigenvalue modification, Newton-CG's negative-curvature exit, and the
trust-region radius update of N&W Alg. 4.1. The paths come from the shared vmapped runs of
mgh_problems.solved (Rosenbrock, Himmelblau beside its maximum, a quadratic with kappa 1e6)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers

from .mgh_problems import CORE, QUAD_HESSIAN, SMALL_DIM, solved

EPS = np.finfo(float).eps
INDEX = {p.name: i for i, p in enumerate(CORE)}
QUAD_C = np.linspace(-1.0, 1.0, SMALL_DIM)


def rosen(x):
    return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


def rosen_grad(x):
    return np.array([-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]), 200 * (x[1] - x[0] ** 2)])


def rosen_hess(x):
    return np.array([[1200 * x[0] ** 2 - 400 * x[1] + 2, -400 * x[0]], [-400 * x[0], 200.0]])


def himmelblau_grad(x):
    a, b = x[0] ** 2 + x[1] - 11, x[0] + x[1] ** 2 - 7
    return np.array([4 * a * x[0] + 2 * b, 2 * a + 4 * b * x[1]])


def himmelblau_hess(x):
    return np.array([[12 * x[0] ** 2 + 4 * x[1] - 42, 4 * (x[0] + x[1])],
                     [4 * (x[0] + x[1]), 4 * x[0] + 12 * x[1] ** 2 - 26]])


def quad_grad(x):
    return QUAD_HESSIAN @ (x - QUAD_C)


GRADS = {"rosenbrock": rosen_grad, "himmelblau": himmelblau_grad, "ill_conditioned_quadratic": quad_grad}


def _path(method, name):
    """Recorded iterates (unpadded) and their gradients, written by hand, for one problem."""
    res = solved(method)
    i = INDEX[name]
    dim = len(CORE[i].x0)
    xs = np.asarray(res.trace.x[i, : int(res.nit[i]) + 1, :dim])
    return xs, [GRADS[name](x) for x in xs], res, i


def _assert_parallel(step, direction, tol):
    cos = step @ direction / (np.linalg.norm(step) * np.linalg.norm(direction))
    assert cos > 1 - tol, cos


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


@pytest.mark.parametrize("name, tol", [("rosenbrock", 1e-9), ("ill_conditioned_quadratic", 1e-6)])
def test_lbfgs_steps_follow_the_two_loop_recursion(name, tol):
    m = optimizers.method_options("lbfgs")["memory_size"]
    xs, gs, _, _ = _path("lbfgs", name)
    assert len(xs) > m + 5  # the circular history buffer wraps around
    _assert_parallel(xs[1] - xs[0], -gs[0], 1e-12)
    pairs = []
    for k in range(1, len(xs) - 1):
        s, y = xs[k] - xs[k - 1], gs[k] - gs[k - 1]
        if s @ y > EPS * (y @ y):
            pairs = (pairs + [(s, y)])[-m:]
        _assert_parallel(xs[k + 1] - xs[k], _two_loop(gs[k], pairs), tol)


@pytest.mark.parametrize("name, tol", [("rosenbrock", 1e-9), ("ill_conditioned_quadratic", 1e-6)])
def test_bfgs_steps_follow_the_dense_inverse_update(name, tol):
    xs, gs, _, _ = _path("bfgs", name)
    n = xs.shape[1]
    _assert_parallel(xs[1] - xs[0], -gs[0], 1e-12)
    h = None
    for k in range(1, len(xs) - 1):
        s, y = xs[k] - xs[k - 1], gs[k] - gs[k - 1]
        if s @ y > EPS * (y @ y):
            if h is None:
                h = (s @ y) / (y @ y) * np.eye(n)  # N&W eq. 6.20
            rho = 1 / (s @ y)
            v = np.eye(n) - rho * np.outer(y, s)
            h = v.T @ h @ v + rho * np.outer(s, s)  # N&W eq. 6.17
        _assert_parallel(xs[k + 1] - xs[k], -h @ gs[k], tol)


def test_newton_modification_and_plain_newton_step():
    # beside Himmelblau's local maximum the Hessian is negative definite: flipped eigenvalues
    xs, gs, _, _ = _path("newton", "himmelblau")
    lam, q = np.linalg.eigh(himmelblau_hess(xs[0]))
    assert lam.max() < 0
    delta = 2 * EPS * max(1.0, np.abs(lam).max())
    _assert_parallel(xs[1] - xs[0], -q @ ((q.T @ gs[0]) / np.maximum(np.abs(lam), delta)), 1e-12)
    for x, g, x_next in zip(xs[1:-1], gs[1:-1], xs[2:]):  # and the modified step all along
        lam, q = np.linalg.eigh(himmelblau_hess(x))
        d = -q @ ((q.T @ g) / np.maximum(np.abs(lam), 2 * EPS * max(1.0, np.abs(lam).max())))
        _assert_parallel(x_next - x, d, 1e-9)
    # positive definite quadratic (kappa 1e6): one full Newton step to the minimizer
    xs, _, res, i = _path("newton", "ill_conditioned_quadratic")
    assert int(res.nit[i]) == 1
    np.testing.assert_allclose(xs[1], QUAD_C, atol=1e-10)


def test_newton_cg_negative_curvature_at_first_cg_step_is_steepest_descent():
    xs, gs, _, _ = _path("newton-cg", "himmelblau")
    assert np.linalg.eigvalsh(himmelblau_hess(xs[0])).max() < 0
    _assert_parallel(xs[1] - xs[0], -gs[0], 1e-12)


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
        new_radius = float(state.method_state.globalisation.radius)
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

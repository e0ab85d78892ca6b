"""The transforms inside optax chains: the incoming updates are the direction's or model's
gradient, value_fn is what the globalisation measures (optimizers/_transforms.py, the table
there). Each chained step is checked against the same math done by hand in numpy on a small
quadratic, f(x) = ||L x - c||^2 (so H = 2 L^T L and the Gauss-Newton split is exact)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers

L = np.array([[2.0, 0.5, 0.0], [0.0, 1.5, 0.3], [0.2, 0.0, 1.0]])
C = np.array([1.0, -1.0, 0.5])
H = 2 * L.T @ L
X0 = jnp.array([1.0, -1.0, 2.0])
WD = 0.3  # weight decay: u = g + WD x


def residual(x):
    return jnp.asarray(L) @ x - jnp.asarray(C)


def f(x):
    return jnp.sum(residual(x) ** 2)


def f_np(x):
    return float(np.sum((L @ x - C) ** 2))


def g_np(x):
    return 2 * L.T @ (L @ x - C)


def update(opt, x=X0, state=None, updates=None):
    """One opt.update from x with value and grad given (updates default: the gradient, as
    optax.chain passes it to its first transform)."""
    value, grad = jax.value_and_grad(f)(x)
    state = opt.init(x) if state is None else state
    out, state = opt.update(grad if updates is None else updates, state, x, value=value, grad=grad, value_fn=f)
    return np.asarray(out), state


def hand_cg(a, rhs, rtol, max_iter=60):
    """Plain CG from 0 on a d = rhs, stopped at ||rhs - a d|| <= rtol ||rhs|| (the rule of
    truncated/Steihaug CG, before any boundary); checks that the stop is not borderline, so
    that rounding cannot move it by an iteration."""
    d, r = np.zeros_like(rhs), rhs.copy()
    p, bound = r.copy(), rtol * np.linalg.norm(rhs)
    norms = [np.linalg.norm(r)]
    while norms[-1] > bound and len(norms) <= max_iter:
        ap = a @ p
        alpha = (r @ r) / (p @ ap)
        d = d + alpha * p
        r_new = r - alpha * ap
        p = r_new + (r_new @ r_new) / (r @ r) * p
        r = r_new
        norms.append(np.linalg.norm(r))
    assert norms[-1] < 0.9 * bound and all(n > 1.1 * bound for n in norms[:-1]), (norms, bound)
    return d


def forcing(u):
    return min(0.5, np.sqrt(np.linalg.norm(u)))


def wolfe_at(x, step, c1=1e-4, c2=0.9):
    """The strong-Wolfe tests of the search at x + step (step = t d) for f."""
    f0, slope0 = f_np(x), g_np(x) @ step
    f1, slope1 = f_np(x + step), g_np(x + step) @ step
    return slope0 < 0 and f1 <= f0 + c1 * slope0 and f1 < f0 and abs(slope1) <= c2 * abs(slope0)


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# Rounding: a few CG iterations or a 3 x 3 solve in float64 on H (condition ~ 20) agree with
# the numpy replica to ~1e-14 relative; 1e-10 leaves room and still tells g from g + WD x
# (whose steps differ by ~1e-1 here).
RTOL = 1e-10


def test_newton_cg_direction_is_built_from_the_decayed_gradient():
    x = np.asarray(X0)
    u = g_np(x) + WD * x
    d = hand_cg(H, -u, forcing(u))
    assert wolfe_at(x, d)  # so the search accepts its first trial, t = 1
    step, state = update(optax.chain(optax.add_decayed_weights(WD), optimizers.newton_cg()))
    np.testing.assert_allclose(step, d, rtol=RTOL)
    assert not bool(state[1].stalled)
    plain, _ = update(optimizers.newton_cg())
    assert np.linalg.norm(plain - d) > 1e-2 * np.linalg.norm(d)  # the chain changed the step


def test_clipped_newton_cg_searches_along_the_newton_direction_of_the_clipped_gradient():
    x, c = np.asarray(X0), 1e-6
    u = c * g_np(x) / np.linalg.norm(g_np(x))
    d = hand_cg(H, -u, forcing(u))  # forcing 1e-3: three CG iterations, close to -H^-1 u
    step, _ = update(optax.chain(optax.clip_by_global_norm(c), optimizers.newton_cg()))
    # the search rescales d (t = 1 fails the curvature test: d is 1e-6 of a Newton step)
    assert cosine(step, d) > 1 - RTOL
    assert np.linalg.norm(step) > 10 * np.linalg.norm(d)
    assert wolfe_at(x, step)


def test_clipped_trust_ncg_takes_the_clipped_newton_step():
    x, c = np.asarray(X0), 1e-6
    u = c * g_np(x) / np.linalg.norm(g_np(x))
    p = hand_cg(H, -u, forcing(u))  # inside the radius (||p|| ~ 1e-6): an interior CG step
    step, state = update(optax.chain(optax.clip_by_global_norm(c), optimizers.trust_ncg()))
    # accepted (on a quadratic f's rho is 1); the update is (x + p) - x, exact to eps |x| only
    np.testing.assert_allclose(step, p, rtol=RTOL, atol=4 * np.finfo(float).eps * np.max(np.abs(x)))
    assert float(state[1].method_state.globalisation.radius) == 1.0  # interior: radius kept


def test_trust_region_solves_the_model_of_the_updates_and_judges_by_the_model_of_f():
    x, r0 = np.asarray(X0), 0.2
    g = g_np(x)
    u = 3.0 * g
    step, state = update(optax.chain(optax.scale(3.0), optimizers.trust_exact(initial_radius=r0)))
    # p minimizes u.p + p.Hp / 2 on the ball: on the boundary, (H + lam I) p = -u, lam >= 0
    assert np.linalg.norm(step) == pytest.approx(r0, rel=1e-9)
    lam = -(H @ step + u) @ step / (step @ step)
    assert lam >= 0
    np.testing.assert_allclose(H @ step + lam * step, -u, rtol=1e-8, atol=1e-8 * np.linalg.norm(u))
    # rho against f's model (g, not u): a quadratic, so exactly 1 -> accepted, radius doubled
    actual = f_np(x) - f_np(x + step)
    rho_f = actual / -(g @ step + step @ H @ step / 2)
    rho_u = actual / -(u @ step + step @ H @ step / 2)
    assert rho_f == pytest.approx(1.0, rel=1e-9) and rho_u < 0.75  # the choice matters here
    assert float(state[1].method_state.globalisation.radius) == pytest.approx(2 * r0)
    assert not bool(state[1].stalled)


def test_hessian_free_solves_the_damped_system_of_the_updates():
    x, lam = np.asarray(X0), 1.0
    g = g_np(x)
    u = g + WD * x
    p = np.linalg.solve(H + lam * np.eye(3), -u)
    assert f_np(x + p) <= f_np(x) + 1e-2 * (g @ p)  # the unit step passes the Armijo test
    opt = optimizers.hessian_free(damping=lam, cg_backtrack="none", cg_tol=1e-13, cg_eps=0.0)
    step, state = update(optax.chain(optax.add_decayed_weights(WD), opt))
    np.testing.assert_allclose(step, p, rtol=1e-9)  # CG to 1e-13 on a 3 x 3 system
    rho = (f_np(x) - f_np(x + p)) / -(g @ p + p @ H @ p / 2)  # f's undamped model
    want = lam * (2 / 3 if rho > 0.75 else 1.5 if rho < 0.25 else 1.0)
    assert float(state[1].method_state.damping) == pytest.approx(want, rel=1e-12)


def test_saddle_free_newton_rescales_the_updates_by_abs_hessian():
    x = np.asarray(X0)
    u = g_np(x) + WD * x
    step, _ = update(optax.chain(optax.add_decayed_weights(WD), optimizers.saddle_free_newton(dense=True)))
    w, q = np.linalg.eigh(H)
    grid = optimizers.method_options("saddle-free-newton")["damping_grid"]

    def fit(v):  # the best t with step = t p(lambda), over the grid, and its relative misfit
        best = []
        for lam in grid:
            d = -(q @ ((q.T @ v) / (np.abs(w) + lam)))
            t = step @ d / (d @ d)
            best.append((np.linalg.norm(step - t * d) / np.linalg.norm(step), t))
        return min(best)

    misfit, t = fit(u)
    assert misfit < RTOL and np.log2(t) == pytest.approx(round(np.log2(t)), abs=1e-9)  # t = 2^k
    assert fit(g_np(x))[0] > 1e-3


def two_loop(pairs, u):
    """-H u with the pairs (s, y), oldest first, gamma = s.y / y.y of the newest (N&W
    Alg. 7.4); no pairs: -min(1, 1/||u||) u, the first step."""
    if not pairs:
        return -min(1.0, 1 / np.linalg.norm(u)) * u
    q, alphas = u.copy(), []
    for s, y in reversed(pairs):
        alphas.append((s @ q) / (s @ y))
        q = q - alphas[-1] * y
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), a in zip(pairs, reversed(alphas)):
        r = r + s * (a - (y @ r) / (s @ y))
    return -r


def test_lbfgs_direction_from_the_updates_memory_from_the_gradients_of_value_fn():
    """Three steps (the third reads two pairs, made while the cache held projections of the
    updates) against the two-loop recursion; optax's pairs of updates differences would
    give other directions."""
    opt = optax.chain(optax.add_decayed_weights(WD), optimizers.lbfgs())
    x, state = np.asarray(X0), None
    pairs, pairs_of_updates = [], []
    for _ in range(3):
        step, state = update(opt, jnp.asarray(x), state)
        u = g_np(x) + WD * x
        assert cosine(step, two_loop(pairs, u)) > 1 - RTOL and wolfe_at(x, step)
        if pairs:
            assert cosine(step, two_loop(pairs_of_updates, u)) < 1 - 1e-6
        pairs.append((step, g_np(x + step) - g_np(x)))
        pairs_of_updates.append((step, g_np(x + step) + WD * (x + step) - u))
        x = x + step


def test_nonlinear_cg_forms_beta_from_the_updates():
    opt = optax.chain(optax.add_decayed_weights(WD), optimizers.nonlinear_cg())
    x0 = np.asarray(X0)
    u0 = g_np(x0) + WD * x0
    s, state = update(opt)
    assert cosine(s, -u0) > 1 - RTOL
    x1 = x0 + s
    step, _ = update(opt, jnp.asarray(x1), state)
    u1 = g_np(x1) + WD * x1
    beta = max(0.0, u1 @ (u1 - u0) / (u0 @ u0))  # PR+
    d = -u1 - beta * u0  # the previous direction is -u0 (its length is the search's t)
    assert beta > 0 and g_np(x1) @ d < 0  # a CG direction, and a descent direction for f
    assert cosine(step, d) > 1 - RTOL


# ----------------------------------------------------------------------------- first order

FIRST_ORDER = [
    ("gd", dict(learning_rate=0.05), lambda: optax.sgd(0.05)),
    ("momentum", dict(learning_rate=0.05, momentum=0.8, nesterov=True),
     lambda: optax.sgd(0.05, momentum=0.8, nesterov=True)),
    ("adam", dict(learning_rate=0.05, b1=0.8, b2=0.99, eps=1e-6), lambda: optax.adam(0.05, b1=0.8, b2=0.99, eps=1e-6)),
]
# updates x3 for two steps, then 0 (a warm-down schedule), then -1: the state moves on
SCHEDULE = optax.scale_by_schedule(lambda n: jnp.select([n < 2, n < 4], [3.0, 0.0], -1.0))


@pytest.mark.parametrize("pre", ["clip", "schedule"])
@pytest.mark.parametrize("name, options, reference", FIRST_ORDER, ids=[m[0] for m in FIRST_ORDER])
def test_first_order_methods_in_a_chain_match_optax(name, options, reference, pre):
    head = {"clip": lambda: optax.clip_by_global_norm(0.5), "schedule": lambda: SCHEDULE}[pre]
    ours = optax.chain(head(), optimizers.make_transform(name, **options))
    ref = optax.chain(head(), reference())
    x, y = X0, X0
    s_ours, s_ref = ours.init(x), ref.init(y)
    for _ in range(6):
        value, grad = jax.value_and_grad(f)(x)
        u, s_ours = ours.update(grad, s_ours, x, value=value, grad=grad, value_fn=f)
        v, s_ref = ref.update(jax.grad(f)(y), s_ref, y)
        x, y = optax.apply_updates(x, u), optax.apply_updates(y, v)
        # ours returns (x + d) - x: one rounding of x away from d
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)
    assert np.linalg.norm(np.asarray(x - X0)) > 1e-2


# ----------------------------------------------------------------------------- zero, negated


def _method_options(name):
    spec = optimizers.get_method(name)
    return {"residual": residual} if "residual" in spec.options else {}


SECOND_ORDER = [m for m in optimizers.method_names() if m not in ("gd", "momentum", "adam")]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_scale_zero_gives_the_zero_step_and_keeps_the_state(name):
    opt = optax.chain(optax.scale(0.0), optimizers.make_transform(name, **_method_options(name)))
    step, state = update(opt)
    assert not np.any(step)
    ours = state[1]
    init = opt.init(X0)[1]
    for a, b in zip(jax.tree_util.tree_leaves(ours.method_state), jax.tree_util.tree_leaves(init.method_state)):
        np.testing.assert_array_equal(a, b)
    assert int(ours.nfev) == int(ours.ngev) == int(ours.nhvp) == 0 and not bool(ours.stalled)
    assert float(ours.value) == pytest.approx(f_np(np.asarray(X0)), rel=1e-14)


def test_negated_updates_are_no_descent_direction_the_step_is_zero():
    opt = optax.chain(optax.scale(-1.0), optimizers.newton_cg())
    step, state = update(opt)  # CG on H d = +g: d is an ascent direction of the convex f
    assert not np.any(step) and bool(state[1].stalled)
    assert int(state[1].nfev) == 0  # the search returns at once, no trial
    opt = optax.chain(optax.scale(-1.0), optimizers.trust_ncg())
    step, state = update(opt)  # m_f predicts an increase: rho = -inf, rejected
    assert not np.any(step) and not bool(state[1].stalled)
    assert float(state[1].method_state.globalisation.radius) == 0.25


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("reshape, err, match", [
    (lambda u: {"w": u}, ValueError, r"updates must have the same pytree structure as params"),
    (lambda u: u[:2], ValueError, r"updates leaf shape \(2,\) does not match params leaf shape \(3,\)"),
    (lambda u: (u > 0).astype(jnp.int32), TypeError, r"updates must be floating-point"),
])
def test_updates_of_another_structure_are_refused_naming_updates(reshape, err, match):
    opt = optax.chain(optax.stateless(lambda u, p: reshape(u)), optimizers.newton_cg())
    with pytest.raises(err, match=match) as info:
        update(opt)
    assert "optimizers transform 'newton-cg'" in str(info.value)


# ----------------------------------------------------------------------------- options


def test_lbfgs_memory_is_memory_size_as_in_optax_and_m_points_to_it():
    assert optimizers.method_options("lbfgs")["memory_size"] == 10
    state = optimizers.lbfgs(memory_size=4).init(X0)
    assert state.method_state.direction.hist.shape == (2, 4, 3)
    assert optax.lbfgs(memory_size=4) is not None  # the same keyword in optax
    message = r"method 'lbfgs': option 'm' was renamed 'memory_size' .*: pass memory_size= instead"
    for call in (lambda: optimizers.lbfgs(m=4), lambda: optimizers.make_transform("lbfgs", m=4),
                 lambda: optimizers.minimize(f, X0, "lbfgs", m=4),
                 lambda: optimizers.estimate_memory("lbfgs", 3, m=4)):
        with pytest.raises(TypeError, match=message):
            call()
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['m'\] for method 'newton-cg'"):
        optimizers.newton_cg(m=4)  # not renamed there: a plain unknown option


# ----------------------------------------------------------------------------- the plain call


@pytest.mark.parametrize("name", ["lbfgs", "nonlinear-cg", "trust-ncg", "hessian-free"])
def test_updates_equal_to_the_gradient_take_the_gradients_steps(name):
    """updates a copy of grad go down the chained path (u set), grad itself the plain one;
    the two differ only by rounding (L-BFGS: S y projected directly instead of as the
    difference of cached projections), so 1e-9 over four steps of a condition-20 problem."""
    opt = optimizers.make_transform(name)
    x = y = X0
    sx, sy = opt.init(x), opt.init(y)
    for _ in range(4):
        value, grad = jax.value_and_grad(f)(x)
        u, sx = opt.update(jax.tree_util.tree_map(jnp.copy, grad), sx, x, value=value, grad=grad, value_fn=f)
        value, grad = jax.value_and_grad(f)(y)
        v, sy = opt.update(grad, sy, y, value=value, grad=grad, value_fn=f)
        x, y = x + u, y + v
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)
    assert f_np(np.asarray(x)) < 0.5 * f_np(np.asarray(X0))

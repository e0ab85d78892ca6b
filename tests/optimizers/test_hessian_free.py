"""Hessian-free pieces against independent truth: a plain numpy CG, numpy.linalg.solve,
dense J^T H J, the normal equations, and the Levenberg-Marquardt rule written out by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import optimizers
from optimizers import minimize
from optimizers._curvature_split import curvature_operator
from optimizers._martens_cg import (
    MARTENS_CG_STATUS,
    cg_backtrack,
    martens_cg,
    martens_preconditioner,
    save_schedule,
)
from optimizers._objective import make_objective
from optimizers._trust_region import reduction_ratio, update_damping
from optimizers.hessian_free import OPTIONS as HF_OPTIONS

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
    """martens_cg compiled once per (warm start?, preconditioner?, max_iter); the matrix,
    eps and tol are traced arguments, so the tests share a few compiled loops."""
    cache = {}

    def run(B, g, x0=None, precond=None, *, max_iter=200, eps=5e-4, tol=1e-10):
        key = (x0 is None, precond is None, max_iter)
        if key not in cache:

            def fn(B, g, x0, precond, eps, tol):
                return martens_cg(lambda v: B @ v, g, x0, precond=precond, max_iter=max_iter,
                                  eps=eps, tol=tol)

            cache[key] = jax.jit(fn)
        return cache[key](jnp.asarray(B), jnp.asarray(g), x0, precond, eps, tol)

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
    # The stop (iteration 23 on this kappa = 100 system) is past the point where CG
    # implementations part by rounding (see the schedule test below): float64 and
    # long-double CG differ there by 2e-8, growing ~6x per iteration. atol 1e-5 leaves a
    # factor 500 over that and is still 100x below the last CG step (1e-3), so it pins the
    # iterate; the stopping index itself comes from phi, which is determined to rounding.
    np.testing.assert_allclose(np.asarray(res.x), xs[stop], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(res.phi), _phi(B, g, np.asarray(res.x)), rtol=1e-9)


def test_martens_cg_solves_to_tolerance_with_warm_start(system, run_cg):
    B, g = system
    exact = np.linalg.solve(B, -g)
    x0 = jnp.asarray(0.95 * exact + 0.01)
    res = run_cg(B, g, x0, eps=0.0, tol=1e-11)
    assert int(res.status) == 1
    assert int(res.num_matvec) == int(res.num_iters) + 1  # warm start: one product for r0
    np.testing.assert_allclose(np.asarray(res.x), exact, rtol=1e-7, atol=1e-9)
    assert np.linalg.norm(B @ np.asarray(res.x) + g) <= 1e-11 * np.linalg.norm(g) * 1.001


def test_stored_iterates_follow_the_geometric_schedule(system, run_cg):
    # Late CG iterates are compared to the numpy CG only where both are determined to
    # rounding. In floating point the gap between two CG implementations (which round
    # differently) stays at eps until the first Ritz value converges and orthogonality is
    # lost (Paige 1976; Greenbaum 1997), then grows by a factor of several per iteration: on
    # the kappa = 100 fixture (n = 40) float64 and long-double CG agree to 1e-15 up to
    # iteration 12 and differ by 6e-5 at iteration 30. With kappa = 10 the error contracts by
    # (sqrt(kappa) - 1) / (sqrt(kappa) + 1) = 0.52 per step, faster than that growth: the
    # measured gap to numpy stays below 2e-14 over all 30 iterations, while the smallest CG
    # step is 2e-10, so atol 1e-12 is 50x above the rounding and 200x below a neighbouring
    # iterate.
    _, g = system
    B = _spd(0, cond=10.0)
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
        np.testing.assert_allclose(np.asarray(res.saved_x[slot]), xs[it], rtol=0, atol=1e-12)
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
    plain = run_cg(B, g, eps=0.0, tol=1e-8)
    pre = run_cg(B, g, precond=jnp.asarray(m), eps=0.0, tol=1e-8)
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
    res = run_cg(B, g, max_iter=30, eps=0.0, tol=0.0)
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
    # reductions far above the rounding of f: the plain ratio, up to the few-ulp delta
    assert float(reduction_ratio(1.0, 0.5, -1.0)) == pytest.approx(0.5, rel=1e-14)
    assert float(reduction_ratio(1.0, 1.5, -1.0)) == pytest.approx(-0.5, rel=1e-14)
    assert float(reduction_ratio(0.0, -2.0, -1.0)) == 2.0  # f_old = 0: delta = 0, exact
    assert float(reduction_ratio(1.0, 0.5, 0.0)) == -math.inf
    assert float(reduction_ratio(1.0, float("nan"), -1.0)) == -math.inf
    g = jax.grad(lambda md: reduction_ratio(1.0, 0.5, md))(0.0)
    assert np.isfinite(float(g))


def test_reduction_ratio_where_the_predicted_reduction_is_below_the_rounding_of_f():
    f_old = 1000.0
    ulp = float(np.spacing(f_old))
    tiny = -1e-18  # predicted reduction far below one ulp of f
    # the computed change is noise: one ulp up, none, one ulp down all give rho near 1
    for f_new in (f_old + ulp, f_old, f_old - ulp):
        assert 0.5 < float(reduction_ratio(f_old, f_new, tiny)) < 1.5
    # a rise above the rounding of f is still a failed step, however small the model says
    assert float(reduction_ratio(f_old, f_old + 100 * ulp, tiny)) < 0
    # a resolved prediction keeps the plain ratio
    assert float(reduction_ratio(f_old, f_old - 1.0, -2.0)) == pytest.approx(0.5, rel=1e-12)


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


# ---------------------------------------------------------------- curvature inside hessian-free

_RNG = np.random.default_rng(11)
_A = _RNG.normal(size=(15, 5)) * 0.5
_C = _RNG.normal(size=15) * 0.3
_Y = (_RNG.random(15) > 0.5).astype(float)


def _params(z):
    return {"head": z[:2], "tail": z[2:]}


def _model(p):  # tanh(A x + c): J = diag(1 - tanh^2) A
    x = jnp.concatenate([p["head"], p["tail"]])
    return jnp.tanh(jnp.asarray(_A) @ x + jnp.asarray(_C))


def _loss(o):  # logistic loss in the outputs: H_L = diag(s (1 - s)), s = sigmoid(o)
    return jnp.sum(jax.nn.softplus(o) - jnp.asarray(_Y) * o)


def _residual(p):  # r = exp(A x / 2) - y: J = diag(exp(A x / 2) / 2) A, G = 2 J^T J
    x = jnp.concatenate([p["head"], p["tail"]])
    return jnp.exp(jnp.asarray(_A) @ x / 2) - jnp.asarray(_Y)


def _hf_opts(**kw):
    opts = {k: o.default for k, o in HF_OPTIONS.items()}
    opts.update(kw)
    return opts


@pytest.mark.parametrize("split", ["model_loss", "residual", "hessian"])
def test_curvature_products_equal_dense_matrices(split):
    x = _RNG.normal(size=5)
    z0, unravel = ravel_pytree(_params(jnp.asarray(x)))
    if split == "model_loss":
        opts = _hf_opts(model_fn=_model, loss_fn=_loss)
        u = _A @ x + _C
        J = (1 - np.tanh(u) ** 2)[:, None] * _A
        s = 1 / (1 + np.exp(-np.tanh(u)))
        dense = J.T @ np.diag(s * (1 - s)) @ J
        fun = lambda p: _loss(_model(p))  # noqa: E731
    elif split == "residual":
        opts = _hf_opts(residual=_residual)
        J = (np.exp(_A @ x / 2) / 2)[:, None] * _A
        dense = 2 * J.T @ J
        fun = lambda p: jnp.sum(_residual(p) ** 2)  # noqa: E731
    else:  # Hessian of sum(softplus(a_i.x) - y_i a_i.x): A^T diag(s(1-s)) A
        opts = _hf_opts(curvature="hessian")
        s = 1 / (1 + np.exp(-(_A @ x)))
        dense = _A.T @ np.diag(s * (1 - s)) @ _A
        fun = lambda p: _loss(jnp.asarray(_A) @ jnp.concatenate([p["head"], p["tail"]]))  # noqa: E731
    objective = make_objective(fun, unravel)
    V = _RNG.normal(size=(5, 3))
    prods = jax.jit(lambda z, V: curvature_operator(objective, z, opts) @ V)(z0, jnp.asarray(V))
    np.testing.assert_allclose(np.asarray(prods), dense @ V, rtol=1e-10, atol=1e-12)


_LS_A = np.random.default_rng(12).normal(size=(30, 8))
_LS_B = np.random.default_rng(13).normal(size=30)


def test_one_step_with_vanishing_damping_solves_the_normal_equations():
    # (the model_fn/loss_fn split is checked the same way through the optax transform below)
    A, b = jnp.asarray(_LS_A), jnp.asarray(_LS_B)
    fun = lambda x: jnp.sum((A @ x - b) ** 2)  # noqa: E731
    res = minimize(fun, jnp.zeros(8), "hessian-free", max_iter=1, gtol=1e-12, damping=1e-12,
                   cg_eps=0.0, residual=lambda x: A @ x - b)
    x_star = np.linalg.solve(_LS_A.T @ _LS_A, _LS_A.T @ _LS_B)
    assert int(res.nit) == 1
    np.testing.assert_allclose(np.asarray(res.x), x_star, rtol=1e-9, atol=1e-11)
    # one warm-start product (0 here, still computed) + about n CG iterations
    assert 8 + 1 <= int(res.nhvp) <= 8 + 3
    assert int(res.ngev) == 2  # x0 and the new point


def _rosen(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_hessian_free_reaches_the_rosenbrock_minimum_with_hessian_curvature():
    # The Hessian is indefinite away from the valley: CG stops on negative curvature there.
    res = minimize(_rosen, jnp.full(6, -1.2), "hessian-free", max_iter=200, gtol=1e-8)
    assert int(res.status) == 0
    np.testing.assert_allclose(np.asarray(res.x), np.ones(6), atol=1e-7)


def test_per_example_preconditioner_run_reaches_the_least_squares_solution():
    # (that the preconditioner cuts CG work is checked on martens_cg itself above)
    rng = np.random.default_rng(14)
    scale = np.geomspace(1.0, 300.0, 10)
    A = rng.normal(size=(200, 10)) * scale
    b = A @ rng.normal(size=10) + 0.1 * rng.normal(size=200)
    Aj, bj = jnp.asarray(A), jnp.asarray(b)
    fun = lambda x: 0.5 * jnp.sum((Aj @ x - bj) ** 2)  # noqa: E731
    per_ex = lambda x: (Aj @ x - bj)[:, None] * Aj  # noqa: E731  (gradients of 0.5 r_i^2)
    res = minimize(fun, jnp.zeros(10), "hessian-free", model_fn=lambda x: Aj @ x,
                   loss_fn=lambda o: 0.5 * jnp.sum((o - bj) ** 2), per_example_grads=per_ex,
                   max_iter=30, gtol=1e-6, damping=1e-3, cg_eps=1e-6)
    assert int(res.status) == 0
    np.testing.assert_allclose(np.asarray(res.x), np.linalg.lstsq(A, b, rcond=None)[0],
                               rtol=1e-6, atol=1e-8)
    assert int(res.ngev) == 1 + 2 * int(res.nit)  # + one per-example-gradient pass per iteration


# ---------------------------------------------------------------- bad input (method)


def test_hessian_free_bad_input_says_what_to_pass():
    f = lambda x: jnp.sum(x**2)  # noqa: E731
    x0 = jnp.ones(3)
    with pytest.raises(ValueError, match="curvature='ggn' needs the model/loss split: pass model_fn="):
        minimize(f, x0, "hessian-free", curvature="ggn")
    with pytest.raises(ValueError, match="model_fn was given without loss_fn"):
        minimize(f, x0, "hessian-free", model_fn=lambda x: x)
    with pytest.raises(ValueError, match="either residual= or model_fn="):
        minimize(f, x0, "hessian-free", residual=lambda x: x, model_fn=lambda x: x, loss_fn=jnp.sum)
    with pytest.raises(ValueError, match="damping"):
        minimize(f, x0, "hessian-free", damping=-1.0)
    y = jnp.ones(5)
    with pytest.raises(ValueError, match=r"model_fn output \(3,\) does not fit loss_fn's input.*\(5,\)"):
        minimize(f, x0, "hessian-free", model_fn=lambda x: x, loss_fn=lambda o: jnp.sum((o - y) ** 2))
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar.*\(3,\)"):
        minimize(f, x0, "hessian-free", model_fn=lambda x: x, loss_fn=lambda o: o**2)


# ---------------------------------------------------------------- optax transform


def test_optax_update_with_a_curvature_batch_solves_that_batchs_gauss_newton_system():
    rng = np.random.default_rng(15)
    A = rng.normal(size=(400, 6))
    x_true = rng.normal(size=6)
    data = {"a": jnp.asarray(A), "y": jnp.asarray(A @ x_true)}
    grad_rows, curv_rows = np.arange(0, 300), np.arange(300, 340)
    take = lambda rows: jax.tree_util.tree_map(lambda v: v[rows], data)  # noqa: E731
    b, c = take(grad_rows), take(curv_rows)

    def loss_fn(params, batch):
        return jnp.mean((batch["a"] @ params["w"] - batch["y"]) ** 2)

    opt = optimizers.hessian_free(
        model_fn=lambda p, batch: batch["a"] @ p["w"],
        loss_fn=lambda out, batch: jnp.mean((out - batch["y"]) ** 2),
        damping=1e-10, cg_eps=0.0,
    )
    params = {"w": jnp.zeros(6)}
    state = opt.init(params)

    @jax.jit
    def step(params, state, b, c):
        value, grad = jax.value_and_grad(loss_fn)(params, b)
        return opt.update(grad, state, params, value=value, grad=grad, value_fn=loss_fn,
                          batch=b, curvature_batch=c)

    updates, state = step(params, state, b, c)
    Ab, Ac = A[grad_rows], A[curv_rows]
    g = 2 / len(grad_rows) * Ab.T @ (Ab @ np.zeros(6) - Ab @ x_true)
    G = 2 / len(curv_rows) * Ac.T @ Ac
    np.testing.assert_allclose(np.asarray(updates["w"]), -np.linalg.solve(G, g), rtol=1e-8, atol=1e-10)
    assert int(state.nhvp) >= 6 and not bool(state.stalled)


def test_optax_curvature_batch_without_a_split_is_refused():
    opt = optimizers.hessian_free()
    params = jnp.ones(3)
    loss = lambda p, batch: jnp.sum((p - batch) ** 2)  # noqa: E731
    with pytest.raises(ValueError, match="curvature_batch needs the Gauss-Newton split"):
        opt.update(None, opt.init(params), params, value_fn=loss, batch=jnp.zeros(3),
                   curvature_batch=jnp.zeros(3))

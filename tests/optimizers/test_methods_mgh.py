"""Each second-order method on the Moré-Garbow-Hillstrom problems, against known minima and
scipy.optimize.minimize, plus 64 vmapped Himmelblau starts and honest evaluation counters.

Cost control: per method, ONE compiled vmapped call solves a group of problems (padded to
one length and selected by index) together with 64 random Himmelblau starts. The default
run uses the CORE group; the full MGH list runs with ``-m slow``.
"""

from __future__ import annotations

import collections
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so

import curvature
import optimizers

from .mgh_problems import CORE, HIMMELBLAU_MINIMA, N_STARTS, SMALL, SMALL_DIM, solved

METHODS = ["lbfgs", "bfgs", "newton", "newton-cg", "trust-ncg"]
FULL = SMALL


@functools.lru_cache(maxsize=None)
def scipy_solution(name):
    """scipy's trust-exact (exact Hessian) from the standard start, the reference minimizer."""
    p = next(q for q in SMALL if q.name == name)
    f = jax.jit(p.fun)
    g = jax.jit(jax.grad(p.fun))
    h = jax.jit(jax.hessian(p.fun))
    res = so.minimize(lambda x: float(f(x)), np.array(p.x0), jac=lambda x: np.asarray(g(x)),
                      hess=lambda x: np.asarray(h(x)), method="trust-exact",
                      options={"gtol": p.gtol, "maxiter": 2000})
    return res.x


def _close(x, x_star, xtol):
    x_star = np.asarray(x_star)
    return bool(np.all(np.abs(x - x_star) <= xtol * np.maximum(1.0, np.abs(x_star))))


def _check_problem(method, group, index):
    p = group[index]
    res = solved(method, group)
    dim = len(p.x0)
    x = res.x[index, :dim]
    assert res.status[index] == 0, (p.name, res.status[index], res.nit[index])
    assert res.grad_norm[index] <= p.gtol
    np.testing.assert_array_equal(res.x[index, dim:], 0.0)  # padding untouched
    hits = [i for i, m in enumerate(p.minima) if _close(x, m, p.xtol)]
    assert hits, f"{method} on {p.name} ended at {x}, not at a known minimizer {p.minima}"
    assert abs(res.fun[index] - p.f_minima[hits[0]]) <= 1e-8 * max(1.0, p.f_minima[hits[0]])
    if len(p.minima) == 1:  # a unique minimizer: scipy's must be the same point
        x_scipy = scipy_solution(p.name)
        assert _close(x_scipy, p.minima[0], p.xtol)
        assert _close(x, x_scipy, 2 * p.xtol)


@pytest.mark.parametrize("index", range(len(CORE)), ids=[p.name for p in CORE])
@pytest.mark.parametrize("method", METHODS)
def test_core_problems_known_minimum_like_scipy(method, index):
    _check_problem(method, CORE, index)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(FULL)), ids=[p.name for p in FULL])
@pytest.mark.parametrize("method", METHODS)
def test_all_mgh_problems_known_minimum_like_scipy(method, index):
    _check_problem(method, FULL, index)


@pytest.mark.parametrize("method", METHODS)
def test_vmap_64_himmelblau_starts_each_at_a_minimum(method):
    res = solved(method, CORE)
    sl = slice(len(CORE), None)
    assert res.x[sl].shape == (N_STARTS, SMALL_DIM)
    assert np.all(res.status[sl] == 0)
    minima = np.array(HIMMELBLAU_MINIMA)
    dist = np.abs(res.x[sl, None, :2] - minima[None]).max(-1)  # (64, 4)
    assert np.all(dist.min(1) <= 1e-5)
    assert np.all(res.fun[sl] <= 1e-10)
    # the starts spread over the box, so several basins are found
    assert len(set(dist.argmin(1))) >= 3


# ----------------------------------------------------------------- honest counters

N_ROSEN = 100
COUNTS = collections.Counter()


def _count(tag):
    def bump(*args):
        COUNTS[tag] += 1
    return bump


def _rosen_value(x):
    odd, even = x[0::2], x[1::2]
    return jnp.sum(100 * (even - odd**2) ** 2 + (1 - odd) ** 2)


def _rosen_grad(x):
    odd, even = x[0::2], x[1::2]
    g_odd = -400 * odd * (even - odd**2) - 2 * (1 - odd)
    g_even = 200 * (even - odd**2)
    return jnp.stack([g_odd, g_even], axis=1).reshape(-1)


def _rosen_hvp(x, v):
    odd, even = x[0::2], x[1::2]
    v_odd, v_even = v[0::2], v[1::2]
    h11 = 1200 * odd**2 - 400 * even + 2
    h12 = -400 * odd
    return jnp.stack([h11 * v_odd + h12 * v_even, h12 * v_odd + 200 * v_even], axis=1).reshape(-1)


@jax.custom_jvp
def counted_grad(x):
    jax.debug.callback(_count("G"))
    return _rosen_grad(x)


@counted_grad.defjvp
def _counted_grad_jvp(primals, tangents):
    (x,), (v,) = primals, tangents
    jax.debug.callback(_count("H"), v)  # a batched v (jacfwd) fires once per product
    return counted_grad(x), _rosen_hvp(x, v)


@jax.custom_jvp
def counted_rosen(x):
    """Extended Rosenbrock (MGH #21) whose evaluations of f, g and Hv each fire a callback."""
    jax.debug.callback(_count("F"))
    return _rosen_value(x)


@counted_rosen.defjvp
def _counted_rosen_jvp(primals, tangents):
    (x,), (v,) = primals, tangents
    return counted_rosen(x), jnp.vdot(counted_grad(x), v)


def _callbacks(fn, *args):
    COUNTS.clear()
    jax.block_until_ready(fn(*args))
    jax.effects_barrier()
    return dict(COUNTS)


@functools.lru_cache(maxsize=None)
def _per_call(n=10):
    """Callbacks fired by ONE value_and_grad, ONE curvature.hvp, ONE curvature.hessian
    (forward-over-reverse also evaluates f and g at x: JAX's structure, measured here)."""
    x = jnp.linspace(-1.0, 1.0, n)
    return (_callbacks(jax.jit(jax.value_and_grad(counted_rosen)), x),
            _callbacks(jax.jit(lambda x, v: curvature.hvp(counted_rosen, x, v)), x, x),
            _callbacks(jax.jit(lambda x: curvature.hessian(counted_rosen, x)), x))


def test_counting_wrapper_is_exact():
    x = jnp.linspace(-1.0, 1.0, 10)
    plain = jax.jit(lambda x: (jax.grad(_rosen_value)(x), jax.jvp(jax.grad(_rosen_value), (x,), (x,))[1]))
    counted = jax.jit(lambda x: (jax.grad(counted_rosen)(x), curvature.hvp(counted_rosen, x, x)))
    for a, b in zip(plain(x), counted(x)):
        np.testing.assert_allclose(b, a, rtol=1e-12)
    vg, hvp, hess = _per_call()
    assert vg == {"F": 1, "G": 1}
    assert hvp.get("H") == 1
    assert hess.get("H") == 10


def _counters_case(method, n):
    x0 = jnp.tile(jnp.array([-1.2, 1.0]), n // 2)
    run = jax.jit(functools.partial(optimizers.minimize, counted_rosen, method=method, max_iter=500))
    seen = _callbacks(run, x0)
    res = run(x0)
    vg, hvp, hess = _per_call()  # per-call counts do not depend on n; a Hessian is n HVPs
    nhvp = int(res.nhvp)
    if method == "newton":  # one Hessian (n products) per iteration
        n_hess = int(res.nit)
        extra = {k: n_hess * hess.get(k, 0) for k in "FG"}
        extra["H"] = n_hess * n
    else:
        extra = {k: nhvp * hvp.get(k, 0) for k in "FGH"}
    assert seen.get("H", 0) == extra["H"]
    assert seen.get("F", 0) == int(res.nfev) + extra["F"]
    assert seen.get("G", 0) == int(res.ngev) + extra["G"]
    if method in ("lbfgs", "bfgs"):
        assert nhvp == 0
    # and the minimizer (MGH #21: x* = ones), like scipy's
    assert res.status == 0
    np.testing.assert_allclose(res.x, np.ones(n), atol=1e-5)
    sc = so.minimize(lambda x: float(_rosen_value(x)), np.asarray(x0),
                     jac=lambda x: np.asarray(_rosen_grad(x)), method="L-BFGS-B",
                     options=dict(ftol=0.0, gtol=1e-6, maxiter=5000))
    np.testing.assert_allclose(res.x, sc.x, atol=1e-5)


@pytest.mark.parametrize("method", ["lbfgs", "trust-ncg"])
def test_counters_equal_true_calls_extended_rosenbrock_100(method):
    _counters_case(method, 100)


def test_counters_equal_true_calls_dense_newton():
    _counters_case("newton", 10)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["bfgs", "newton", "newton-cg"])
def test_counters_and_minimum_extended_rosenbrock_100_slow(method):
    _counters_case(method, 100)

"""The driver of optimizers.minimize: validation before compiling, status codes, the result
and its trace, record_path, callback, jit/pytree/float32 use, and the registry API."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
from optimizers import STATUS_MESSAGES
from optimizers._step_length import f_noise

A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
C = jnp.array([1.0, -2.0])


def quad(x):
    """f = (x - c)^T A (x - c) / 2, minimizer c, gradient A (x - c)."""
    r = x - C
    return 0.5 * r @ A @ r


def rosen(x):
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


# ------------------------------------------------------------------ registry

def test_registry_names_and_options():
    assert optimizers.method_names()[:8] == ["gd", "momentum", "adam", "lbfgs", "bfgs", "newton",
                                             "newton-cg", "trust-ncg"]
    assert optimizers.method_options("gd") == {"learning_rate": 1e-2}
    assert optimizers.method_options("lbfgs") == {"memory_size": 10, "c1": 1e-4, "c2": 0.9, "ls_max_iter": 25}
    assert optimizers.method_options("trust-ncg") == {
        "initial_radius": 1.0, "max_radius": 1000.0, "eta": 0.15, "cg_max_iter": None}
    assert optimizers.method_options("newton-cg")["cg_max_iter"] is None
    for name in optimizers.method_names():
        assert isinstance(optimizers.method_options(name), dict)
    with pytest.raises(ValueError, match="known methods: gd, momentum, adam, lbfgs"):
        optimizers.method_options("sgd")


# ------------------------------------------------------------------ bad input, before compiling

X0 = jnp.array([-1.2, 1.0])


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(method="nope"), ValueError, "unknown method 'nope'; known methods: gd, momentum"),
        (dict(method="lbfgs", memory=3), TypeError,
         r"unknown option\(s\) \['memory'\] for method 'lbfgs'; its options are: memory_size=10"),
        (dict(method="lbfgs", memory_size=2.5), TypeError, "method 'lbfgs' option 'memory_size': expected an int >= 1"),
        (dict(method="lbfgs", memory_size=0), ValueError, "option 'memory_size': expected an int >= 1"),
        (dict(method="lbfgs", c1=1.5), ValueError, r"option 'c1': expected a real number in \(0, 1\)"),
        (dict(method="gd", learning_rate="big"), TypeError, "option 'learning_rate': expected a real number"),
        (dict(method="gd", learning_rate=-1.0), ValueError, "option 'learning_rate'"),
        (dict(method="momentum", nesterov=1), TypeError, "option 'nesterov': expected True or False"),
        (dict(method="newton-cg", cg_max_iter=0), ValueError, "option 'cg_max_iter'"),
        (dict(method="trust-ncg", initial_radius=10.0, max_radius=1.0), ValueError, "initial_radius"),
        (dict(gtol=0.0), ValueError, "gtol"),
        (dict(gtol=-1e-3), ValueError, "gtol"),
        (dict(max_iter=-1), ValueError, "max_iter must be >= 0"),
        (dict(max_iter=10.0), TypeError, "max_iter must be a concrete Python int"),
        (dict(record_path="yes"), TypeError, "record_path must be True or False"),
        (dict(callback=3), TypeError, "callback must be a function"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        optimizers.minimize(rosen, X0, **kwargs)


def test_bad_x0_and_fun_raise_clear_errors():
    with pytest.raises(TypeError, match="x0 must hold floating-point arrays"):
        optimizers.minimize(rosen, jnp.array([1, 2]))
    with pytest.raises(TypeError, match="x0 must hold floating-point arrays"):
        optimizers.minimize(rosen, [1, 2])
    with pytest.raises(ValueError, match="fun must return a scalar"):
        optimizers.minimize(lambda x: x**2, X0)
    with pytest.raises(TypeError, match="fun must return a floating-point scalar"):
        optimizers.minimize(lambda x: jnp.sum(x > 0), X0)
    with pytest.raises(TypeError, match="fun must be a function"):
        optimizers.minimize(3.0, X0)


# ------------------------------------------------------------------ status codes and the result

@functools.lru_cache(maxsize=None)
def gd_quad(max_iter):
    return jax.jit(functools.partial(optimizers.minimize, quad, method="gd", learning_rate=0.3,
                                     max_iter=max_iter, gtol=1e-8))


def test_converged_result_and_trace_against_the_gd_recurrence():
    x0 = jnp.array([4.0, 3.0])
    res = gd_quad(200)(x0)
    # independent truth: x_{k+1} = x_k - 0.3 A (x_k - c), run in numpy
    a, c, x = np.asarray(A), np.asarray(C), np.asarray(x0)
    fs, gns = [], []
    for _ in range(201):
        g = a @ (x - c)
        fs.append(0.5 * (x - c) @ a @ (x - c))
        gns.append(np.abs(g).max())
        if gns[-1] <= 1e-8:
            break
        x = x - 0.3 * g
    nit = len(fs) - 1
    assert res.status == optimizers._status.CONVERGED and bool(res.success)
    assert res.message == STATUS_MESSAGES[0]
    assert int(res.nit) == nit
    assert int(res.nfev) == int(res.ngev) == nit + 1 and int(res.nhvp) == 0
    np.testing.assert_allclose(res.x, x, rtol=1e-12)
    np.testing.assert_allclose(res.fun, fs[-1], rtol=1e-10, atol=1e-20)
    np.testing.assert_allclose(res.grad_norm, gns[-1], rtol=1e-10, atol=1e-14)
    t = res.trace
    assert t.f.shape == t.grad_norm.shape == t.nfev.shape == (201,) and t.x is None
    np.testing.assert_allclose(t.f[: nit + 1], fs, rtol=1e-10, atol=1e-20)
    np.testing.assert_allclose(t.grad_norm[: nit + 1], gns, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(t.nfev[: nit + 1], np.arange(1, nit + 2))
    np.testing.assert_array_equal(t.nhvp[: nit + 1], 0)
    for buf in (t.f, t.grad_norm, t.nfev, t.ngev, t.nhvp):
        assert np.all(np.isnan(buf[nit + 1:]))


def test_start_at_minimizer_returns_nit_zero_and_success():
    res = gd_quad(200)(C)
    assert int(res.nit) == 0 and bool(res.success) and int(res.status) == 0
    assert int(res.nfev) == 1 and int(res.ngev) == 1
    np.testing.assert_array_equal(res.x, C)
    assert res.trace.f[0] == 0.0 and np.all(np.isnan(res.trace.f[1:]))


def test_max_iter_status_and_zero_iterations():
    res = gd_quad(5)(jnp.array([4.0, 3.0]))
    assert int(res.status) == optimizers._status.MAX_ITER and not bool(res.success)
    assert int(res.nit) == 5 and res.trace.f.shape == (6,) and np.all(np.isfinite(res.trace.f))
    assert res.message == "maximum number of iterations reached"
    res0 = optimizers.minimize(quad, jnp.array([4.0, 3.0]), "gd", max_iter=0)
    assert int(res0.status) == 1 and int(res0.nit) == 0 and int(res0.nfev) == 1
    np.testing.assert_array_equal(res0.x, [4.0, 3.0])


def test_nonfinite_start_has_its_own_status_not_an_exception():
    run = gd_quad(200)
    res = run(jnp.array([jnp.nan, 0.0]))
    assert int(res.status) == optimizers._status.NONFINITE_START and int(res.nit) == 0
    assert res.message == STATUS_MESSAGES[3]
    # finite f, infinite gradient: sqrt at 0
    res = optimizers.minimize(lambda x: jnp.sum(jnp.sqrt(jnp.abs(x))), jnp.array([0.0, 1.0]), "gd")
    assert int(res.status) == 3 and np.isfinite(res.fun) and not np.isfinite(res.grad_norm)


def test_diverging_fixed_step_stops_nonfinite_at_last_finite_point():
    # gd with learning rate 10 on a quadratic with eigenvalues up to 3.6: |1 - 10 lam| > 1
    res = optimizers.minimize(quad, jnp.array([4.0, 3.0]), "gd", learning_rate=10.0, max_iter=2000)
    assert int(res.status) == optimizers._status.NONFINITE
    assert np.all(np.isfinite(res.x)) and np.isfinite(res.fun) and res.fun > 1e100
    k = int(res.nit)
    assert np.isfinite(res.trace.f[k]) and res.trace.f[k] == res.fun and np.all(np.isnan(res.trace.f[k + 1:]))


@jax.custom_jvp
def lying_quad(x):
    """The quadratic with its gradient's sign flipped: no method can decrease it."""
    return quad(x)


@lying_quad.defjvp
def _lying_quad_jvp(primals, tangents):
    (x,), (v,) = primals, tangents
    return quad(x), -(A @ (x - C)) @ v


@pytest.mark.parametrize("method", ["lbfgs", "trust-ncg"])
def test_no_progress_status_keeps_the_best_point(method):
    x0 = jnp.array([4.0, 3.0])
    res = optimizers.minimize(lying_quad, x0, method, max_iter=200)
    assert int(res.status) == optimizers._status.NO_PROGRESS and not bool(res.success)
    assert res.message.startswith("no further progress")
    # every trial was worse than x0; the line search may take steps whose rise is below the
    # noise of f (f_noise: 1e-11 |f|) where the lying slopes promise a decrease, but the run
    # as a whole never rises more than that above the lowest f it met
    f0 = float(quad(x0))
    assert f0 <= float(res.fun) <= f0 + float(f_noise(f0))
    np.testing.assert_allclose(res.x, x0, rtol=0, atol=1e-9)
    assert int(res.nit) < 200


# ------------------------------------------------------------------ record_path, callback, jit, pytrees

def test_record_path_and_callback_match_the_trace():
    seen = []
    x0 = jnp.array([4.0, 3.0])
    res = optimizers.minimize(quad, x0, "gd", learning_rate=0.3, max_iter=100, record_path=True,
                              callback=lambda k, f, gn: seen.append((int(k), float(f), float(gn))))
    jax.effects_barrier()
    k = int(res.nit)
    assert res.success and res.trace.x.shape == (101, 2)
    np.testing.assert_array_equal(res.trace.x[0], x0)
    np.testing.assert_array_equal(res.trace.x[k], res.x)
    assert np.all(np.isnan(res.trace.x[k + 1:]))
    # independent check: f at each recorded point, evaluated afresh
    r = res.trace.x[: k + 1] - np.asarray(C)
    f_path = 0.5 * np.einsum("ki,ij,kj->k", r, np.asarray(A), r)
    np.testing.assert_allclose(res.trace.f[: k + 1], f_path, rtol=1e-12, atol=1e-20)
    assert np.all(np.diff(f_path) < 0)  # gd with lr < 2 / lambda_max decreases a quadratic
    assert [s[0] for s in seen] == list(range(k + 1))
    np.testing.assert_allclose([s[1] for s in seen], res.trace.f[: k + 1], rtol=1e-12, atol=1e-20)
    np.testing.assert_allclose([s[2] for s in seen], res.trace.grad_norm[: k + 1], rtol=1e-12)


def test_jit_with_static_names_traced_gtol_pytree_x0_in_float32():
    target = {"w": jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3), "b": jnp.array(-1.5, jnp.float32)}

    def loss(p):
        return jnp.sum((p["w"] - target["w"]) ** 2) + (p["b"] - target["b"]) ** 2 + 0.1 * jnp.sum(p["w"]) ** 2

    solve = jax.jit(optimizers.minimize, static_argnames=("fun", "method", "max_iter"))
    x0 = {"w": jnp.zeros((2, 3), jnp.float32), "b": jnp.zeros((), jnp.float32)}
    res = solve(loss, x0, method="trust-ncg", gtol=jnp.asarray(1e-4, jnp.float32), max_iter=50)
    assert jax.tree_util.tree_structure(res.x) == jax.tree_util.tree_structure(x0)
    assert res.x["w"].shape == (2, 3) and bool(res.success)
    # it ran in float32 throughout
    for leaf in (res.x["w"], res.x["b"], res.fun, res.grad_norm, res.trace.f):
        assert leaf.dtype == jnp.float32
    # independent truth: the normal equations of this quadratic, (I + 0.1 11^T) w = target_w
    m = np.eye(6) + 0.1 * np.ones((6, 6))
    np.testing.assert_allclose(res.x["w"].ravel(), np.linalg.solve(m, np.arange(6.0)), atol=1e-4)
    np.testing.assert_allclose(res.x["b"], -1.5, atol=1e-4)


def test_message_for_a_vmapped_result_and_under_jit():
    codes = jnp.array([0, 1, 2, 3, 4])
    res = optimizers.OptimizeResult(*([None] * 7), status=codes, success=codes == 0, trace=None)
    assert list(res.message) == [STATUS_MESSAGES[i] for i in range(5)]
    with pytest.raises(TypeError, match="STATUS_MESSAGES"):
        jax.jit(lambda s: optimizers.status_message(s))(codes[0])

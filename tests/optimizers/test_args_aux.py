"""``minimize`` / ``least_squares`` with ``args`` (traced data), ``has_aux``, ``result.grad``,
the one compilation per (function, shapes) of eager calls, callbacks that see x, and the
messages for bad ``args`` / ``has_aux`` / ``x0``."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
import optimizers._driver

from ..compilations import compilations

RNG = np.random.default_rng(0)
XA, YA = RNG.normal(size=(8, 3)), RNG.normal(size=8)
XB, YB = RNG.normal(size=(8, 3)), RNG.normal(size=8)
W0 = jnp.zeros(3)
LAM = 0.3


def ridge(w, X, y, lam):
    r = X @ w - y
    return 0.5 * jnp.sum(r * r) + 0.5 * lam * jnp.sum(w * w)


def ridge_solution(X, y, lam):
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


def ridge_dict(w, data):
    return ridge(w, data["X"], data["y"], data["lam"])


def ridge_aux(w, X, y, lam):
    r = X @ w - y
    return ridge(w, X, y, lam), {"residual": r, "fit": 0.5 * jnp.sum(r * r)}


def residual(w, X, y):
    return X @ w - y


def residual_aux(w, X, y):
    r = X @ w - y
    return r, {"max_abs": jnp.max(jnp.abs(r))}


solve = functools.partial(optimizers.minimize, method="newton-cg", gtol=1e-10)


# ------------------------------------------------------------------ args, one compilation


def test_two_data_sets_of_the_same_shapes_compile_once_and_trace_fun_once():
    traces = []

    def fresh_ridge(w, X, y, lam):  # a new function object: its first call must compile
        traces.append(1)
        return ridge(w, X, y, lam)

    with compilations() as compiled:
        a = solve(fresh_ridge, W0, args=(XA, YA, LAM))
        assert compiled["_solve"] == 1
        traced = len(traces)
        # new data (numpy the first time, jax arrays now) and a new lam: same shapes
        b = solve(fresh_ridge, W0, args=(jnp.asarray(XB), jnp.asarray(YB), 2 * LAM))
        assert compiled["_solve"] == 1, "new args of the same shapes recompiled"
        assert traced > 0 and len(traces) == traced, "the second call traced fun again"
        # a new shape is a new program
        solve(fresh_ridge, W0, args=(XA[:5], YA[:5], LAM))
        assert compiled["_solve"] == 2
    assert bool(a.success) and bool(b.success)
    np.testing.assert_allclose(a.x, ridge_solution(XA, YA, LAM), rtol=1e-9)
    np.testing.assert_allclose(b.x, ridge_solution(XB, YB, 2 * LAM), rtol=1e-9)


def test_a_fresh_lambda_per_call_compiles_every_time():
    # the documented trap: the cache is keyed on the function object
    with compilations() as compiled:
        for lam in (0.1, 0.2):
            solve(lambda w: ridge(w, XA, YA, lam), W0)
    assert compiled["_solve"] == 2


def test_pytree_args_and_pytree_x0():
    data = {"X": XA, "y": YA, "lam": jnp.asarray(LAM)}
    res = solve(ridge_dict, W0, args=(data,))
    np.testing.assert_allclose(res.x, ridge_solution(XA, YA, LAM), rtol=1e-9)

    def split(p, data):
        return ridge_dict(jnp.concatenate([p["a"], p["b"]]), data)

    res = solve(split, {"a": jnp.zeros(1), "b": jnp.zeros(2)}, args=(data,))
    np.testing.assert_allclose(jnp.concatenate([res.x["a"], res.x["b"]]), ridge_solution(XA, YA, LAM), rtol=1e-9)
    # result.grad: a pytree like x0, the gradient at result.x
    want = jax.grad(split)(res.x, data)
    assert jax.tree_util.tree_structure(res.grad) == jax.tree_util.tree_structure(res.x)
    for k in ("a", "b"):
        np.testing.assert_allclose(res.grad[k], want[k], rtol=1e-12, atol=1e-14)


def test_result_grad_is_the_gradient_at_x_also_when_not_converged():
    res = solve(ridge, W0, args=(XA, YA, LAM), max_iter=1)
    assert int(res.nit) == 1 and not bool(res.success)
    np.testing.assert_allclose(res.grad, jax.grad(ridge)(res.x, XA, YA, LAM), rtol=1e-12)
    assert float(jnp.max(jnp.abs(res.grad))) == pytest.approx(float(res.grad_norm), rel=1e-14)
    assert res.aux is None


def test_has_aux_returns_aux_at_the_solution():
    plain = solve(ridge, W0, args=(XA, YA, LAM))
    res = solve(ridge_aux, W0, args=(XA, YA, LAM), has_aux=True)
    np.testing.assert_allclose(res.x, plain.x, rtol=1e-12)
    r = XA @ np.asarray(res.x) - YA
    assert set(res.aux) == {"residual", "fit"}
    np.testing.assert_allclose(res.aux["residual"], r, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.aux["fit"], 0.5 * r @ r, rtol=1e-12)
    assert int(res.nfev) == int(plain.nfev) + 1  # the one evaluation of aux at x


def test_vmap_over_x0_and_over_args_and_jit_with_traced_args():
    starts = jnp.asarray(RNG.normal(size=(3, 3)))
    batch = jax.vmap(lambda w: solve(ridge_aux, w, args=(XA, YA, LAM), has_aux=True))(starts)
    want = ridge_solution(XA, YA, LAM)
    np.testing.assert_allclose(batch.x, np.tile(want, (3, 1)), rtol=1e-9)
    assert batch.aux["residual"].shape == (3, 8) and batch.grad.shape == (3, 3)

    ys = jnp.stack([YA, YB, YA + YB])
    batch = jax.vmap(lambda y: solve(ridge, W0, args=(XA, y, LAM)))(ys)
    for k in range(3):
        np.testing.assert_allclose(batch.x[k], ridge_solution(XA, np.asarray(ys[k]), LAM), rtol=1e-9)
    assert batch.aux is None

    fit = jax.jit(lambda X, y: solve(ridge, W0, args=(X, y, LAM)).x)
    np.testing.assert_allclose(fit(XB, YB), ridge_solution(XB, YB, LAM), rtol=1e-9)


# ------------------------------------------------------------------ least_squares


def _lstsq(X, y):
    return np.linalg.lstsq(X, y, rcond=None)[0]


@pytest.mark.parametrize("method", ["levenberg-marquardt", "gauss-newton"])
def test_least_squares_with_args_and_aux(method):
    with compilations() as compiled:
        res = optimizers.least_squares(residual_aux, W0, method, args=(XA, YA), has_aux=True, gtol=1e-10)
        res_b = optimizers.least_squares(residual_aux, W0, method, args=(XB, YB), has_aux=True, gtol=1e-10)
    assert compiled["_solve"] == 1
    for got, X, y in ((res, XA, YA), (res_b, XB, YB)):
        want = _lstsq(X, y)
        np.testing.assert_allclose(got.x, want, rtol=1e-8)
        r = X @ np.asarray(got.x) - y
        np.testing.assert_allclose(got.fun, r, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(got.cost, 0.5 * r @ r, rtol=1e-10)
        np.testing.assert_allclose(got.aux["max_abs"], np.max(np.abs(r)), rtol=1e-10)
        np.testing.assert_allclose(got.grad, X.T @ r, atol=1e-9)
    plain = optimizers.least_squares(residual, W0, method, args=(XA, YA), gtol=1e-10)
    np.testing.assert_allclose(plain.x, res.x, rtol=1e-12)
    assert plain.aux is None


def test_function_options_get_the_args_too():
    # gauss-newton on fun(w, X, y) == loss_fn(model_fn(w, X, y), X, y): the split functions
    # receive the same args as fun
    def model(w, X, y):
        return X @ w

    def loss(out, X, y):
        return 0.5 * jnp.sum((out - y) ** 2)

    def fun(w, X, y):
        return loss(model(w, X, y), X, y)

    res = optimizers.minimize(fun, W0, "gauss-newton", args=(XA, YA), model_fn=model, loss_fn=loss, gtol=1e-10)
    np.testing.assert_allclose(res.x, _lstsq(XA, YA), rtol=1e-8)
    assert int(res.nhvp) > 0


# ------------------------------------------------------------------ callbacks


def test_a_one_argument_callback_gets_x_as_a_pytree():
    seen = []

    def fun(p, X, y):
        return ridge(jnp.concatenate([p["a"], p["b"]]), X, y, LAM)

    def cb(info):
        seen.append(info)

    x0 = {"a": jnp.ones(1), "b": jnp.ones(2)}
    res = optimizers.minimize(fun, x0, "lbfgs", args=(XA, YA), callback=cb, record_path=True)
    jax.effects_barrier()
    n = int(res.nit)
    assert [int(i.iteration) for i in seen] == list(range(n + 1))
    for k, info in enumerate(seen):
        assert isinstance(info, optimizers.CallbackInfo) and set(info.x) == {"a", "b"}
        flat = np.concatenate([info.x["a"], info.x["b"]])
        np.testing.assert_array_equal(flat, res.trace.x[k])
        np.testing.assert_allclose(info.f, fun(info.x, XA, YA), rtol=1e-12)
        assert float(info.grad_norm) == float(res.trace.grad_norm[k])
    np.testing.assert_array_equal(seen[-1].x["b"], res.x["b"])


class Stop(Exception):
    pass


def _stop_at_one(info):
    if int(info.iteration) == 1:
        raise Stop(f"stop at {np.asarray(info.x).round(3)}")


def test_an_error_in_a_one_argument_callback_reaches_the_user_as_itself():
    with pytest.raises(Stop, match="stop at"):
        optimizers.minimize(ridge, W0, "lbfgs", args=(XA, YA, LAM), callback=_stop_at_one)


# ------------------------------------------------------------------ bad input, before compiling




def _tuple3(w, X, y, lam):
    return ridge(w, X, y, lam), 1.0, 2.0


def _wrong_order(w, y, X, lam):  # (y, X) swapped: X @ w fails inside
    return ridge(w, X, y, lam)


def _needs_int(w, X, y, n):
    return sum(ridge(w, X, y, 0.1) for _ in range(n))  # a traced n cannot be a Python int


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(args=[XA, YA, LAM]), TypeError, r"args must be a tuple .* got a list"),
    (dict(args=XA), TypeError, r"args must be a tuple .* got a ndarray; for a single array write args=\(a,\)"),
    (dict(args=(XA, YA, "big")), TypeError, r"args must hold arrays .* args\[2\] is a str"),
    (dict(args=(XA, YA)), TypeError, r"fun is called as fun\(x, \*args\) with 2 args, but ridge\(w, X, y, lam\) "
                                     r"cannot take 3 positional arguments"),
    (dict(args=(XA, YA, LAM), has_aux=True), TypeError, r"fun must return a pair \(value, aux\) with "
                                                        r"has_aux=True, got an array of shape \(\)"),
    (dict(args=(XA, YA, LAM), has_aux=1), TypeError, "has_aux must be True or False"),
])
def test_bad_args_and_has_aux_are_refused_before_compiling(no_compiling, kwargs, err, match):
    with pytest.raises(err, match=match):
        optimizers.minimize(ridge, W0, "lbfgs", **kwargs)


@pytest.mark.parametrize("fun, kwargs, match", [
    (_tuple3, dict(has_aux=True), r"fun must return a pair \(value, aux\) with has_aux=True, got a tuple of 3"),
    (_tuple3, dict(), r"fun returned a tuple of 3 items, but with has_aux=False .* pass has_aux=True"),
    (ridge_aux, dict(), r"fun returned a tuple of 2 items, but with has_aux=False"),
    (_wrong_order, dict(), r"fun\(x, \*args\) raised TypeError with args = \(.*float64\[8\].*\); "
                           r"check that args are the extra arguments fun expects, in order. The error: "),
])
def test_bad_outputs_and_args_fun_cannot_take(no_compiling, fun, kwargs, match):
    with pytest.raises(TypeError, match=match):
        optimizers.minimize(fun, W0, "lbfgs", args=(XA, YA, LAM), **kwargs)


def test_a_traced_int_in_args_is_named(no_compiling):
    with pytest.raises(TypeError, match=r"fun\(x, \*args\) raised TracerIntegerConversionError with "
                                        r"args = .*int64\[\].*pass values that set shapes or Python "
                                        r"control flow with functools.partial"):
        optimizers.minimize(_needs_int, W0, "lbfgs", args=(XA, YA, 4))


def test_a_python_list_as_x0_is_refused(no_compiling):
    with pytest.raises(TypeError, match=r"x0 is a Python list of numbers.*pass an array, e.g. jnp.asarray\(x0\)"):
        optimizers.minimize(ridge, [0.0, 0.0, 0.0], "lbfgs", args=(XA, YA, LAM))
    with pytest.raises(TypeError, match=r"x0 is a Python list of numbers"):
        optimizers.least_squares(residual, [0.0, 0.0, 0.0], args=(XA, YA))


def test_least_squares_bad_args_and_aux(no_compiling):
    with pytest.raises(TypeError, match=r"residual must return a pair \(value, aux\) with has_aux=True"):
        optimizers.least_squares(residual, W0, args=(XA, YA), has_aux=True)
    with pytest.raises(TypeError, match=r"residual is called as residual\(x, \*args\) with 1 args"):
        optimizers.least_squares(residual, W0, args=(XA,))
    with pytest.raises(TypeError, match=r"args must be a tuple"):
        optimizers.least_squares(residual, W0, args={"X": XA})


def test_a_list_of_arrays_is_still_a_pytree_x0():
    def fun(p, X, y):
        return ridge(jnp.concatenate(p), X, y, LAM)

    res = solve(fun, [jnp.zeros(2), jnp.zeros(1)], args=(XA, YA))
    assert isinstance(res.x, list)
    np.testing.assert_allclose(jnp.concatenate(res.x), ridge_solution(XA, YA, LAM), rtol=1e-9)

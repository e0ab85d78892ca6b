"""Methods as values: records passed to minimize and make_transform, a user's method composed
from the public parts (a Direction, optimizers.line_search / trust_region / damping) and
registered by name; and the bad input of the newer methods, refused before compiling."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers
import optimizers._driver
import optimizers._registry
from optimizers._method import DENSE_MAX_DIM

_Q, _ = np.linalg.qr(np.random.default_rng(11).standard_normal((3, 3)))
A = (_Q * np.array([1.0, 2.0, 4.0])) @ _Q.T  # kappa 4
C = np.array([1.0, -2.0, 0.5])
X0 = np.array([3.0, 1.0, -1.0])
EPS = np.finfo(float).eps


def quad(x):
    r = x - jnp.asarray(C)
    return 0.5 * r @ (jnp.asarray(A) @ r)


def quad_grad(x):
    return A @ (x - C)


def _steepest_descent(objective, it, state, opts):
    return optimizers.Proposal(it, -it.g, state)


SD = optimizers.compose(
    "steepest-descent", optimizers.Direction("steepest-descent", {}, propose=_steepest_descent),
    optimizers.line_search("armijo"), "steepest descent with Armijo backtracking")

GTOL = 1e-8


@functools.lru_cache(maxsize=None)
def sd_run():
    return jax.device_get(optimizers.minimize(quad, jnp.asarray(X0), SD, gtol=GTOL, max_iter=300,
                                              record_path=True))


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so that registering in a test leaves no trace."""
    monkeypatch.setattr(optimizers._registry, "_METHODS", dict(optimizers._registry._METHODS))


# ------------------------------------------------------------------ records by value


def test_a_record_by_value_equals_the_method_by_name():
    rec = optimizers.get_method("lbfgs")
    copy = rec._replace()  # another tuple, equal and with the same hash
    assert copy is not rec and copy == rec and hash(copy) == hash(rec)
    by_name = optimizers.minimize(quad, jnp.asarray(X0), "lbfgs")
    for res in (optimizers.minimize(quad, jnp.asarray(X0), rec), optimizers.minimize(quad, jnp.asarray(X0), copy)):
        for a, b in zip(jax.tree_util.tree_leaves(res), jax.tree_util.tree_leaves(by_name)):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(by_name.x, C, atol=1e-6)


def test_a_record_is_hashable_and_a_static_jit_argument():
    assert {SD: 1}[SD] == 1
    twice = jax.jit(lambda x, m: x * len(m.name), static_argnames="m")
    assert float(twice(jnp.asarray(2.0), m=SD)) == 2.0 * len("steepest-descent")


def test_the_public_globalisations():
    for kind, needs in (("strong-wolfe", "propose"), ("armijo", "propose"), ("none", "propose")):
        assert optimizers.line_search(kind).needs == needs
    assert {"c1", "c2", "ls_max_iter"} <= set(optimizers.line_search("strong-wolfe").options)
    assert {"c1", "ls_shrink"} <= set(optimizers.line_search("armijo").options)
    for sub in ("steihaug", "gltr", "exact", "dogleg"):
        g = optimizers.trust_region(sub)
        assert g.needs == "model" and {"initial_radius", "max_radius", "eta"} <= set(g.options)
    assert optimizers.damping().needs == "model" and "damping" in optimizers.damping().options
    with pytest.raises(ValueError, match="unknown line search 'wolfe'; known: strong-wolfe, armijo, none"):
        optimizers.line_search("wolfe")
    with pytest.raises(ValueError, match="unknown trust-region subproblem 'cg'; known: steihaug, gltr"):
        optimizers.trust_region("cg")
    # a line-search direction has no model for a trust region
    with pytest.raises(TypeError, match="has no 'model'"):
        optimizers.compose("bad", optimizers.Direction("sd", {}, propose=_steepest_descent),
                           optimizers.trust_region("gltr"), "doc")


# ------------------------------------------------------------------ a user's method


def test_composed_steepest_descent_takes_armijo_steps_along_minus_g():
    res = sd_run()
    assert int(res.status) == 0
    k = int(res.nit)
    xs = res.trace.x[: k + 1]
    c1 = optimizers.method_options(SD)["c1"]
    f = lambda x: 0.5 * (x - C) @ A @ (x - C)  # noqa: E731
    for x, x_next in zip(xs[:-1], xs[1:]):
        g, s = quad_grad(x), x_next - x
        cos = -(s @ g) / (np.linalg.norm(s) * np.linalg.norm(g))
        assert cos > 1 - 1e-12  # along -g
        t = np.linalg.norm(s) / np.linalg.norm(g)
        assert f(x_next) <= f(x) - c1 * t * (g @ g)  # Armijo with d = -g
    # ||x - x*|| <= ||g|| / lambda_min, lambda_min = 1
    assert np.linalg.norm(res.x - C) <= 2 * np.sqrt(3) * GTOL
    # steepest descent on kappa 4: linear convergence, more than a few iterations
    assert 5 < k < 300


def test_register_then_by_name_gives_the_same_run(registry):
    rec = optimizers.register(SD)
    assert rec == SD and "steepest-descent" in optimizers.method_names()
    assert optimizers.method_options("steepest-descent") == optimizers.method_options(SD)
    res = jax.device_get(optimizers.minimize(quad, jnp.asarray(X0), "steepest-descent", gtol=GTOL, max_iter=300,
                                             record_path=True))
    for a, b in zip(jax.tree_util.tree_leaves(res), jax.tree_util.tree_leaves(sd_run())):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="registered already; pass replace=True"):
        optimizers.register(SD)
    optimizers.register(SD._replace(doc="again"), replace=True)
    assert optimizers.get_method("steepest-descent").doc == "again"
    with pytest.raises(TypeError, match="takes a Method record"):
        optimizers.register("steepest-descent")


def test_registered_name_is_gone_after_the_test():
    assert "steepest-descent" not in optimizers.method_names()


def test_make_transform_of_the_record_takes_minimizes_steps(registry):
    optimizers.register(SD)
    steps = 4
    path = sd_run().trace.x
    for opt in (optimizers.make_transform(SD), optimizers.make_transform("steepest-descent")):
        params = jnp.asarray(X0)
        state = opt.init(params)
        for k in range(1, steps + 1):
            value, grad = jax.value_and_grad(quad)(params)
            updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=quad)
            params = optax.apply_updates(params, updates)
            np.testing.assert_allclose(params, path[k], rtol=1e-12, atol=1e-14)


def test_a_trust_region_method_from_public_parts_solves_a_quadratic():
    """Hessian products as the model, GLTR as the subproblem: trust-krylov rebuilt."""

    def model(objective, it, state, opts):
        return optimizers.Model(it, lambda v: objective.hvp(it.x, v), None, state)

    rec = optimizers.compose("my-trust-krylov", optimizers.Direction("hessian", {}, model=model),
                             optimizers.trust_region("gltr"), "GLTR trust region")
    res = optimizers.minimize(quad, jnp.asarray(X0), rec, gtol=1e-10, initial_radius=10.0, max_iter=50)
    assert int(res.status) == 0
    # radius 10 holds the Newton step (|x0 - c| = 3.6), so the steps are inexact Newton steps
    # (GLTR to the forcing tolerance min(0.5, sqrt(||g||)) ||g||): superlinear, at most n = 3
    # products each
    k = int(res.nit)
    assert k <= 10
    assert np.all(np.diff(res.trace.nhvp[: k + 1]) <= 3)
    f = res.trace.f[: k + 1]
    assert np.all(np.diff(f) <= 0) and f[-1] < f[0]  # a rejected trial leaves f as it is
    np.testing.assert_allclose(res.x, C, atol=2 * np.sqrt(3) * 1e-10)


# ------------------------------------------------------------------ bad input, before compiling




def _residual(x):
    return x - 1.0


@pytest.mark.parametrize("method", ["trust-exact", "dogleg", "newton", "bfgs"])
def test_dense_methods_refuse_n_above_dense_max_dim(no_compiling, method):
    x0 = jnp.zeros(DENSE_MAX_DIM + 1)
    match = f"method '{method}' holds a dense {DENSE_MAX_DIM + 1} x {DENSE_MAX_DIM + 1} matrix.*n <= {DENSE_MAX_DIM}"
    with pytest.raises(ValueError, match=match):
        optimizers.minimize(lambda x: jnp.sum(x**2), x0, method)
    with pytest.raises(ValueError, match=f"transform '{method}' holds a dense .*n <= {DENSE_MAX_DIM}"):
        optimizers.make_transform(method).init(x0)
    # a small n is accepted
    optimizers.make_transform(method).init(jnp.zeros(8))


TRUST_METHODS = ["trust-ncg", "trust-krylov", "trust-exact", "dogleg"]


@pytest.mark.parametrize("method", TRUST_METHODS)
@pytest.mark.parametrize("options, match", [
    (dict(initial_radius=0.0), r"option 'initial_radius': expected a real number in \(0, inf\), got 0.0"),
    (dict(initial_radius=-1.0), r"option 'initial_radius'"),
    (dict(max_radius=0.0), r"option 'max_radius': expected a real number in \(0, inf\)"),
    (dict(initial_radius=10.0, max_radius=1.0), r"'initial_radius' \(10.0\) and 'max_radius' \(1.0\): need"),
    (dict(eta=0.5), r"option 'eta': expected a real number in \[0, 0.25\)"),
])
def test_trust_region_options_are_checked(no_compiling, method, options, match):
    with pytest.raises(ValueError, match=f"method '{method}'.*{match}"):
        optimizers.minimize(quad, jnp.asarray(X0), method, **options)
    with pytest.raises(ValueError, match=f"method '{method}'.*{match}"):
        optimizers.make_transform(method, **options)


@pytest.mark.parametrize("method", ["gauss-newton", "levenberg-marquardt"])
def test_sum_of_squares_methods_without_a_residual_name_the_option(no_compiling, method):
    # one message, with the method's own name (the direction is shared), naming residual=,
    # and offering no 'curvature' option (these methods have none)
    match = f"^method '{method}': the Gauss-Newton matrix needs the model/loss split: .*residual="
    for call in (lambda: optimizers.minimize(quad, jnp.asarray(X0), method),
                 lambda: optimizers.make_transform(method)):
        with pytest.raises(ValueError, match=match) as err:
            call()
        assert "curvature" not in str(err.value)
    assert "curvature" not in optimizers.method_options(method)
    with pytest.raises(ValueError, match=f"^method '{method}': model_fn was given without loss_fn"):
        optimizers.minimize(quad, jnp.asarray(X0), method, model_fn=_residual)


def test_least_squares_bad_input(no_compiling):
    with pytest.raises(ValueError, match="residual must return a vector of residuals.*got a scalar"):
        optimizers.least_squares(lambda x: jnp.sum(x**2), jnp.asarray(X0))
    with pytest.raises(TypeError, match="residual must be a function"):
        optimizers.least_squares(3.0, jnp.asarray(X0))
    with pytest.raises(TypeError, match="residual must return floating-point residuals"):
        optimizers.least_squares(lambda x: (x > 0).astype(jnp.int32), jnp.asarray(X0))
    with pytest.raises(TypeError, match=r"least_squares supplies \['loss_fn', 'model_fn'\] itself"):
        optimizers.least_squares(_residual, jnp.asarray(X0), model_fn=_residual, loss_fn=jnp.sum)
    with pytest.raises(ValueError, match="method 'levenberg-marquardt' option 'damping'"):
        optimizers.least_squares(_residual, jnp.asarray(X0), damping=-1.0)

"""Bad input to the curvature tools: one clear TypeError/ValueError naming the argument,
raised before anything compiles, one table per class of input (shared checks in
curvature/_validate.py). Tiny operators; the few compiled calls are reused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import curvature as cv

E = jnp.diag(jnp.array([1.0, 2.0, 3.0]))
X = jnp.ones(3)
KEY = jax.random.PRNGKey(0)


def f(x):
    return jnp.sum(x**2) + jnp.prod(x)


def model(p):
    return 2.0 * p


def loss(z):
    return jnp.sum(z**2)


# ------------------------------------------------- tolerances and positive counts

COUNT_CASES = [
    (lambda: cv.classify_critical_point(f, X, tol=-1), ValueError, r"tol must be >= 0"),
    (lambda: cv.classify_critical_point(f, X, tol=float("nan")), ValueError, r"tol must be >= 0"),
    (lambda: cv.classify_critical_point(f, X, tol="small"), TypeError, r"tol must be >= 0"),
    (lambda: cv.classify_critical_point(f, X, num_iters=0), ValueError, r"num_iters must be >= 1"),
    (lambda: cv.classify_critical_point(f, jnp.zeros(0)), ValueError, r"x has no elements"),
    (lambda: cv.eigenvalues(E, 0), ValueError, r"k must be between 1 and 3"),
    (lambda: cv.eigenvalues(E, 1, num_iters=0), ValueError, r"num_iters must be between 1 and 3"),
    (lambda: cv.eigenvalues(E, 1, tol=-1e-3), ValueError, r"tol must be >= 0"),
    (lambda: cv.eigenvalues(E, 1, tol=jnp.ones(2)), TypeError, r"tol must be >= 0.*shape \(2,\)"),
    (lambda: cv.condition_number(E, tol=-1.0), ValueError, r"tol must be >= 0"),
    (lambda: cv.condition_number(E, num_iters=-2), ValueError, r"num_iters must be between 1 and 3"),
    (lambda: cv.lanczos(E, 0), ValueError, r"num_iters must be between 1 and 3"),
    (lambda: cv.trace(E, KEY, 0), ValueError, r"num_matvecs must be >= 1"),
    (lambda: cv.trace(E, KEY, 2, "hutchpp"), ValueError, r"num_matvecs must be >= 3"),
    (lambda: cv.trace(E, KEY, 2.0), TypeError, r"num_matvecs must be a Python int"),
    (lambda: cv.diagonal(E, method="hutchinson", key=KEY, num_matvecs=0), ValueError,
     r"num_matvecs must be >= 1"),
    (lambda: cv.spectral_density(E, KEY, 0, 2), ValueError, r"num_probes must be >= 1"),
    (lambda: cv.spectral_density(E, KEY, 2, 0), ValueError, r"lanczos_order must be between 1 and 3"),
    (lambda: cv.spectral_density(E, KEY, 2, 2, grid=1), ValueError, r"grid must be >= 2"),
    (lambda: cv.default_num_iters(0, 1), ValueError, r"n must be >= 1"),
    (lambda: cv.default_num_iters(10, 0), ValueError, r"k must be >= 1"),
]


@pytest.mark.parametrize("call, err, match", COUNT_CASES)
def test_tolerances_and_counts_are_refused_out_of_range(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ---------------------------------------------------------------- sigma

@pytest.mark.parametrize("sigma, err", [(0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                        (jnp.asarray(-0.5), ValueError), (np.float64(0.0), ValueError),
                                        (jnp.ones(2), TypeError), ("wide", TypeError)])
def test_concrete_nonpositive_sigma_is_refused(sigma, err):
    with pytest.raises(err, match=r"sigma must be > 0 \(the Gaussian smoothing width\)"):
        cv.spectral_density(E, KEY, 2, 2, sigma=sigma)


def test_traced_nonpositive_sigma_gives_nan_not_a_curve():
    run = jax.jit(lambda s: cv.spectral_density(E, KEY, 2, 2, grid=16, sigma=s))
    good = run(0.1)
    assert np.all(np.isfinite(np.asarray(good.density))) and float(good.sigma) == pytest.approx(0.1)
    np.testing.assert_allclose(np.asarray(good.density),
                               np.asarray(cv.spectral_density(E, KEY, 2, 2, grid=16, sigma=0.1).density))
    for bad in (0.0, -0.1, float("nan")):
        out = run(bad)
        assert np.all(np.isnan(np.asarray(out.density))) and np.isnan(float(out.sigma))


# ---------------------------------------------------------------- PRNG keys

RANDOM_TOOLS = {
    "trace": lambda key: cv.trace(E, key, 3),
    "trace hutchpp": lambda key: cv.trace(E, key, 3, "hutchpp"),
    "diagonal": lambda key: cv.diagonal(E, method="hutchinson", key=key, num_matvecs=2),
    "spectral_density": lambda key: cv.spectral_density(E, key, 2, 2),
    "eigenvalues": lambda key: cv.eigenvalues(E, 1, key=key),
    "condition_number": lambda key: cv.condition_number(E, key=key),
    "lanczos": lambda key: cv.lanczos(E, 2, key),
    "classify lanczos": lambda key: cv.classify_critical_point(f, X, method="lanczos", key=key),
}
HOW = r"pass jax\.random\.PRNGKey\(seed\) or jax\.random\.key\(seed\)"
BAD_KEYS = [
    (0, TypeError, r"key must be a PRNG key, not int 0: " + HOW),
    (jnp.array(0), TypeError, r"key must be a PRNG key.*integer seed is not a key\): " + HOW),
    (np.array([1.0, 2.0]), TypeError, r"key must be a PRNG key.*dtype float64.*" + HOW),
    (jnp.zeros(3, jnp.uint32), ValueError, r"key must be a single PRNG key.*got shape \(3,\); " + HOW),
    (jax.random.split(KEY, 2), ValueError, r"key must be a single PRNG key.*got shape \(2, 2\); " + HOW),
    (jax.random.split(jax.random.key(0), 2), ValueError,
     r"key must be a single PRNG key, got an array of keys of shape \(2,\)"),
]


@pytest.mark.parametrize("bad, err, match", BAD_KEYS)
@pytest.mark.parametrize("tool", list(RANDOM_TOOLS))
def test_random_tools_refuse_what_is_not_one_prng_key(tool, bad, err, match):
    with pytest.raises(err, match=match):
        RANDOM_TOOLS[tool](bad)


def test_missing_keys_say_how_to_make_one():
    for call in (lambda: cv.trace(E, None, 3), lambda: cv.spectral_density(E, None, 2, 2),
                 lambda: cv.diagonal(E, method="hutchinson", num_matvecs=2)):
        with pytest.raises(ValueError, match=r"key must be a jax.random PRNG key.*PRNGKey\(seed\)"):
            call()


@pytest.mark.parametrize("tool", ["trace", "spectral_density", "lanczos"])
def test_raw_and_typed_keys_both_work_and_agree(tool):
    # a typed key wraps the same bits as the raw key: the same draws, the same estimate
    raw = jax.tree_util.tree_leaves(RANDOM_TOOLS[tool](jax.random.PRNGKey(3)))
    typed = jax.tree_util.tree_leaves(RANDOM_TOOLS[tool](jax.random.key(3)))
    for a, b in zip(raw, typed):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))


# --------------------------------------------------- v must be shaped like x

LIKE_CASES = [
    (lambda v: cv.hvp(f, X, v), jnp.ones(3, jnp.float32), TypeError,
     r"v leaf dtype float32 does not match x leaf dtype float64"),
    (lambda v: cv.hvp(f, X, v), jnp.ones(4), ValueError, r"v leaf shape \(4,\) does not match x"),
    (lambda v: cv.hvp(f, X, v), (jnp.ones(3),), ValueError, r"v must have the same pytree structure as x"),
    (lambda v: cv.hvp(f, X, v), jnp.ones(3, jnp.int32), TypeError, r"v leaf dtype int32"),
    (lambda v: cv.hvp(lambda t: jnp.sum(t["a"] ** 2), {"a": X}, v), {"b": X}, ValueError,
     r"v must have the same pytree structure as x"),
    (lambda v: cv.gnvp(model, loss, X, v), jnp.ones(3, jnp.float32), TypeError,
     r"v leaf dtype float32 does not match params leaf dtype float64"),
    (lambda v: cv.gnvp(model, loss, X, v), jnp.ones((3, 1)), ValueError, r"v leaf shape \(3, 1\)"),
    (lambda d: cv.quadratic_model(f, X)(d), jnp.ones(3, jnp.float32), TypeError, r"d leaf dtype float32"),
]


@pytest.mark.parametrize("call, v, err, match", LIKE_CASES)
def test_tangents_must_match_x_in_structure_shape_and_dtype(call, v, err, match):
    with pytest.raises(err, match=match):
        call(v)


def test_operator_matvec_casts_to_the_operator_dtype():
    # documented behaviour, not an error: a flat float32 vector is promoted exactly
    op = cv.hessian_operator(f, X)
    v = jnp.asarray([1.0, -2.0, 0.5], jnp.float32)
    np.testing.assert_allclose(np.asarray(op.matvec(v)), np.asarray(cv.hvp(f, X, v.astype(X.dtype))))


# ------------------------------------------------------------ 0 x 0 operators

EMPTY_OPERATORS = {
    "0x0 matrix": lambda: jnp.zeros((0, 0)),
    "linear_operator": lambda: cv.linear_operator(jnp.zeros((0, 0))),
    "hessian_operator": lambda: cv.hessian_operator(f, jnp.zeros(0)),
    "ggn_operator": lambda: cv.ggn_operator(lambda p: 2.0 * p["w"], loss, {"w": jnp.zeros((2, 0))}),
}
SPECTRAL_TOOLS = {
    "eigenvalues": lambda op: cv.eigenvalues(op, 1),
    "condition_number": lambda op: cv.condition_number(op),
    "lanczos": lambda op: cv.lanczos(op, 1),
    "trace": lambda op: cv.trace(op, KEY, 3),
    "diagonal": lambda op: cv.diagonal(op),
    "diagonal hutchinson": lambda op: cv.diagonal(op, method="hutchinson", key=KEY, num_matvecs=2),
    "spectral_density": lambda op: cv.spectral_density(op, KEY, 1, 1),
}


@pytest.mark.parametrize("make", list(EMPTY_OPERATORS))
@pytest.mark.parametrize("tool", list(SPECTRAL_TOOLS))
def test_spectral_tools_refuse_a_0x0_operator(tool, make):
    with pytest.raises(ValueError, match=r"op(_or_f)? is a 0 x 0 operator.*need n >= 1"):
        SPECTRAL_TOOLS[tool](EMPTY_OPERATORS[make]())


def test_diagonal_of_a_function_at_an_empty_point_is_refused():
    with pytest.raises(ValueError, match=r"op_or_f is a 0 x 0 operator"):
        cv.diagonal(f, jnp.zeros(0))

"""hvp, hessian, jacobian, gnvp against analytic derivatives (textbook cases and nested pytrees)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from curvature import gnvp, hessian, hvp, jacobian

from .curvature_cases import gn_problem, nested_f, nested_flat, nested_hessian, nested_point

# --- textbook cases ---------------------------------------------------------------


def test_gradient_of_sum_of_squares_is_2x_2y():
    x = jnp.array([1.5, -2.0])
    jac = jacobian(lambda p: jnp.atleast_1d(p[0] ** 2 + p[1] ** 2), x)
    np.testing.assert_allclose(jac, [[3.0, -4.0]], rtol=1e-14)


def test_gradient_of_3x2y_is_6xy_3x2():
    x, y = 1.5, -2.0
    jac = jacobian(lambda p: jnp.atleast_1d(3 * p[0] ** 2 * p[1]), jnp.array([x, y]))
    np.testing.assert_allclose(jac, [[6 * x * y, 3 * x**2]], rtol=1e-14)


@pytest.mark.parametrize("mode", ["auto", "fwd", "rev"])
def test_jacobian_of_x2_plus_y_and_xy(mode):
    x, y = 0.7, -1.3
    jac = jacobian(lambda p: jnp.stack([p[0] ** 2 + p[1], p[0] * p[1]]), jnp.array([x, y]), mode)
    np.testing.assert_allclose(jac, [[2 * x, 1.0], [y, x]], rtol=1e-14)


def test_softmax_jacobian_is_diag_s_minus_ss():
    z = jnp.array([0.3, -1.2, 2.0, 0.5])
    s = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(
        jacobian(jax.nn.softmax, z), np.diag(s) - np.outer(s, s), rtol=1e-12, atol=1e-15
    )


def test_hessian_of_shifted_sum_of_squares_is_2I():
    h = hessian(lambda w: (w[0] - 3.0) ** 2 + (w[1] + 1.0) ** 2, jnp.array([0.4, 7.0]))
    np.testing.assert_allclose(h, 2 * np.eye(2), rtol=1e-14)


def test_linear_layer_weight_gradient_is_xT_dLdY():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    params = {"W": jnp.asarray(rng.standard_normal((3, 2))), "B": jnp.asarray(rng.standard_normal(2))}

    def loss(p):  # L = ||XW + B - T||^2 / 2, so dL/dY = Y - T
        return 0.5 * jnp.sum((x @ p["W"] + p["B"] - t) ** 2)

    dl_dy = x @ np.asarray(params["W"]) + np.asarray(params["B"]) - t
    jac = jacobian(lambda p: jnp.atleast_1d(loss(p)), params)[0]
    # ravel order: B (2,), then W (3, 2) row-major
    np.testing.assert_allclose(jac[:2], dl_dy.sum(0), rtol=1e-12)
    np.testing.assert_allclose(jac[2:].reshape(3, 2), x.T @ dl_dy, rtol=1e-12)


# --- nested pytrees ----------------------------------------------------------------


def test_hessian_and_hvp_match_analytic_on_nested_pytree():
    p = nested_point(1)
    z = nested_flat(p)
    h_true = nested_hessian(z)
    np.testing.assert_allclose(hessian(nested_f, p), h_true, rtol=1e-12, atol=1e-12)
    v = nested_point(2)
    hv = hvp(nested_f, p, v)
    assert jax.tree_util.tree_structure(hv) == jax.tree_util.tree_structure(p)
    np.testing.assert_allclose(ravel_pytree(hv)[0], h_true @ nested_flat(v), rtol=1e-12, atol=1e-12)


def test_gnvp_matches_dense_JT_H_J():
    model, loss, params, g_true = gn_problem()
    v = (jnp.array([0.5, -1.0]), jnp.array([2.0, 0.1, -0.3]))
    out = gnvp(model, loss, params, v)
    np.testing.assert_allclose(ravel_pytree(out)[0], g_true @ ravel_pytree(v)[0], rtol=1e-12)


# --- jit and vmap ------------------------------------------------------------------


def test_hvp_and_hessian_under_jit_and_vmap():
    p = nested_point(1)
    vs = jax.tree_util.tree_map(lambda *a: jnp.stack(a), nested_point(2), nested_point(3))
    hv = jax.jit(jax.vmap(lambda v: hvp(nested_f, p, v)))(vs)
    h_true = nested_hessian(nested_flat(p))
    for i, seed in enumerate((2, 3)):
        row = jax.tree_util.tree_map(lambda a: a[i], hv)
        np.testing.assert_allclose(
            ravel_pytree(row)[0], h_true @ nested_flat(nested_point(seed)), rtol=1e-12, atol=1e-12
        )
    xs = jnp.array([[1.0, 2.0], [-0.5, 3.0]])
    hs = jax.jit(jax.vmap(lambda x: hessian(lambda w: w[0] ** 3 * w[1], x)))(xs)
    for x, h in zip(np.asarray(xs), np.asarray(hs)):
        np.testing.assert_allclose(h, [[6 * x[0] * x[1], 3 * x[0] ** 2], [3 * x[0] ** 2, 0]], rtol=1e-14)


def test_jacobian_under_jit_and_vmap():
    xs = jnp.array([[0.7, -1.3], [2.0, 0.5]])
    jacs = jax.jit(jax.vmap(lambda x: jacobian(lambda p: jnp.stack([p[0] ** 2 + p[1], p[0] * p[1]]), x)))(xs)
    for (x, y), jac in zip(np.asarray(xs), np.asarray(jacs)):
        np.testing.assert_allclose(jac, [[2 * x, 1.0], [y, x]], rtol=1e-14)


def test_gnvp_under_jit_and_vmap():
    model, loss, params, g_true = gn_problem()
    vs = (jnp.eye(5)[:, :2], jnp.eye(5)[:, 2:])  # the 5 unit vectors, batched
    cols = jax.jit(jax.vmap(lambda v: ravel_pytree(gnvp(model, loss, params, v))[0]))(vs)
    np.testing.assert_allclose(cols, g_true, rtol=1e-12, atol=1e-14)


# --- bad input ---------------------------------------------------------------------


def test_non_scalar_f_is_rejected():
    with pytest.raises(ValueError, match="f must return a scalar"):
        hvp(lambda x: x**2, jnp.ones(3), jnp.ones(3))
    with pytest.raises(ValueError, match="f must return a scalar"):
        hessian(lambda x: x**2, jnp.ones(3))


def test_mismatched_v_is_rejected():
    x = {"a": jnp.ones(2), "b": jnp.ones(3)}
    with pytest.raises(ValueError, match="v must have the same pytree structure as x"):
        hvp(lambda p: jnp.sum(p["a"]) * jnp.sum(p["b"]), x, (jnp.ones(2), jnp.ones(3)))
    with pytest.raises(ValueError, match=r"v leaf shape \(4,\) does not match x leaf shape \(3,\)"):
        hvp(lambda p: jnp.sum(p["a"]) * jnp.sum(p["b"]), x, {"a": jnp.ones(2), "b": jnp.ones(4)})


def test_integer_point_and_bad_mode_are_rejected():
    with pytest.raises(TypeError, match="x must hold floating-point arrays"):
        hessian(lambda x: jnp.sum(x), jnp.arange(3))
    with pytest.raises(ValueError, match="mode must be one of"):
        jacobian(jnp.sin, jnp.ones(2), mode="sideways")


def test_gnvp_rejects_mismatched_model_and_loss():
    model, loss, params, _ = gn_problem()
    v = jax.tree_util.tree_map(jnp.ones_like, params)
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        gnvp(model, lambda z: z, params, v)
    with pytest.raises(ValueError, match="does not fit loss_fn's input"):
        gnvp(model, lambda z: z @ jnp.ones(4), params, v)


def test_non_finite_values_flow_through_as_nan():
    hv = hvp(lambda x: jnp.sum(jnp.sin(x) * x), jnp.array([1.0, jnp.nan]), jnp.ones(2))
    assert np.isnan(np.asarray(hv)[1])
    h = hessian(lambda x: jnp.sum(x**3), jnp.array([jnp.inf, 1.0]))
    assert not np.isfinite(np.asarray(h)[0, 0]) and np.asarray(h)[1, 1] == 6.0

"""classify_critical_point on the textbook surfaces and quadratic_model against analytic
Taylor expansions; jit, vmap and argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from curvature import CRITICAL_POINT_LABELS, classify_critical_point, quadratic_model

from .curvature_cases import nested_f, nested_flat, nested_grad, nested_hessian, nested_point

SURFACES = {
    "minimum": (lambda p: p[0] ** 2 + p[1] ** 2, [2.0, 2.0]),
    "maximum": (lambda p: 4.0 - (p[0] ** 2 + p[1] ** 2), [-2.0, -2.0]),
    "saddle": (lambda p: p[0] ** 2 - p[1] ** 2, [-2.0, 2.0]),
    "degenerate": (lambda p: p[0] ** 3 - 3 * p[0] * p[1] ** 2, [0.0, 0.0]),  # monkey saddle
}


@pytest.mark.parametrize("expected", list(SURFACES))
def test_textbook_critical_points(expected):
    f, eigs = SURFACES[expected]
    res = classify_critical_point(f, jnp.zeros(2))
    assert res.name == expected and CRITICAL_POINT_LABELS[int(res.label)] == expected
    np.testing.assert_allclose(res.eigenvalues, eigs, atol=1e-14)
    assert float(res.grad_norm) == 0.0


def test_lanczos_method_and_gradient_norm_away_from_a_critical_point():
    # x^2 - y^2 + 3 z^2 at (1, 1, 1): indefinite Hessian diag(2, -2, 6), gradient (2, -2, 6)
    def f(p):
        return p[0] ** 2 - p[1] ** 2 + 3 * p[2] ** 2
    res = jax.jit(lambda x: classify_critical_point(f, x, method="lanczos"))(jnp.ones(3))
    assert res.name == "saddle"
    np.testing.assert_allclose(res.eigenvalues, [-2.0, 6.0], rtol=1e-12)
    np.testing.assert_allclose(res.grad_norm, np.sqrt(44.0), rtol=1e-14)


def test_classify_under_vmap_over_points():
    # f = x^3/3 - x + y^2: minimum at (1, 0), saddle at (-1, 0)
    def f(p):
        return p[0] ** 3 / 3 - p[0] + p[1] ** 2
    res = jax.vmap(lambda x: classify_critical_point(f, x))(jnp.array([[1.0, 0.0], [-1.0, 0.0]]))
    assert [CRITICAL_POINT_LABELS[int(c)] for c in res.label] == ["minimum", "saddle"]
    np.testing.assert_allclose(res.eigenvalues, [[2.0, 2.0], [-2.0, 2.0]], rtol=1e-14)


def test_nan_point_is_degenerate_with_nan_eigenvalues():
    res = classify_critical_point(SURFACES["minimum"][0], jnp.array([jnp.nan, 0.0]))
    assert res.name == "degenerate" and np.isnan(float(res.grad_norm))


def test_quadratic_model_matches_analytic_taylor_expansion():
    p, d = nested_point(1), nested_point(2)
    z, dz = nested_flat(p), nested_flat(d)
    expected = (
        float(nested_f(p)) + nested_grad(z) @ dz + 0.5 * dz @ nested_hessian(z) @ dz
    )
    value, grad = jax.jit(lambda p, d: (quadratic_model(nested_f, p)(d),
                                        quadratic_model(nested_f, p).gradient(d)))(p, d)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(
        jax.flatten_util.ravel_pytree(grad)[0], nested_grad(z) + nested_hessian(z) @ dz, rtol=1e-12
    )


def test_quadratic_model_is_exact_for_a_quadratic_under_jit_and_vmap():
    h = np.array([[3.0, 1.0], [1.0, -2.0]])
    def f(x):
        return 0.5 * x @ h @ x + jnp.array([1.0, -1.0]) @ x + 2.0
    x0 = jnp.array([0.3, -0.7])
    ds = jnp.asarray(np.random.default_rng(0).standard_normal((4, 2)))
    vals = jax.jit(lambda x, d: jax.vmap(quadratic_model(f, x))(d))(x0, ds)
    np.testing.assert_allclose(vals, [f(x0 + d) for d in ds], rtol=1e-13)
    # the model is a pytree: it crosses a jit boundary and batches over points
    models = jax.vmap(lambda x: quadratic_model(f, x))(jnp.stack([x0, -x0]))
    np.testing.assert_allclose(models.value, [f(x0), f(-x0)], rtol=1e-14)


def test_geometry_rejects_bad_input():
    with pytest.raises(ValueError, match="f must return a scalar"):
        classify_critical_point(lambda x: x, jnp.ones(2))
    with pytest.raises(ValueError, match="method must be one of"):
        classify_critical_point(jnp.sum, jnp.ones(2), method="qr")
    model = quadratic_model(lambda x: jnp.sum(x**2), jnp.ones(3))
    with pytest.raises(ValueError, match=r"d leaf shape \(2,\) does not match x leaf shape \(3,\)"):
        model(jnp.ones(2))

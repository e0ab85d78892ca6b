"""hessian_operator, ggn_operator, linear_operator: matvecs and dense forms against analytic
matrices; pytree behaviour under jit and vmap; argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from curvature import LinearOperator, ggn_operator, hessian_operator, linear_operator

from .curvature_cases import NESTED_DIM, gn_problem, nested_f, nested_flat, nested_hessian, nested_point


def test_hessian_operator_matches_analytic_hessian():
    p = nested_point(1)
    op = hessian_operator(nested_f, p)
    h_true = nested_hessian(nested_flat(p))
    assert op.shape == (NESTED_DIM, NESTED_DIM) and op.dtype == np.float64
    v = np.random.default_rng(0).standard_normal(NESTED_DIM)
    np.testing.assert_allclose(op.matvec(jnp.asarray(v)), h_true @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.to_dense(), h_true, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op @ jnp.eye(NESTED_DIM)[:, :3], h_true[:, :3], rtol=1e-12, atol=1e-12)


def test_flat_order_is_ravel_pytree_order_with_mixed_dtypes():
    # f = sum_i c_i z_i^2 / 2 over the ravel_pytree vector z: H = diag(c) in that order
    p = {"w": jnp.ones((2, 2), jnp.float32), "b": jnp.ones(3, jnp.float64)}
    flat, _ = ravel_pytree(p)
    c = np.arange(1.0, 8.0)

    def f(q):
        z = ravel_pytree(q)[0]
        return 0.5 * jnp.sum(c * z**2)

    op = hessian_operator(f, p)
    assert op.dtype == flat.dtype == np.float64
    np.testing.assert_allclose(op.to_dense(), np.diag(c), rtol=1e-6)


def test_ggn_operator_matches_dense_JT_H_J():
    model, loss, params, g_true = gn_problem()
    op = ggn_operator(model, loss, params)
    assert op.shape == (5, 5)
    np.testing.assert_allclose(op.to_dense(), g_true, rtol=1e-12, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(g_true) > -1e-14)  # PSD: convex loss in the output


def test_linear_operator_from_matrix_and_from_matvec():
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    op = linear_operator(a)
    np.testing.assert_allclose(op.matvec(jnp.array([1.0, -1.0])), [1.0, -2.0])
    np.testing.assert_allclose(op.to_dense(), a)
    op2 = linear_operator(lambda v: jnp.asarray(a) @ v, shape=2)
    assert op2.shape == (2, 2) and op2.dtype == np.float64
    np.testing.assert_allclose(op2.to_dense(), a)
    ints = linear_operator(np.array([[1, 2], [2, 1]]))
    assert ints.dtype == np.float64
    assert linear_operator(op) is op


def test_operators_pass_through_jit_without_retracing():
    traces = []

    @jax.jit
    def apply(op, v):
        traces.append(1)
        return op.matvec(v)

    v = jnp.ones(NESTED_DIM)
    for seed in (1, 2):  # rebuilt operator, same f and layout: one trace
        p = nested_point(seed)
        out = apply(hessian_operator(nested_f, p), v)
        np.testing.assert_allclose(out, nested_hessian(nested_flat(p)) @ np.ones(NESTED_DIM), rtol=1e-12)
    assert len(traces) == 1
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(jax.jit(lambda op: op.to_dense())(linear_operator(a)), a)


def test_operators_under_vmap():
    # a batch of points -> a batch of Hessian operators (built inside vmap)
    xs = jnp.array([[1.0, 2.0], [-0.5, 3.0], [0.0, 1.0]])
    def f(w):
        return w[0] ** 3 * w[1]
    dense = jax.vmap(lambda x: hessian_operator(f, x).to_dense())(xs)
    for x, h in zip(np.asarray(xs), np.asarray(dense)):
        np.testing.assert_allclose(h, [[6 * x[0] * x[1], 3 * x[0] ** 2], [3 * x[0] ** 2, 0]], rtol=1e-14)
    # a batched operator pytree passed into vmap
    mats = jnp.stack([jnp.eye(3) * s for s in (1.0, 2.0)])
    ops = jax.vmap(linear_operator)(mats)
    out = jax.vmap(lambda op: op.matvec(jnp.ones(3)))(ops)
    np.testing.assert_allclose(out, [[1.0] * 3, [2.0] * 3])
    model, loss, params, g_true = gn_problem()
    cols = jax.vmap(lambda e: ggn_operator(model, loss, params).matvec(e))(jnp.eye(5))
    np.testing.assert_allclose(cols, g_true, rtol=1e-12, atol=1e-14)


def test_linear_operator_rejects_bad_input():
    with pytest.raises(ValueError, match=r"matrix must be square \(n, n\), got shape \(2, 3\)"):
        linear_operator(np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape is required with a matvec callable"):
        linear_operator(lambda v: v)
    with pytest.raises(ValueError, match="shape must be square"):
        linear_operator(lambda v: v, shape=(2, 3))
    with pytest.raises(ValueError, match=r"matvec must map shape \(3,\) to \(3,\)"):
        linear_operator(lambda v: v[:2], shape=3)
    with pytest.raises(TypeError, match="must be real"):
        linear_operator(np.eye(2) * 1j)
    op = linear_operator(np.eye(3))
    with pytest.raises(ValueError, match=r"v must be a flat vector of shape \(3,\)"):
        op.matvec(jnp.ones(4))
    assert isinstance(op, LinearOperator)


def test_operator_constructors_reject_bad_functions():
    with pytest.raises(ValueError, match="f must return a scalar"):
        hessian_operator(lambda x: x, jnp.ones(2))
    with pytest.raises(TypeError, match="x must hold floating-point arrays"):
        hessian_operator(jnp.sum, jnp.arange(2))
    model, _, params, _ = gn_problem()
    with pytest.raises(ValueError, match="does not fit loss_fn's input"):
        ggn_operator(model, lambda z: z @ jnp.ones(2), params)

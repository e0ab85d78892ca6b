"""minimize_batch: the same runs as jax.vmap(minimize), one per start, from one loop that
writes each start's trace row in place. Compared with vmap(minimize) on the same starts
(tolerances, not bits: the two programs are compiled separately)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers


def himmelblau(x):
    return (x[0] ** 2 + x[1] - 11.0) ** 2 + (x[0] + x[1] ** 2 - 7.0) ** 2


STARTS = jnp.array([[0.0, 0.0], [-1.0, 2.5], [3.5, -3.0], [-4.0, -4.0]])
GTOLS = jnp.array([1e-8, 1e-3, 1e-8, 1e-6])  # one per start: the second stops early


@pytest.mark.parametrize("method, options", [("gd", {"learning_rate": 2e-3}), ("lbfgs", {}), ("trust-ncg", {}),
                                             ("newton", {})])
def test_the_same_runs_as_vmap_of_minimize(method, options):
    batched = optimizers.minimize_batch(himmelblau, STARTS, method, gtol=GTOLS, max_iter=60, record_path=True,
                                        **options)
    one_by_one = jax.vmap(lambda x0, g: optimizers.minimize(himmelblau, x0, method, gtol=g, max_iter=60,
                                                            record_path=True, **options))(STARTS, GTOLS)
    assert batched.x.shape == (4, 2) and batched.trace.x.shape == (4, 61, 2)
    np.testing.assert_array_equal(batched.status, one_by_one.status)
    np.testing.assert_allclose(batched.x, one_by_one.x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(batched.fun, one_by_one.fun, rtol=1e-9, atol=1e-18)
    assert np.all(np.abs(np.asarray(batched.nit) - np.asarray(one_by_one.nit)) <= 1)
    for b in range(4):
        k = int(min(batched.nit[b], one_by_one.nit[b])) + 1
        np.testing.assert_allclose(batched.trace.f[b, :k], one_by_one.trace.f[b, :k], rtol=1e-9, atol=1e-18)
        np.testing.assert_allclose(batched.trace.x[b, :k], one_by_one.trace.x[b, :k], rtol=1e-9, atol=1e-12)
        # past each start's own end the trace is NaN, as minimize's is
        assert np.all(np.isnan(batched.trace.f[b, int(batched.nit[b]) + 1:]))
        assert batched.trace.nfev[b, int(batched.nit[b])] == batched.nfev[b]
    if method != "gd":
        assert np.all(np.asarray(batched.success)) and batched.nit[1] < batched.nit[0]


def test_pytree_starts_args_and_jit():
    def loss(params, target):
        return jnp.sum((params["w"] - target) ** 2) + (params["b"] - 1.0) ** 2

    x0s = {"w": jnp.zeros((3, 2)), "b": jnp.array([5.0, -5.0, 0.5])}
    target = jnp.array([1.0, -2.0])
    run = jax.jit(lambda x0s, target: optimizers.minimize_batch(loss, x0s, "lbfgs", args=(target,), gtol=1e-10))
    res = run(x0s, target)
    np.testing.assert_allclose(res.x["w"], np.tile(target, (3, 1)), atol=1e-9)
    np.testing.assert_allclose(res.x["b"], np.ones(3), atol=1e-9)
    assert res.grad["w"].shape == (3, 2) and res.x["b"].shape == (3,)


def test_bad_batches_are_refused_before_compiling():
    with pytest.raises(ValueError, match="same leading number of starts"):
        optimizers.minimize_batch(lambda p: jnp.sum(p["a"] ** 2) + jnp.sum(p["b"] ** 2),
                                  {"a": jnp.ones((3, 2)), "b": jnp.ones((2,))}, "lbfgs")
    with pytest.raises(ValueError, match="leading axis of starts"):
        optimizers.minimize_batch(himmelblau, jnp.array(1.0), "lbfgs")
    with pytest.raises(ValueError, match=r"gtol: a vector of tolerances needs one per start \(4\)"):
        optimizers.minimize_batch(himmelblau, STARTS, "lbfgs", gtol=jnp.ones(3))
    with pytest.raises(ValueError, match="gtol"):
        optimizers.minimize_batch(himmelblau, STARTS, "lbfgs", gtol=jnp.array([1e-6, -1.0, 1e-6, 1e-6]))
    with pytest.raises(TypeError, match="unknown option"):
        optimizers.minimize_batch(himmelblau, STARTS, "lbfgs", not_an_option=1)

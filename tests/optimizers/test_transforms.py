"""The optax transforms: a drop-in replacement for optax.lbfgs in a training loop, the same
step as minimize, extra keyword arguments passed to value_fn, and clear errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize as so

import optimizers

N_SAMPLES, N_FEATURES = 400, 10


def _data():
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(k1, (N_SAMPLES, N_FEATURES))
    w_true = jax.random.normal(k2, (N_FEATURES,))
    y = (x @ w_true + 0.5 * jax.random.normal(k3, (N_SAMPLES,)) > 0).astype(jnp.float64)
    return x, y


BATCH = _data()
PARAMS0 = {"w": jnp.zeros(N_FEATURES), "b": jnp.zeros(())}


def loss(params, batch):
    """Mean logistic loss with a small ridge term (strictly convex)."""
    x, y = batch
    z = x @ params["w"] + params["b"]
    return jnp.mean(jnp.logaddexp(0.0, z) - y * z) + 1e-3 * jnp.sum(params["w"] ** 2)


def train(opt, steps=100, tol=1e-8):
    """A plain optax training loop; the optimizer is the only thing that changes."""
    value_and_grad = optax.value_and_grad_from_state(loss)

    @jax.jit
    def step(params, state):
        value, grad = value_and_grad(params, BATCH, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss, batch=BATCH)
        return optax.apply_updates(params, updates), state, grad

    params, state = PARAMS0, opt.init(PARAMS0)
    path = [params]
    for i in range(steps):
        params, state, grad = step(params, state)
        path.append(params)
        if max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grad)) <= tol:
            break
    return params, i + 1, path, state


@functools.lru_cache(maxsize=None)
def scipy_optimum():
    flat0, unravel = jax.flatten_util.ravel_pytree(PARAMS0)
    f = jax.jit(lambda z: loss(unravel(z), BATCH))
    g = jax.jit(jax.grad(lambda z: loss(unravel(z), BATCH)))
    res = so.minimize(lambda z: float(f(z)), np.zeros(flat0.size), jac=lambda z: np.asarray(g(z)),
                      method="BFGS", options={"gtol": 1e-10})
    return res.fun, res.x


@functools.lru_cache(maxsize=None)
def trained(name):
    opt = optax.lbfgs() if name == "optax.lbfgs" else optimizers.newton_cg()
    return train(opt)


def test_newton_cg_is_a_drop_in_for_optax_lbfgs_and_needs_fewer_iterations():
    f_star, z_star = scipy_optimum()
    p_ref, it_ref, _, _ = trained("optax.lbfgs")
    p_ncg, it_ncg, _, state = trained("newton-cg")
    for p in (p_ref, p_ncg):
        np.testing.assert_allclose(float(loss(p, BATCH)), f_star, rtol=1e-12)
        np.testing.assert_allclose(jax.flatten_util.ravel_pytree(p)[0], z_star, atol=1e-6)
    assert it_ncg < it_ref, (it_ncg, it_ref)
    assert int(state.count) == it_ncg and int(state.nhvp) > 0 and int(state.nfev) >= it_ncg


def test_transform_takes_the_same_steps_as_minimize():
    _, iters, path, _ = trained("newton-cg")
    flat0, unravel = jax.flatten_util.ravel_pytree(PARAMS0)
    res = optimizers.minimize(lambda p: loss(p, BATCH), PARAMS0, "newton-cg", gtol=1e-8, max_iter=50,
                              record_path=True)
    k = min(int(res.nit), iters)
    xs = np.array([jax.flatten_util.ravel_pytree(p)[0] for p in path[: k + 1]])
    np.testing.assert_allclose(xs, res.trace.x[: k + 1], rtol=1e-9, atol=1e-12)


def test_extra_keyword_arguments_reach_value_fn():
    def value_fn(params, target):
        return jnp.sum((params - target) ** 2)

    opt = optimizers.trust_ncg(initial_radius=10.0)
    params = jnp.zeros(3)
    target = jnp.array([1.0, -2.0, 0.5])
    # no value/grad given: the transform evaluates them itself (counted)
    update = jax.jit(lambda p, s, t: opt.update(None, s, p, value_fn=value_fn, target=t))
    updates, state = update(params, opt.init(params), target)
    np.testing.assert_allclose(optax.apply_updates(params, updates), target, atol=1e-12)
    assert int(state.nfev) == 2 and int(state.ngev) == 2 and int(state.nhvp) >= 1
    assert float(state.value) == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("method", ["trust-ncg", "lbfgs"])
def test_a_later_batch_with_a_higher_loss_still_takes_its_steps(method):
    # the globalisations remember the lowest f met, to cap rises within the noise of f; in an
    # optax loop the value function changes, and a batch whose loss lies above an earlier
    # batch's must still move (the cap allows no rise there, but every decrease)
    def value_fn(params, target):
        return jnp.sum((params - target) ** 2)

    opt = optimizers.make_transform(method)
    update = jax.jit(lambda p, s, t: opt.update(None, s, p, value_fn=value_fn, target=t))
    params, state = jnp.zeros(3), opt.init(jnp.zeros(3))
    near, far = jnp.array([0.1, 0.0, 0.0]), jnp.array([5.0, -4.0, 3.0])
    for _ in range(3):  # batch 1: its loss goes to ~0
        updates, state = update(params, state, near)
        params = optax.apply_updates(params, updates)
    losses = [float(value_fn(params, far))]
    for _ in range(3):  # batch 2: loss 50 > the lowest f met; every step is taken
        updates, state = update(params, state, far)
        params = optax.apply_updates(params, updates)
        losses.append(float(value_fn(params, far)))
    assert np.all(np.diff(losses) <= 0) and losses[-1] < 0.9 * losses[0], losses


def test_transform_errors():
    opt = optimizers.lbfgs(memory_size=4)
    state = opt.init(jnp.zeros(2))
    with pytest.raises(TypeError, match="update needs params and value_fn"):
        opt.update(jnp.zeros(2), state, jnp.zeros(2))
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['memory'\] for method 'lbfgs'"):
        optimizers.lbfgs(memory=4)
    with pytest.raises(ValueError, match="unknown method"):
        optimizers.make_transform("newton-raphson")
    assert isinstance(optimizers.bfgs(), optax.GradientTransformationExtraArgs)
    assert isinstance(optimizers.newton(), optax.GradientTransformationExtraArgs)

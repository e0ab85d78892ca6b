"""gd, momentum and adam under the driver: the optax update rules recomputed in numpy, and
convergence to the known minimizers of a quadratic and of Himmelblau's function."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers

A = np.array([[3.0, 1.0], [1.0, 2.0]])
C = np.array([1.0, -2.0])
HIMMELBLAU_MINIMA = np.array([[3.0, 2.0], [-2.805118086952745, 3.131312518250573],
                              [-3.779310253377747, -3.283185991286170], [3.584428340330492, -1.848126526964404]])


def quad(x):
    r = x - C
    return 0.5 * r @ A @ r


def himmelblau(x):
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


def both(z, k):
    return jax.lax.switch(k, [quad, himmelblau], z)


OPTIONS = {
    "gd": dict(learning_rate=0.01),
    "momentum": dict(learning_rate=0.005, momentum=0.8),
    "adam": dict(learning_rate=0.05),
}
STARTS = np.array([[4.0, 3.0], [0.0, 0.0], [-1.0, 4.0], [-4.0, -4.0], [4.0, -4.0]])


@functools.lru_cache(maxsize=None)
def solved(method):
    """The quadratic and Himmelblau's function from each start, one vmapped call."""
    ks = np.repeat([0, 1], len(STARTS))
    x0 = np.tile(STARTS, (2, 1))
    run = jax.jit(jax.vmap(lambda z, k: optimizers.minimize(
        lambda y: both(y, k), z, method, gtol=1e-6, max_iter=3000, **OPTIONS[method])))
    return jax.device_get(run(jnp.asarray(x0), jnp.asarray(ks)))


def _numpy_path(method, grad, x0, steps):
    """The optax rules, written out: sgd; heavy ball (trace = beta trace + g); Adam with bias
    correction. Returns the iterates x_0 .. x_steps."""
    o = OPTIONS[method]
    x, v, m, s = np.array(x0, float), np.zeros(2), np.zeros(2), np.zeros(2)
    path = [x]
    for t in range(1, steps + 1):
        g = grad(x)
        if method == "gd":
            x = x - o["learning_rate"] * g
        elif method == "momentum":
            v = o["momentum"] * v + g
            x = x - o["learning_rate"] * v
        else:
            m = 0.9 * m + 0.1 * g
            s = 0.999 * s + 0.001 * g * g
            mh, sh = m / (1 - 0.9**t), s / (1 - 0.999**t)
            x = x - o["learning_rate"] * mh / (np.sqrt(sh) + 1e-8)
        path.append(x)
    return np.array(path)


@pytest.mark.parametrize("method", ["gd", "momentum", "adam"])
def test_first_order_methods_match_their_update_rule_and_converge(method):
    res = solved(method)
    n = len(STARTS)
    # quadratic: unique minimizer c
    assert np.all(res.status[:n] == 0)
    np.testing.assert_allclose(res.x[:n], np.tile(C, (n, 1)), atol=1e-5)
    # Himmelblau: each start at one of the four minima
    assert np.all(res.status[n:] == 0)
    dist = np.abs(res.x[n:, None, :] - HIMMELBLAU_MINIMA[None]).max(-1)
    assert np.all(dist.min(1) < 1e-5)
    # the iterations equal the update rule run in numpy (gradient written by hand): f along both
    steps = 50
    path = _numpy_path(method, lambda x: A @ (x - C), STARTS[0], steps)
    f_path = [0.5 * (x - C) @ A @ (x - C) for x in path]
    np.testing.assert_allclose(res.trace.f[0, : steps + 1], f_path, rtol=1e-9)
    assert np.all(res.nfev == res.nit + 1) and np.all(res.ngev == res.nit + 1) and np.all(res.nhvp == 0)

"""Methods of optimizers on the problems of experiments' registry and in configs: where an
optimizer test needs the registry or the config parser it lives here, so that
tests/optimizers depends on curvature and optimizers alone (docs/architecture.md).

Newton-CG's step along negative curvature on the two MGH problems where plain Newton-CG
crawled for 5000 iterations from 10 x the standard start (Beale: f = 0.24 at ||g|| 3e-2;
Box 3-D: f = 0.076): both reach the known minimum f* = 0 (More, Garbow & Hillstrom 1981).
Hessian-free on the registry's MLP against Adam at equal gradient cost. scipy's and
optimistix's method spellings in a config."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import experiments.problems as problems
import optimizers
from experiments.config import ConfigError, loads
from optimizers import minimize


@pytest.mark.parametrize("name, x_star", [("beale", [3.0, 0.5]), ("box_3d", [1.0, 10.0, 1.0])])
def test_newton_cg_leaves_the_valley_rim_from_ten_times_the_start(name, x_star):
    p = problems.get(name)
    res = optimizers.minimize(p.fun, 10 * jnp.asarray(p.x0, jnp.float64), "newton-cg", max_iter=500)
    assert bool(res.success), res.message
    assert int(res.nit) < 200  # was 5000 (MAX_ITER)
    assert float(res.fun) <= 1e-10
    np.testing.assert_allclose(res.x, x_star, atol=1e-4)


def test_hessian_free_trains_an_mlp_below_adam_at_equal_gradient_cost(mlp):
    fun, model, loss, params = mlp
    hf = minimize(fun, params, "hessian-free", max_iter=30, gtol=1e-10, model_fn=model,
                  loss_fn=loss, damping=1e-2)
    # gradient-equivalent cost: a GNVP counts as two gradients, an f evaluation as one.
    cost = int(hf.ngev) + 2 * int(hf.nhvp) + int(hf.nfev)
    rates = (3e-3, 1e-2, 3e-2)
    adam_run = jax.vmap(lambda lr: minimize(fun, params, "adam", max_iter=cost, gtol=1e-10,
                                            learning_rate=lr).fun)
    adam = dict(zip(rates, np.asarray(adam_run(jnp.asarray(rates))).tolist()))
    f0 = float(fun(params))
    assert float(hf.fun) < 1e-3 * f0
    assert float(hf.fun) < 0.5 * min(adam.values()), (float(hf.fun), adam, cost)


@pytest.fixture(scope="module")
def mlp():
    """The registry's mlp_regression with 2 hidden tanh layers of 16, 2000 noise-free points."""
    p = problems.get("mlp_regression", n_samples=2000, hidden=(16, 16), noise=0.0, seed=0)
    return p.fun, p.model_fn, p.loss_fn, p.x0


def test_configs_take_the_same_spellings():
    text = ('name = "spellings"\n[[problems]]\nname = "booth"\n[[optimizers]]\nmethod = "Newton-CG"\n'
            '[[optimizers]]\nmethod = "L-BFGS-B"\n')
    with pytest.raises(ConfigError, match=r"optimizers\[1\]\.method.*use 'lbfgs'"):
        loads(text)
    config = loads(text.replace('"L-BFGS-B"', '"BFGS"'))
    assert [o.method for o in config.optimizers] == ["newton-cg", "bfgs"]

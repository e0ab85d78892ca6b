"""Robustness fixes: line searches whose decrease is below the rounding of f, and Newton
from an exactly singular Hessian (see docs/benchmarks-robustness.md)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
from optimizers._step_length import strong_wolfe


def test_strong_wolfe_finds_the_minimizer_when_the_decrease_is_below_one_ulp_of_f():
    # phi's minimum lies at t = 1e-6 and is only 2.5e-14 below phi(0) = 1000 (ulp 1.1e-13):
    # comparing f values cannot see it, the gradients' estimate can.
    h = 1e6
    f = lambda x: 1000.0 + 0.5 * h * jnp.sum(x * x)  # noqa: E731
    x0 = jnp.array([2e-10, -1e-10])
    f0, g0 = jax.value_and_grad(f)(x0)
    d = -g0
    res = strong_wolfe(jax.value_and_grad(f), x0, f0, g0, d)
    assert bool(res.success) and bool(res.decrease)
    dp0 = float(g0 @ d)
    dp = float(res.g @ d)
    assert abs(dp) <= 0.9 * abs(dp0)
    assert float(res.f) <= float(f0) + 1e-12  # at most rounding above the start
    np.testing.assert_allclose(float(res.step), 1 / h, rtol=0.1)


def _denschnb(x):  # CUTEst DENSCHNB; its Hessian at (1, 1) is [[4, -4], [-4, 4]], singular
    return (x[0] - 2) ** 2 + (x[0] - 2) ** 2 * x[1] ** 2 + (x[1] + 1) ** 2


def test_newton_moves_off_an_exactly_singular_hessian():
    x0 = jnp.array([1.0, 1.0])
    assert np.min(np.abs(np.linalg.eigvalsh(np.asarray(jax.hessian(_denschnb)(x0))))) == 0.0
    res = optimizers.minimize(_denschnb, x0, "newton", max_iter=50)
    assert int(res.status) == 0, (int(res.status), int(res.nit))
    np.testing.assert_allclose(np.asarray(res.x), [2.0, -1.0], atol=1e-6)
    # the first step is the modified one: the null-space part at most the unit-scaled
    # steepest-descent step, not 1/(n eps max|lam|) long
    one = optimizers.minimize(_denschnb, x0, "newton", max_iter=1, line_search="none")
    assert float(jnp.linalg.norm(one.x - x0)) < 10


def test_newton_modification_none_is_plain_newton_on_an_indefinite_hessian():
    f = lambda x: x[0] ** 2 - x[1] ** 2 + 0.1 * x[0] ** 3 + x[0] * x[1]  # noqa: E731
    x0 = jnp.array([0.3, -0.2])
    g, h = jax.grad(f)(x0), jax.hessian(f)(x0)
    assert np.min(np.linalg.eigvalsh(np.asarray(h))) < 0
    res = optimizers.minimize(f, x0, "newton", max_iter=1, modification="none", line_search="none")
    np.testing.assert_allclose(np.asarray(res.x), np.asarray(x0 - jnp.linalg.solve(h, g)), rtol=1e-12)


_SCALES = jnp.logspace(0, 4, 20)


def _offset_bowl(x):
    # the last decades of ||g|| move f by less than one ulp of 1e6 (1.2e-10): only the
    # slopes see them. Before the approximate Wolfe conditions and the stabilised trust-region
    # ratio, lbfgs, bfgs, trust-ncg, trust-krylov and nonlinear-cg stopped there with "no
    # further progress" at ||g||_inf 1e-6 to 4e-4.
    return 1e6 + 0.5 * jnp.sum(_SCALES * x * x) + 0.1 * jnp.sum(x**4)


@pytest.mark.parametrize("method", ["lbfgs", "bfgs", "trust-ncg", "trust-krylov", "nonlinear-cg"])
def test_methods_reach_gtol_where_f_no_longer_resolves_the_decrease(method):
    x0 = jnp.ones(20)
    res = optimizers.minimize(_offset_bowl, x0, method, max_iter=3000)
    assert int(res.status) == 0, (res.message, float(res.grad_norm), int(res.nit))
    assert float(res.grad_norm) <= 1e-6
    # the true minimum is f = 1e6 at x = 0; the end point is within rounding of it
    assert float(res.fun) <= 1e6 + 4 * float(np.spacing(1e6))
    np.testing.assert_allclose(np.asarray(res.x), 0.0, atol=1e-6)

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


# NIST StRD Misra1a (public domain): y = b1 (1 - exp(-b2 x)); certified b1 = 238.94212918,
# b2 = 5.5015643181e-4, residual sum of squares 0.12455138894.
_MISRA_X = jnp.array([77.6, 114.9, 141.1, 190.8, 239.9, 289.0, 332.8, 378.4, 434.8, 477.3, 536.8, 593.1,
                      689.1, 760.0])
_MISRA_Y = jnp.array([10.07, 14.73, 17.94, 23.93, 29.61, 35.18, 40.02, 44.82, 50.76, 55.05, 61.01, 66.40,
                      75.47, 81.78])


def _misra1a(b):
    return jnp.sum((_MISRA_Y - b[0] * (1 - jnp.exp(-b[1] * _MISRA_X))) ** 2)


@pytest.mark.parametrize("method", ["lbfgs", "bfgs", "newton-cg", "trust-ncg", "trust-exact"])
def test_methods_see_through_the_noise_of_a_least_squares_fit(method):
    # Near the fit f = 0.1246 is a sum of residuals y_i - model_i with y_i up to 82: f moves
    # by ~1e-13 |f| (400 ulps) under changes of x in its last bit, far above the 4 ulps of
    # rounding, while ||g||_inf is still 1e-2 (b2's scale is 1e-4). Comparing f values
    # stopped lbfgs (NO_PROGRESS after 7 iterations, f = 19.5), trust-ncg (f = 19.05) and
    # newton-cg (MAX_ITER) on the way; the slopes resolve it. bfgs and trust-exact passed
    # before too: they guard the rule against breaking them.
    noise = jax.vmap(_misra1a)(jnp.array([238.94212918, 5.5015643181e-4]) * (1 + 4e-16 * jnp.asarray(
        np.random.default_rng(0).standard_normal((64, 2)))))
    assert float(jnp.std(noise)) > 40 * float(np.spacing(0.1246))  # the premise: noise >> ulps
    res = optimizers.minimize(_misra1a, jnp.array([500.0, 1e-4]), method, max_iter=2000)
    assert int(res.status) == 0, (res.message, float(res.grad_norm), int(res.nit))
    np.testing.assert_allclose(float(res.fun), 0.12455138894, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(res.x), [238.94212918, 5.5015643181e-4], rtol=1e-6)


def test_reduction_ratio_judges_by_the_slopes_within_the_noise_of_f():
    from optimizers._step_length import f_noise
    from optimizers._trust_region import reduction_ratio

    f_old, mc = 1000.0, -1e-12  # predicted reduction 1e-12, noise of f 1e-8
    rise = 100 * float(np.spacing(f_old))  # a computed rise far below the noise
    assert rise < float(f_noise(f_old))
    # without slopes the rise counts (a failed step); the slopes saying "down" overrule it
    assert float(reduction_ratio(f_old, f_old + rise, mc)) < 0
    assert float(reduction_ratio(f_old, f_old + rise, mc, slope_change=mc)) == pytest.approx(1.0, rel=1e-9)
    # the slopes saying "up" fail the step however the noise fell
    assert float(reduction_ratio(f_old, f_old - rise, mc, slope_change=-mc)) < 0
    # a change above the noise is taken from f, whatever the slopes say
    assert float(reduction_ratio(f_old, f_old - 1.0, -2.0, slope_change=5.0)) == pytest.approx(0.5, rel=1e-12)


def test_the_noise_cap_and_the_lowest_f():
    from optimizers._step_length import f_cap, f_noise, f_resolution, lowest_f

    # the cap is the lowest f met plus its noise, however far above it f0 has crept
    assert float(f_cap(100.0 + 5e-10, 100.0)) == pytest.approx(100.0 + float(f_noise(100.0)), rel=1e-15)
    assert float(f_cap(100.0)) == pytest.approx(100.0 + float(f_noise(100.0)), rel=1e-15)
    assert float(f_cap(100.0, np.inf)) == float(f_cap(100.0))  # no lowest f yet
    # f0 far above the lowest f (an optax batch with a higher loss): a rise within rounding
    assert float(f_cap(200.0, 100.0)) == 200.0 + float(f_resolution(200.0))
    # a NaN or -inf value never becomes the reference
    low = lowest_f(jnp.inf, jnp.nan, 3.0, -jnp.inf, 5.0)
    assert float(low) == 3.0
    assert float(lowest_f(jnp.inf, jnp.nan)) == np.inf


def test_a_nan_loss_does_not_switch_the_cap_off_in_an_optax_loop():
    import optax

    def value_fn(params, scale):
        return scale * jnp.sum((params - 1.0) ** 2)

    opt = optimizers.make_transform("lbfgs")
    update = jax.jit(lambda p, s, k: opt.update(None, s, p, value_fn=value_fn, scale=k))
    params, state = jnp.zeros(2), opt.init(jnp.zeros(2))
    for scale in (1.0, jnp.nan, 1.0):
        updates, state = update(params, state, scale)
        params = optax.apply_updates(params, jnp.nan_to_num(updates))
    low = float(state.method_state.globalisation)
    assert np.isfinite(low) and low <= 2.0


def test_the_ratio_trusts_f_where_the_model_predicts_far_more_than_the_noise():
    from optimizers._trust_region import NOISY_PREDICTION, reduction_ratio

    # the model says the step gains 1.0 (1e11 noises); f rose by 1e-12: a failed step, even
    # though the slopes claim a decrease
    assert float(reduction_ratio(1.0, 1.0 + 1e-12, -1.0, slope_change=-1.0)) < 0
    # a prediction within NOISY_PREDICTION noises is judged by the slopes
    mc = -0.5 * NOISY_PREDICTION * 1e-11
    assert float(reduction_ratio(1.0, 1.0 + 1e-12, mc, slope_change=mc)) == pytest.approx(1.0, rel=1e-6)

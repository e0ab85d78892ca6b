"""trace (Hutchinson, Hutch++) and diagonal (exact, Hutchinson) against exact traces and
diagonals, with statistical tolerances from the estimators' analytic variances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from curvature import diagonal, linear_operator, trace

from .curvature_cases import nested_f, nested_flat, nested_hessian, nested_point, with_spectrum

N = 20
A = with_spectrum(np.random.default_rng(1).standard_normal(N) + 0.5, seed=13)
SEEDS = 2000


def _over_seeds(method, m, a, seeds, start=0):
    keys = jax.random.split(jax.random.PRNGKey(start), seeds)
    return np.asarray(jax.jit(jax.vmap(lambda k: trace(linear_operator(a), k, m, method)))(keys))


def test_hutchinson_is_unbiased_over_many_seeds():
    # one Rademacher probe: variance 2 (||A||_F^2 - sum_i a_ii^2); the mean of SEEDS
    # estimates is within 5 standard errors of tr(A)
    est = _over_seeds("hutchinson", 1, A, SEEDS)
    sd = np.sqrt(2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2)) / SEEDS)
    assert abs(est.mean() - np.trace(A)) < 5 * sd
    np.testing.assert_allclose(est.var(), 2 * (np.sum(A**2) - np.sum(np.diag(A) ** 2)), rtol=0.15)


def test_hutchpp_beats_hutchinson_on_a_decaying_spectrum():
    # lambda_i = i^-2, n = 100, 30 matvecs, 100 seeds: Hutch++ deflates the top of the
    # spectrum (both estimators in one compiled, vmapped call)
    n = 100
    a = with_spectrum(1.0 / np.arange(1, n + 1) ** 2, seed=14)
    keys = jax.random.split(jax.random.PRNGKey(7), 100)
    both = jax.jit(
        jax.vmap(lambda k: (trace(a, k, 30, "hutchinson"), trace(a, jax.random.fold_in(k, 1), 30, "hutchpp")))
    )
    est_h, est_pp = (np.asarray(e) for e in both(keys))
    err_h = np.abs(est_h - np.trace(a)).mean()
    err_pp = np.abs(est_pp - np.trace(a)).mean()
    assert err_pp < 0.25 * err_h, (err_pp, err_h)


def test_hutchpp_is_exact_when_the_sketch_spans_the_range():
    # rank 3: a sketch of 3 columns captures the whole range, the deflated rest is 0
    u = np.linalg.qr(np.random.default_rng(2).standard_normal((N, 3)))[0]
    a = u @ np.diag([5.0, -2.0, 1.0]) @ u.T
    got = jax.jit(lambda k: trace(a, k, 9, "hutchpp"))(jax.random.PRNGKey(0))
    np.testing.assert_allclose(got, 4.0, rtol=1e-12)


def test_exact_diagonal_of_matrix_and_of_hessian():
    np.testing.assert_allclose(diagonal(A), np.diag(A), rtol=1e-15)
    p = nested_point(1)
    got = jax.jit(lambda q: diagonal(nested_f, q))(p)
    np.testing.assert_allclose(got, np.diag(nested_hessian(nested_flat(p))), rtol=1e-12)
    # a matvec-only operator takes the n unit-vector matvecs
    op = linear_operator(lambda v: jnp.asarray(A) @ v, shape=N)
    np.testing.assert_allclose(diagonal(op), np.diag(A), rtol=1e-14)


def test_hutchinson_diagonal_is_unbiased_and_vmaps_over_keys():
    # entry i has variance sum_{j != i} a_ij^2 per probe; 4 keys x 500 probes
    keys = jax.random.split(jax.random.PRNGKey(5), 4)
    est = jax.vmap(lambda k: diagonal(A, method="hutchinson", key=k, num_matvecs=500))(keys)
    est = np.asarray(est).mean(0)
    sd = np.sqrt((np.sum(A**2, axis=1) - np.diag(A) ** 2) / 2000)
    assert np.all(np.abs(est - np.diag(A)) < 5 * sd)


def test_estimators_reject_bad_input():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="key must be a jax.random PRNG key"):
        trace(A, None, 4)
    with pytest.raises(ValueError, match="num_matvecs must be >= 3"):
        trace(A, key, 2, "hutchpp")
    with pytest.raises(ValueError, match="method must be one of"):
        trace(A, key, 4, "exact")
    with pytest.raises(ValueError, match="x is required when op_or_f is a function"):
        diagonal(nested_f)
    with pytest.raises(ValueError, match="x is only used when op_or_f is a scalar function"):
        diagonal(A, jnp.ones(N))
    with pytest.raises(ValueError, match="num_matvecs is required with method='hutchinson'"):
        diagonal(A, method="hutchinson", key=key)
    with pytest.raises(ValueError, match="f must return a scalar"):
        diagonal(lambda x: x, jnp.ones(3))

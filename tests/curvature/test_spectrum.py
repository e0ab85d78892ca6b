"""eigenvalues, condition_number and spectral_density against numpy.linalg.eigh / cond and
exact traces of matrix powers; jit, vmap and argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from curvature import condition_number, eigenvalues, linear_operator, spectral_density

from .curvature_cases import spectra, with_spectrum

# --- accuracy on hard spectra (n = 200, default settings) ---------------------------

N_BIG = 200
_extremes = jax.jit(lambda op: eigenvalues(op, 3, "both"))


@pytest.mark.parametrize("name", ["clustered", "indefinite", "ill_conditioned"])
def test_extreme_eigenvalues_match_eigh_to_1e8(name):
    a = with_spectrum(spectra(N_BIG, seed=5)[name], seed=6)
    true = np.linalg.eigvalsh(a)
    got = np.asarray(_extremes(linear_operator(a)))
    assert got.shape == (6,)
    top, bottom = got[3:], got[:3]
    np.testing.assert_allclose(top, true[-3:], rtol=1e-8)
    if name == "ill_conditioned":
        # lambda_min = 1e-8 ||A||: eigh itself is only accurate to eps ||A||, so the
        # bottom is compared relative to ||A|| (absolute error <= 1e-8 ||A||)
        np.testing.assert_allclose(bottom, true[:3], rtol=0, atol=1e-8 * np.abs(true).max())
    else:
        np.testing.assert_allclose(bottom, true[:3], rtol=1e-8)


def test_nan_operator_gives_nan_not_an_error():
    a = with_spectrum(spectra(N_BIG, seed=5)["indefinite"], seed=6)
    a[3, 7] = a[7, 3] = np.nan
    assert np.all(np.isnan(np.asarray(_extremes(linear_operator(a)))))


# --- which, ordering, eigenvectors (n = 40) ----------------------------------------

N = 40
EIGS = np.linspace(-2.0, 3.0, N) + 0.05 * np.sin(np.arange(N))
A = with_spectrum(EIGS, seed=7)


@jax.jit
def _all_kinds(op):
    return (
        eigenvalues(op, 3, "largest", return_eigenvectors=True),
        eigenvalues(op, 3, "smallest"),
        eigenvalues(op, 2, "both"),
    )


@pytest.fixture(scope="module")
def kinds():
    return _all_kinds(linear_operator(A))


def test_which_selects_and_sorts_ascending(kinds):
    true = np.linalg.eigvalsh(A)
    (largest, _), smallest, both = kinds
    np.testing.assert_allclose(largest, true[-3:], rtol=1e-10)
    np.testing.assert_allclose(smallest, true[:3], rtol=1e-10)
    np.testing.assert_allclose(both, np.r_[true[:2], true[-2:]], rtol=1e-10)


def test_ritz_vectors_are_orthonormal_eigenvectors(kinds):
    values, vectors = kinds[0]
    values, vectors = np.asarray(values), np.asarray(vectors)
    assert vectors.shape == (N, 3)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(A @ vectors, vectors * values, atol=1e-8)


def test_eigenvalues_under_vmap_over_operators():
    mats = jnp.stack([with_spectrum(np.linspace(-1.0, s, 12), seed=8) for s in (1.0, 2.0, 4.0)])
    got = jax.jit(jax.vmap(lambda m: eigenvalues(linear_operator(m), 1, "both")))(mats)
    for m, g in zip(np.asarray(mats), np.asarray(got)):
        true = np.linalg.eigvalsh(m)
        np.testing.assert_allclose(g, [true[0], true[-1]], rtol=1e-10)


# --- condition number ---------------------------------------------------------------


_cond = jax.jit(condition_number)


@pytest.mark.parametrize(
    "eigs, kappa",
    [
        (np.geomspace(1.0, 1e2, 6), 1e2),
        (np.geomspace(1e-3, 1e3, 6), 1e6),
        ([-4.0, -0.5, 0.25, 1.0, 2.0, 8.0], 32.0),  # indefinite: nearest zero is interior
        ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], np.inf),  # singular
        ([np.nan, 1.0, 2.0, 3.0, 4.0, 5.0], np.nan),  # NaN flows through
    ],
    ids=["spd-1e2", "spd-1e6", "indefinite", "singular", "nan"],
)
def test_condition_number(eigs, kappa):
    # n = 6 <= 10: Lanczos checks convergence only after 10 steps, so it runs to n (exact)
    a = with_spectrum(eigs, seed=10)
    if np.isfinite(kappa):
        np.testing.assert_allclose(np.linalg.cond(a), kappa, rtol=1e-8)  # the truth itself
    np.testing.assert_allclose(_cond(linear_operator(a)), kappa, rtol=1e-8)


def test_condition_number_under_vmap():
    batch = jnp.stack([with_spectrum(np.geomspace(1.0, k, 6), seed=11) for k in (10.0, 1e3)])
    got = jax.jit(jax.vmap(lambda m: condition_number(linear_operator(m))))(batch)
    np.testing.assert_allclose(got, [10.0, 1e3], rtol=1e-8)


# --- spectral density (stochastic Lanczos quadrature) ------------------------------

SLQ_EIGS = np.r_[np.linspace(0.5, 2.0, 30), [6.0, 9.0]]
SLQ_A = with_spectrum(SLQ_EIGS, seed=12)
PROBES, ORDER = 100, 8
# numpy < 2.0 has the trapezoidal rule as np.trapz only (np.trapezoid came in 2.0).
trapezoid = getattr(np, "trapezoid", None) or np.trapz


@pytest.fixture(scope="module")
def densities():
    """Two independent SLQ estimates (two keys) from one jitted, vmapped call."""
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    run = jax.jit(jax.vmap(lambda k: spectral_density(linear_operator(SLQ_A), k, PROBES, ORDER)))
    return run(keys)


def test_density_integrates_to_one(densities):
    assert densities.nodes.shape == densities.weights.shape == (2, PROBES, ORDER)
    np.testing.assert_allclose(np.sum(densities.weights, axis=-1), 1.0, rtol=1e-12)
    for i in range(2):
        grid, dens = np.asarray(densities.grid[i]), np.asarray(densities.density[i])
        np.testing.assert_allclose(trapezoid(dens, grid), 1.0, atol=1e-6)
        mean = trapezoid(grid * dens, grid)  # the Gaussian smoothing keeps the mean
        np.testing.assert_allclose(mean, np.sum(densities.weights[i] * densities.nodes[i]) / PROBES, rtol=1e-6)


@pytest.mark.parametrize("power", [1, 2, 3])
def test_density_moments_match_normalized_trace_of_powers(densities, power):
    # Rademacher v: v^T B v / n is unbiased for tr(B) / n with variance
    # 2 (||B||_F^2 - sum_i B_ii^2) / n^2; 2 x 100 probes -> within 5 standard errors
    n = SLQ_A.shape[0]
    b = np.linalg.matrix_power(SLQ_A, power)
    sd = np.sqrt(2 * (np.sum(b**2) - np.sum(np.diag(b) ** 2)) / n**2 / (2 * PROBES))
    moment = np.mean(np.sum(np.asarray(densities.weights) * np.asarray(densities.nodes) ** power, -1))
    np.testing.assert_allclose(moment, np.trace(b) / n, atol=5 * sd)


def test_quadrature_nodes_lie_in_the_spectrum(densities):
    # Ritz values interlace: every node is within [lambda_min, lambda_max]
    nodes = np.asarray(densities.nodes)
    assert nodes.min() >= SLQ_EIGS.min() - 1e-10 and nodes.max() <= SLQ_EIGS.max() + 1e-10
    np.testing.assert_allclose(nodes.max(), SLQ_EIGS.max(), rtol=1e-6)  # outlier found


# --- bad input ---------------------------------------------------------------------


def test_spectral_tools_reject_bad_input():
    op = linear_operator(A)
    with pytest.raises(ValueError, match=f"k must be between 1 and {N}, got {N + 1}"):
        eigenvalues(op, N + 1)
    with pytest.raises(TypeError, match="k must be a Python int"):
        eigenvalues(op, 2.5)
    with pytest.raises(ValueError, match="which must be one of"):
        eigenvalues(op, 2, "middle")
    with pytest.raises(ValueError, match=f"num_iters must be between 5 and {N}"):
        eigenvalues(op, 5, num_iters=3)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        condition_number(op, tol=-1.0)
    with pytest.raises(ValueError, match="key must be a jax.random PRNG key"):
        spectral_density(op, None, 4, 5)
    with pytest.raises(ValueError, match=f"lanczos_order must be between 1 and {N}"):
        spectral_density(op, jax.random.PRNGKey(0), 4, N + 1)
    with pytest.raises(ValueError, match=r"sigma must be > 0 \(the Gaussian smoothing width\), got 0.0"):
        spectral_density(op, jax.random.PRNGKey(0), 2, 3, sigma=0.0)
    with pytest.raises(ValueError, match="grid must be an int or a 1-D array"):
        spectral_density(op, jax.random.PRNGKey(0), 2, 3, grid=np.ones((2, 2)))

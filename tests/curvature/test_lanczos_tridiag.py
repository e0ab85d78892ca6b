"""lanczos: orthonormal basis, T = Q A Q^T, exact spectrum at k = n, early invariant
subspaces, start vectors; jit, vmap and argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from curvature import lanczos, linear_operator

from .curvature_cases import with_spectrum

N = 12
EIGS = np.array([-3.0, -1.5, -0.2, 0.1, 0.4, 0.9, 1.0, 1.7, 2.5, 3.3, 4.0, 6.0])
A = with_spectrum(EIGS, seed=1)


def _tri(res):
    return np.asarray(res.tridiagonal())


def test_partial_run_is_orthonormal_and_tridiagonalizes():
    res = jax.jit(lambda op, key: lanczos(op, 5, key))(linear_operator(A), jax.random.PRNGKey(0))
    q = np.asarray(res.basis)
    assert res.alpha.shape == (5,) and res.beta.shape == (4,) and q.shape == (5, N)
    np.testing.assert_allclose(q @ q.T, np.eye(5), atol=1e-13)
    np.testing.assert_allclose(q @ A @ q.T, _tri(res), atol=1e-12)


# Full runs (k = n) in one compiled, vmapped call over (matrix, start vector) cases:
# random starts, a given start, a zero start (replaced by a random vector), a NaN start
# (NaN flows through, no error), and a matrix whose Krylov spaces are invariant early.
G = jnp.arange(1.0, N + 1.0)
# eigenvalues 2 and -1 four times each, then 5, 7, 8, 9: a Krylov space has dimension
# <= 6 (distinct eigenvalues), its complement's <= 2, so k = n = 12 needs Krylov blocks
# 6 + 2 + 2 + 2 joined by three restarts (beta = 0)
MULTI_EIGS = np.array([2.0] * 4 + [-1.0] * 4 + [5.0, 7.0, 8.0, 9.0])
MULTI = with_spectrum(MULTI_EIGS, seed=4)
_RAND = np.random.default_rng(0).standard_normal((3, N))
CASES = [
    ("random", A, _RAND[0], EIGS),
    ("random2", A, _RAND[1], EIGS),
    ("given", A, G, EIGS),
    ("zero", A, np.zeros(N), EIGS),
    ("invariant", MULTI, _RAND[2], MULTI_EIGS),
    ("nan", A, np.full(N, np.nan), None),
]


@pytest.fixture(scope="module")
def full_runs():
    mats = jnp.asarray(np.stack([c[1] for c in CASES]))
    v0s = jnp.asarray(np.stack([c[2] for c in CASES]))
    run = jax.jit(jax.vmap(lambda m, v: lanczos(linear_operator(m), N, v0=v)))
    res = run(mats, v0s)
    return {c[0]: jax.tree_util.tree_map(lambda a, i=i: a[i], res) for i, c in enumerate(CASES)}


@pytest.mark.parametrize("case", [c for c in CASES if c[3] is not None], ids=lambda c: c[0])
def test_full_run_under_jit_and_vmap_reproduces_the_spectrum(full_runs, case):
    name, a, v0, eigs = case
    res = full_runs[name]
    q = np.asarray(res.basis)
    np.testing.assert_allclose(q @ q.T, np.eye(N), atol=1e-13)
    # a restart drops the residual (<= eps^(3/4) ||A|| = 1.6e-11 here) from T
    np.testing.assert_allclose(q @ a @ q.T, _tri(res), atol=1e-11)
    np.testing.assert_allclose(np.linalg.eigvalsh(_tri(res)), np.sort(eigs), atol=1e-11)
    if name in ("random", "given"):
        np.testing.assert_allclose(q[0], v0 / np.linalg.norm(v0), rtol=1e-14)
    if name == "invariant":
        assert np.sum(np.abs(np.asarray(res.beta)) < 1e-12) == 3


def test_nan_start_vector_gives_nan_not_an_error(full_runs):
    assert np.all(np.isnan(np.asarray(full_runs["nan"].alpha)))


def test_lanczos_rejects_bad_input():
    op = linear_operator(A)
    with pytest.raises(ValueError, match=f"num_iters must be between 1 and {N}, got {N + 1}"):
        lanczos(op, N + 1)
    with pytest.raises(ValueError, match="num_iters must be between 1"):
        lanczos(op, 0)
    with pytest.raises(TypeError, match="num_iters must be a Python int"):
        lanczos(op, 2.0)
    with pytest.raises(ValueError, match=rf"v0 must be a flat vector of shape \({N},\)"):
        lanczos(op, 2, v0=jnp.ones(N + 1))
    with pytest.raises(TypeError, match="op must be a LinearOperator or a square matrix"):
        lanczos(lambda v: v, 2)
    with pytest.raises(ValueError, match="op: matrix must be square"):
        lanczos(np.ones((2, 3)), 1)

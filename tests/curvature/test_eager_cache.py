"""Eager calls of the spectral tools compile once: a second call with the same function
object and arrays of the same shapes (a new matrix, a new x, a new key) compiles nothing;
a new static option (k, a shape) compiles again. Compilations are counted from
``jax.log_compiles`` by program name, never timed. Results against numpy.linalg.eigh on
small dense matrices: full Lanczos runs (n <= 15), exact up to the restart threshold
eps^(3/4) ||A|| = 1.8e-12 ||A|| and rounding, so eigenvalues are compared to 1e-10 ||A||
(Weyl's bound: a perturbation E moves each eigenvalue by at most ||E||)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import curvature as cv

from ..compilations import compilations
from .curvature_cases import with_spectrum

# sizes no other test file uses, so the first call here is the program's first compile
N = 13
TOL = 1e-10  # absolute eigenvalue tolerance relative to ||A||_2


def spd(seed: int, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return with_spectrum(np.sort(rng.uniform(0.5, 4.0, n)), seed=seed)


def close_eigs(got, want, a):
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=TOL * np.linalg.norm(a, 2))


def test_new_matrix_and_new_key_do_not_recompile_eigenvalues():
    a0, a1, a2 = spd(1), spd(2), spd(3)
    with compilations() as counts:
        close_eigs(cv.eigenvalues(cv.linear_operator(a0), 3), np.linalg.eigvalsh(a0)[-3:], a0)
        assert counts["_eigenvalues"] == 1
        # a new matrix of the same shape (a leaf of the operator), then a new key
        close_eigs(cv.eigenvalues(cv.linear_operator(a1), 3), np.linalg.eigvalsh(a1)[-3:], a1)
        close_eigs(cv.eigenvalues(a2, 3), np.linalg.eigvalsh(a2)[-3:], a2)  # a bare matrix
        assert counts["_eigenvalues"] == 1
        cv.eigenvalues(a1, 3, key=jax.random.PRNGKey(0))
        assert counts["_eigenvalues"] == 2  # None and a key are different pytrees
        cv.eigenvalues(a2, 3, key=jax.random.PRNGKey(5))
        assert counts["_eigenvalues"] == 2
    # key=None is documented as PRNGKey(0): the same start vector (two steps, so it shows)
    np.testing.assert_allclose(cv.lanczos(a1, 2).basis, cv.lanczos(a1, 2, jax.random.PRNGKey(0)).basis,
                               rtol=1e-13, atol=1e-15)


def test_new_static_option_or_shape_compiles_again():
    a, b = spd(4), spd(5, N + 2)
    with compilations() as counts:
        cv.eigenvalues(a, 3)
        first = counts["_eigenvalues"]
        close_eigs(cv.eigenvalues(a, 4), np.linalg.eigvalsh(a)[-4:], a)
        close_eigs(cv.eigenvalues(b, 3), np.linalg.eigvalsh(b)[-3:], b)
        assert counts["_eigenvalues"] == first + 2
        cv.eigenvalues(a, 3, tol=1e-6)  # tol is a static float: a new value compiles
        cv.eigenvalues(spd(6), 3, tol=1e-6)
        assert counts["_eigenvalues"] == first + 3


def f(x):
    """0.5 x^T M x + sum(x^4) / 4: Hessian M + diag(3 x^2), positive definite."""
    return 0.5 * x @ M @ x + 0.25 * jnp.sum(x**4)


M = spd(7)


def hessian_of_f(x) -> np.ndarray:
    x = np.asarray(x)
    return M + np.diag(3 * x**2)


TOOLS = {
    "_eigenvalues": lambda op, x, key: cv.eigenvalues(op, 2, "both", key=key, return_eigenvectors=True),
    "_condition_number": lambda op, x, key: cv.condition_number(op, key=key),
    "_lanczos": lambda op, x, key: cv.lanczos(op, N, key),
    "_spectral_density": lambda op, x, key: cv.spectral_density(op, key, 3, N, grid=32),
    "_trace": lambda op, x, key: cv.trace(op, key, 4),
    "_exact_diagonal": lambda op, x, key: cv.diagonal(f, x),
    "_hutchinson_diagonal": lambda op, x, key: cv.diagonal(op, method="hutchinson", key=key, num_matvecs=5),
    "_classify_critical_point": lambda op, x, key: (cv.classify_critical_point(f, x),
                                                    cv.classify_critical_point(f, x, method="lanczos", key=key)),
    "_to_dense": lambda op, x, key: op.to_dense(),
}


def check(name, out, x, key):
    """Each tool's result against numpy on the dense Hessian (exact runs at n = 13)."""
    h = hessian_of_f(x)
    eigs = np.linalg.eigvalsh(h)
    atol = TOL * eigs[-1]
    if name == "_eigenvalues":
        values, vectors = (np.asarray(o) for o in out)
        np.testing.assert_allclose(values, eigs[[0, 1, -2, -1]], rtol=0, atol=atol)
        np.testing.assert_allclose(h @ vectors, vectors * values, rtol=0, atol=1e-8 * eigs[-1])
    elif name == "_condition_number":
        # kappa's relative error <= eigenvalue error / lambda_min + the same / lambda_max
        np.testing.assert_allclose(out, eigs[-1] / eigs[0], rtol=2 * atol / eigs[0])
    elif name == "_lanczos":
        np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(out.tridiagonal())), eigs, rtol=0, atol=atol)
    elif name == "_spectral_density":
        # order n: every probe's nodes are the whole spectrum, the weights sum to 1
        np.testing.assert_allclose(np.sort(np.asarray(out.nodes), axis=1), np.tile(eigs, (3, 1)), rtol=0, atol=atol)
        np.testing.assert_allclose(np.sum(np.asarray(out.weights), axis=1), 1.0, rtol=1e-12)
    elif name == "_trace":
        # Hutchinson with the probes the key draws: mean of z^T H z
        z = np.asarray(jax.random.rademacher(key, (4, N), jnp.float64))
        np.testing.assert_allclose(out, np.sum(z * (z @ h)) / 4, rtol=1e-12)
    elif name == "_exact_diagonal":
        np.testing.assert_allclose(out, np.diag(h), rtol=1e-12)
    elif name == "_hutchinson_diagonal":
        z = np.asarray(jax.random.rademacher(key, (5, N), jnp.float64))
        np.testing.assert_allclose(out, np.mean(z * (z @ h), axis=0), rtol=1e-12, atol=1e-12 * eigs[-1])
    elif name == "_classify_critical_point":
        dense, lz = out
        assert dense.name == lz.name == "minimum"
        np.testing.assert_allclose(dense.eigenvalues, eigs, rtol=0, atol=atol)
        np.testing.assert_allclose(lz.eigenvalues, eigs[[0, -1]], rtol=0, atol=atol)
    else:
        np.testing.assert_allclose(out, h, rtol=1e-12, atol=1e-12 * eigs[-1])


@pytest.mark.parametrize("name", list(TOOLS))
def test_hessian_operator_at_a_new_x_does_not_recompile(name):
    rng = np.random.default_rng(8)
    with compilations() as counts:
        for i in range(2):  # the operator is rebuilt at a new x, with a new key
            x = jnp.asarray(rng.standard_normal(N))
            key = jax.random.PRNGKey(10 + i)
            out = TOOLS[name](cv.hessian_operator(f, x), x, key)
            check(name, out, x, key)
            if i == 0:
                first = counts[name]
                assert first >= 1  # the program ran (classify: one per method)
    assert counts[name] == first, dict(counts)


def test_same_matvec_function_reuses_the_program_a_fresh_lambda_does_not():
    a = jnp.asarray(spd(9))

    def matvec(v):
        return a @ v

    with compilations() as counts:
        for _ in range(2):
            close_eigs(cv.eigenvalues(cv.linear_operator(matvec, shape=N), 1), np.linalg.eigvalsh(a)[-1:], a)
        assert counts["_eigenvalues"] == 1
        for _ in range(2):  # the trap docs/curvature.md warns about: a new function object per call
            cv.eigenvalues(cv.linear_operator(lambda v: a @ v, shape=N), 1)
        assert counts["_eigenvalues"] == 3


def test_nested_in_jit_and_under_vmap():
    mats = jnp.stack([spd(s) for s in (11, 12)])
    top = jax.jit(lambda m: cv.eigenvalues(cv.linear_operator(m), 2))
    batched = jax.vmap(lambda m: cv.eigenvalues(cv.linear_operator(m), 2))
    with compilations() as counts:
        for got in (top(mats[0]), batched(mats)[0], jax.jit(batched)(mats)[1]):
            assert got.shape == (2,)
        close_eigs(top(mats[0]), np.linalg.eigvalsh(mats[0])[-2:], mats[0])
        close_eigs(batched(mats)[1], np.linalg.eigvalsh(mats[1])[-2:], mats[1])
        close_eigs(jax.jit(batched)(mats)[0], np.linalg.eigvalsh(mats[0])[-2:], mats[0])
        before = counts["_eigenvalues"]
        new = jnp.stack([spd(s) for s in (13, 14)])
        batched(new)  # eager vmap with new matrices: the batched program is cached too
        assert counts["_eigenvalues"] == before


class Quadratic:
    """A callable that compares by value and so cannot be hashed (like a dataclass with
    array fields): it cannot key a cache, so the tools run uncached and still work."""

    def __init__(self, m):
        self.m = m

    def __eq__(self, other):
        return isinstance(other, Quadratic) and self.m is other.m

    __hash__ = None

    def __call__(self, x):
        return 0.5 * x @ self.m @ x


def test_unhashable_function_runs_uncached():
    q = Quadratic(jnp.asarray(M))
    x = jnp.ones(N)
    with pytest.raises(TypeError):
        hash(q)
    close_eigs(cv.eigenvalues(cv.hessian_operator(q, x), 2), np.linalg.eigvalsh(M)[-2:], M)
    res = jax.jit(lambda x: cv.classify_critical_point(q, x, method="lanczos"))(x)
    assert res.name == "minimum"
    np.testing.assert_allclose(res.eigenvalues, np.linalg.eigvalsh(M)[[0, -1]], rtol=0, atol=TOL * np.linalg.norm(M, 2))

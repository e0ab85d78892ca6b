"""Test matrices with known spectra and functions with analytic derivatives (numpy truth)."""

import jax
import jax.numpy as jnp
import numpy as np


def orthogonal(n: int, seed: int) -> np.ndarray:
    """A Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def with_spectrum(eigs, seed: int = 0) -> np.ndarray:
    """Q diag(eigs) Q^T, exactly symmetric."""
    q = orthogonal(len(eigs), seed)
    a = (q * np.asarray(eigs, float)) @ q.T
    return (a + a.T) / 2


def spectra(n: int, seed: int = 0) -> dict:
    """Named spectra: clustered, indefinite, ill-conditioned (1e8), decaying."""
    rng = np.random.default_rng(seed)
    return {
        # four tight clusters (width 1e-3) holding n/4 eigenvalues each
        "clustered": np.repeat([1.0, 2.0, 5.0, 10.0], n // 4) + 1e-3 * rng.standard_normal(n),
        # both signs, magnitudes spread over [0.1, 3]
        "indefinite": rng.choice([-1.0, 1.0], n) * np.linspace(0.1, 3.0, n),
        # geometric from 1e-8 to 1: condition number 1e8
        "ill_conditioned": np.geomspace(1e-8, 1.0, n),
    }


# f(z) = z^T M z / 2 + sum(z^4) / 4 + (a.z)^3 / 6 on the flattened pytree
# p = {"b": (B (2, 3), c ()), "a": A (4,)}: ravel order is a, then b[0], then b[1].
def nested_point(seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        "b": (jnp.asarray(rng.standard_normal((2, 3))), jnp.asarray(rng.standard_normal())),
        "a": jnp.asarray(rng.standard_normal(4)),
    }


def nested_flat(p) -> np.ndarray:
    return np.concatenate(
        [np.ravel(p["a"]), np.ravel(p["b"][0]), np.ravel(p["b"][1])]
    ).astype(float)


NESTED_DIM = 11
_rng = np.random.default_rng(42)
NESTED_M = with_spectrum(_rng.standard_normal(NESTED_DIM), seed=3)
NESTED_A = _rng.standard_normal(NESTED_DIM)


def nested_f(p):
    z = jnp.concatenate([jnp.ravel(p["a"]), jnp.ravel(p["b"][0]), jnp.ravel(p["b"][1])])
    return 0.5 * z @ NESTED_M @ z + jnp.sum(z**4) / 4 + (NESTED_A @ z) ** 3 / 6


def nested_hessian(z: np.ndarray) -> np.ndarray:
    """Analytic Hessian of ``nested_f`` at flat z: M + diag(3 z^2) + (a.z) a a^T."""
    return NESTED_M + np.diag(3 * z**2) + (NESTED_A @ z) * np.outer(NESTED_A, NESTED_A)


def nested_grad(z: np.ndarray) -> np.ndarray:
    return NESTED_M @ z + z**3 + 0.5 * (NESTED_A @ z) ** 2 * NESTED_A


def gn_problem(seed=0):
    """model z = tanh(C w) (m = 6 outputs), loss logsumexp(z) - t.z; analytic J, H_L."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((6, 5))
    t = np.eye(6)[2]
    params = (jnp.asarray(rng.standard_normal(2)), jnp.asarray(rng.standard_normal(3)))

    def model(p):
        return jnp.tanh(c @ jnp.concatenate(p))

    def loss(z):
        return jax.nn.logsumexp(z) - t @ z

    w = np.concatenate([np.asarray(q) for q in params])
    z = np.tanh(c @ w)
    jac = (1 - z**2)[:, None] * c
    s = np.exp(z) / np.exp(z).sum()
    return model, loss, params, jac.T @ (np.diag(s) - np.outer(s, s)) @ jac

"""Lanczos tridiagonalization with full reorthogonalization.

After k steps from a unit vector q_0, the rows of Q = basis (k, n) are orthonormal and
T = Q A Q^T is tridiagonal with diagonal ``alpha`` and off-diagonal ``beta``
(Golub & Van Loan, Matrix Computations, 4th ed., Alg. 10.1.1; Paige 1972). Each new
direction is orthogonalized against every earlier one (classical Gram-Schmidt, a second
pass when the first one cancels, "twice is enough": Giraud et al. 2005), so the Ritz
values eig(T) do not repeat the way they do in plain three-term Lanczos.

When the Krylov space becomes invariant (beta_j ~ 0) the recurrence restarts from a fresh
random vector orthogonal to the basis and records beta_j = 0: T is then block diagonal and
every eigenvalue of T is still an eigenvalue of A (exactly so at num_iters = n).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from curvature.operators import as_operator

__all__ = ["LanczosResult", "lanczos"]

_DEFAULT_SEED = 0


class LanczosResult(NamedTuple):
    """Output of :func:`lanczos`: T = tridiag(beta, alpha, beta) = basis @ A @ basis.T."""

    alpha: jax.Array  # (k,) diagonal of T
    beta: jax.Array  # (k - 1,) off-diagonal of T; 0 where the recurrence restarted
    basis: jax.Array  # (k, n) orthonormal rows q_0 .. q_{k-1}

    def tridiagonal(self) -> jax.Array:
        """The dense (k, k) tridiagonal matrix T."""
        return tridiagonal(self.alpha, self.beta)


def tridiagonal(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """Dense symmetric tridiagonal matrix with diagonal ``alpha`` and off-diagonal ``beta``."""
    return jnp.diag(alpha) + jnp.diag(beta, 1) + jnp.diag(beta, -1)


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    """``value`` as a Python int in [low, high], else a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int (a static size), got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def default_key(key):
    """``key`` or, when None, the fixed ``jax.random.PRNGKey(0)``."""
    return jax.random.PRNGKey(_DEFAULT_SEED) if key is None else key


def _orthogonalize(basis: jax.Array, w: jax.Array) -> jax.Array:
    """Remove from ``w`` its components along the rows of ``basis`` (zero rows are inert).

    One classical Gram-Schmidt pass, and a second one when the first cancelled more than
    half of ``w``'s norm (Daniel, Gragg, Kaufman & Stewart 1976; "twice is enough")."""
    norm0 = jnp.linalg.norm(w)
    w = w - (basis @ w) @ basis
    again = jnp.linalg.norm(w) < 0.5 * norm0
    return jax.lax.cond(again, lambda u: u - (basis @ u) @ basis, lambda u: u, w)


class _State(NamedTuple):
    basis: jax.Array  # (m + 1, n); rows past the current step are zero
    alpha: jax.Array  # (m,)
    beta: jax.Array  # (m,); beta[j] links q_j and q_{j+1}
    anorm: jax.Array  # running Gershgorin bound max_j |alpha_j| + beta_j + beta_{j-1} <= ||A||
    spare: jax.Array  # (n,) Gaussian vector; restart directions are its cyclic shifts


def _init(op, m: int, key, v0) -> _State:
    """Normalized start vector (random from ``key`` when ``v0`` is None or zero)."""
    n, dtype = op.shape[0], op.dtype
    z = jax.random.normal(default_key(key), (2, n), dtype)  # one draw: start and spare
    if v0 is None:
        v0 = z[0]
    else:
        if jnp.shape(v0) != (n,):
            raise ValueError(f"v0 must be a flat vector of shape ({n},), got shape {jnp.shape(v0)}")
        v0 = jnp.asarray(v0, dtype)
    basis = jnp.zeros((m + 1, n), dtype)
    norm0 = jnp.linalg.norm(v0)
    q0 = jnp.where(norm0 == 0, z[1] / jnp.linalg.norm(z[1]), v0 / jnp.where(norm0 == 0, 1.0, norm0))
    zeros = jnp.zeros((m,), dtype)
    return _State(basis.at[0].set(q0.astype(dtype)), zeros, zeros, jnp.zeros((), dtype), z[1])


def _restart_vector(spare, j, basis):
    """A unit vector orthogonal to the rows of ``basis``: the Gaussian ``spare`` shifted
    cyclically by j places (a fresh direction for each restart), then orthogonalized."""
    r = _orthogonalize(basis, jnp.roll(spare, j))
    return r / jnp.linalg.norm(r)


def _step(op, j, state: _State) -> _State:
    """Lanczos step j: alpha_j, beta_j and q_{j+1} (Golub & Van Loan Alg. 10.1.1 with
    full reorthogonalization; a random restart when beta_j ~ 0)."""
    basis, alpha, beta, anorm, spare = state
    n, dtype = basis.shape[1], basis.dtype
    b_prev = jnp.where(j > 0, beta[jnp.maximum(j - 1, 0)], 0.0).astype(dtype)
    q = basis[j]
    w = op.matvec(q) - b_prev * basis[jnp.maximum(j - 1, 0)]
    a = jnp.vdot(q, w)
    w = _orthogonalize(basis, w - a * q)
    b = jnp.linalg.norm(w)
    anorm = jnp.maximum(anorm, jnp.abs(a) + b + b_prev)
    breakdown = b <= jnp.finfo(dtype).eps * np.sqrt(n) * anorm
    safe_b = jnp.where(breakdown, 1.0, b).astype(dtype)
    q_next = jax.lax.cond(
        breakdown, lambda: _restart_vector(spare, j + 1, basis), lambda: w / safe_b
    )
    b = jnp.where(breakdown, 0.0, b).astype(dtype)
    return _State(
        basis.at[j + 1].set(q_next), alpha.at[j].set(a), beta.at[j].set(b), anorm, spare
    )


def lanczos(op, num_iters: int, key=None, *, v0=None) -> LanczosResult:
    """Run ``num_iters`` Lanczos steps on the symmetric operator ``op``.

    Args:
      op: a :class:`~curvature.LinearOperator` (or a square matrix) of size n.
      num_iters: k, a Python int with 1 <= k <= n; the cost is k matvecs plus O(k^2 n).
      key: PRNG key for the random start vector (when ``v0`` is None) and for restarts
        after an invariant subspace; ``None`` uses ``jax.random.PRNGKey(0)``.
      v0: optional start vector of shape (n,), normalized here (e.g. the gradient).
        A zero ``v0`` is replaced by a random vector; a NaN ``v0`` gives NaN output.

    Returns:
      ``LanczosResult(alpha (k,), beta (k-1,), basis (k, n))`` with orthonormal rows
      of ``basis`` and ``basis @ A @ basis.T == tridiag(beta, alpha, beta)``.
    """
    op = as_operator(op, "op")
    k = check_int(num_iters, "num_iters", 1, op.shape[0])
    state = _init(op, k, key, v0)
    state = jax.lax.fori_loop(0, k, lambda j, s: _step(op, j, s), state)
    return LanczosResult(state.alpha, state.beta[: k - 1], state.basis[:k])

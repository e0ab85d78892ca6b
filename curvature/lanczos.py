"""Lanczos tridiagonalization with full reorthogonalization.

After k steps from a unit vector q_0, the rows of Q = basis (k, n) are orthonormal and
T = Q A Q^T is tridiagonal with diagonal ``alpha`` and off-diagonal ``beta``
(Golub & Van Loan, Matrix Computations, 4th ed., Alg. 10.1.1; Paige 1972). Each new
direction is orthogonalized against every earlier one (classical Gram-Schmidt, a second
pass when the first one cancels, "twice is enough": Giraud et al. 2005), so the Ritz
values eig(T) do not repeat the way they do in plain three-term Lanczos.

When the Krylov space becomes invariant (beta_j ~ 0) the recurrence restarts from a fresh
random vector orthogonal to the basis and records beta_j = 0: T is then block diagonal and
every eigenvalue of T is still an eigenvalue of A (exactly so at num_iters = n). "~ 0"
means beta_j <= eps^(3/4) ||T|| (1.8e-12 ||T|| in float64), so T = Q A Q^T holds to that
level across a restart and to rounding elsewhere.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from curvature._cache import program
from curvature._validate import check_int, check_key
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


def check_start(v0, n: int):
    """``v0`` as an array of shape (n,), else a ValueError naming it."""
    v0 = jnp.asarray(v0)
    if v0.shape != (n,):
        raise ValueError(f"v0 must be a flat vector of shape ({n},), got shape {v0.shape}")
    return v0


def default_key(key):
    """``key`` (checked: one PRNG key) or, when None, the fixed ``jax.random.PRNGKey(0)``."""
    return jax.random.PRNGKey(_DEFAULT_SEED) if key is None else check_key(key, "key")


_MAX_BLOCKS = 8
_ONE_BLOCK_FLOATS = 2**16


class Basis(NamedTuple):
    """Lanczos vectors stored as row blocks ``blocks[i]`` of shape (B, n): row r lives at
    ``blocks[r // B][r % B]``. Reorthogonalization skips the blocks not yet reached, so a
    step costs O(j n) for the j rows filled so far, not O(m n) for all m allocated."""

    blocks: tuple

    @classmethod
    def zeros(cls, rows: int, n: int, dtype) -> "Basis":
        """Up to 8 blocks of >= 16 rows; one block when the whole basis is small (under
        2**16 floats), where skipping rows saves less than the extra branches cost.
        Measured on CPU: at n = 300 a top-20 run stopping at step 58 of 300 allocated is
        25% faster in 8 blocks than in one, a full run 10% slower; at n = 1000 a full run
        is 1.6x faster in blocks."""
        size = rows if rows * n <= _ONE_BLOCK_FLOATS else max(16, -(-rows // _MAX_BLOCKS))
        count = -(-rows // size)
        return cls(tuple(jnp.zeros((size, n), dtype) for _ in range(count)))

    @property
    def block_size(self) -> int:
        return self.blocks[0].shape[0]

    def set_row(self, r, q) -> "Basis":
        size = self.block_size
        return Basis(
            tuple(
                jax.lax.cond(r // size == i, lambda b: b.at[r % size].set(q), lambda b: b, blk)
                for i, blk in enumerate(self.blocks)
            )
        )

    def project_out(self, w, last_row):
        """w - Q^T (Q w) over rows 0..last_row (one classical Gram-Schmidt pass)."""
        size = self.block_size
        for i, blk in enumerate(self.blocks):
            w = jax.lax.cond(i * size <= last_row, lambda u, b=blk: u - (b @ u) @ b, lambda u: u, w)
        return w

    def combine(self, coeffs):
        """sum_r coeffs[r] * row_r for coeffs of shape (rows_allocated, ...) -> (..., n)."""
        size = self.block_size
        out = 0.0
        for i, blk in enumerate(self.blocks):
            c = coeffs[i * size : (i + 1) * size]
            c = jnp.pad(c, [(0, size - c.shape[0])] + [(0, 0)] * (c.ndim - 1))
            out = out + jnp.tensordot(c, blk, axes=(0, 0))
        return out

    def rows(self, count: int) -> jax.Array:
        return jnp.concatenate(self.blocks)[:count]


class _State(NamedTuple):
    basis: Basis  # rows 0..j filled (q_0 .. q_j), the rest zero
    q: jax.Array  # q_j
    q_prev: jax.Array  # q_{j-1} (zero at j = 0)
    alpha: jax.Array  # (m,)
    beta: jax.Array  # (m,); beta[j] links q_j and q_{j+1}
    anorm: jax.Array  # running Gershgorin bound max_j |alpha_j| + beta_j + beta_{j-1} <= ||A||
    spare: jax.Array  # (n,) Gaussian vector; restart direction j is cos((j + 1) spare + j)


def _init(op, m: int, key, v0) -> _State:
    """Normalized start vector (random from ``key`` when ``v0`` is None or zero)."""
    n, dtype = op.shape[0], op.dtype
    z = jax.random.normal(default_key(key), (2, n), dtype)  # one draw: start and spare
    v0 = z[0] if v0 is None else jnp.asarray(check_start(v0, n), dtype)
    norm0 = jnp.linalg.norm(v0)
    q0 = jnp.where(norm0 == 0, z[1] / jnp.linalg.norm(z[1]), v0 / jnp.where(norm0 == 0, 1.0, norm0))
    q0 = q0.astype(dtype)
    zeros = jnp.zeros((m,), dtype)
    basis = Basis.zeros(m + 1, n, dtype).set_row(0, q0)
    return _State(basis, q0, jnp.zeros_like(q0), zeros, zeros, jnp.zeros((), dtype), z[1])


def _next_direction(basis: Basis, w, j, spare, threshold):
    """Orthogonalize ``w`` against rows 0..j; if what is left is below ``threshold`` (an
    invariant subspace), orthogonalize a fresh direction (cos((j + 1) spare + j)) instead.

    Classical Gram-Schmidt, with a second pass whenever a pass removes more than half of
    the norm ("twice is enough": Daniel, Gragg, Kaufman & Stewart 1976; Giraud et al. 2005).
    One loop does both vectors so the pass is compiled once. Returns (u, ||w_orth||,
    restarted)."""

    def body(c):
        u, prev, passes, restarted, b, _ = c
        u = basis.project_out(u, j)
        norm = jnp.linalg.norm(u)
        again = (norm < 0.5 * prev) & (passes == 0)
        settled = ~again
        restart = settled & ~restarted & (norm <= threshold)
        # an elementwise function of the spare Gaussian vector, new for each j: unlike a
        # cyclic shift it moves no data, so a vector split over devices stays split
        fresh = jnp.cos((j + 1) * spare + j)
        u = jnp.where(restart, fresh, u)
        b = jnp.where(settled & ~restarted, norm, b)
        prev = jnp.where(restart, jnp.linalg.norm(fresh), norm)
        passes = jnp.where(restart, 0, passes + 1)
        done = settled & ~restart
        return u, prev, passes, restarted | restart, b, done

    zero = jnp.zeros((), w.dtype)
    init = (w, jnp.linalg.norm(w), 0, jnp.asarray(False), zero, jnp.asarray(False))
    u, _, _, restarted, b, _ = jax.lax.while_loop(lambda c: ~c[-1], body, init)
    return u, b, restarted


def _step(op, j, state: _State) -> _State:
    """Lanczos step j: alpha_j, beta_j and q_{j+1} (Golub & Van Loan Alg. 10.1.1 with
    full reorthogonalization; a random restart when beta_j ~ 0)."""
    basis, q, q_prev, alpha, beta, anorm, spare = state
    dtype = q.dtype
    b_prev = jnp.where(j > 0, beta[jnp.maximum(j - 1, 0)], 0.0).astype(dtype)
    w = op.matvec(q) - b_prev * q_prev
    a = jnp.vdot(q, w)
    w = w - a * q
    # invariant subspace: after reorthogonalization the residual is rounding noise, a few
    # hundred eps ||A||; eps^(3/4) ||A|| (1.8e-12 in float64) separates it from a genuine
    # small beta, and zeroing a beta that small moves eigenvalues by no more than that
    bound = jnp.maximum(anorm, jnp.abs(a) + b_prev)
    u, b, restarted = _next_direction(basis, w, j, spare, jnp.finfo(dtype).eps ** 0.75 * bound)
    q_next = u / jnp.linalg.norm(u)
    b = jnp.where(restarted, 0.0, b).astype(dtype)
    anorm = jnp.maximum(anorm, jnp.abs(a) + b + b_prev)
    return _State(
        basis.set_row(j + 1, q_next), q_next, q, alpha.at[j].set(a), beta.at[j].set(b), anorm, spare
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
    if key is not None:
        check_key(key, "key")
    if v0 is not None:
        v0 = check_start(v0, op.shape[0])
    return _lanczos(op, key, v0, num_iters=k)


@program("num_iters")
def _lanczos(op, key, v0, *, num_iters: int) -> LanczosResult:
    k = num_iters
    state = _init(op, k, key, v0)
    state = jax.lax.fori_loop(0, k, lambda j, s: _step(op, j, s), state)
    return LanczosResult(state.alpha, state.beta[: k - 1], state.basis.rows(k))

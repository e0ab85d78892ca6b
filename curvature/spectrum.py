"""Extreme eigenvalues, condition number and spectral density of a symmetric operator.

All three run Lanczos (:func:`curvature.lanczos`) and read the spectrum off the small
tridiagonal T: its eigenvalues (Ritz values) approximate the extreme eigenvalues of A
(Golub & Van Loan, 4th ed., Sec. 10.1), and its eigenvectors give Gauss quadrature
nodes and weights for the spectral density (stochastic Lanczos quadrature: Golub & Meurant
1994; Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from curvature.lanczos import _init, _step, check_int, default_key, lanczos, tridiagonal
from curvature.operators import as_operator

__all__ = [
    "SpectralDensity",
    "condition_number",
    "default_num_iters",
    "eigenvalues",
    "spectral_density",
]

_WHICH = ("largest", "smallest", "both")


def default_num_iters(n: int, k: int) -> int:
    """Most Lanczos steps :func:`eigenvalues` takes when ``num_iters`` is None:
    ``min(n, max(10 k + 100, 400))``.

    Operators with n <= 400 can be tridiagonalized completely (exact up to rounding).
    The steps actually taken stop earlier, once the wanted Ritz values have converged
    (see :func:`eigenvalues`); this number bounds the work and the basis memory,
    (num_iters + 1) * n floats.
    """
    return min(n, max(10 * k + 100, 400))


def _first_stage(m: int, k: int) -> int:
    """Size of the first basis allocation: min(m, max(2k + 60, 100)) steps."""
    return min(m, max(2 * k + 60, 100))


def _padded_tridiagonal(alpha, beta, j, pad):
    """The m x m matrix diag(T_j, pad * I): the leading j x j block of tridiag(beta, alpha)
    decoupled from a constant diagonal ``pad`` (which sorts to one end of the spectrum)."""
    m = alpha.shape[0]
    idx = jnp.arange(m)
    diag = jnp.where(idx < j, alpha, pad)
    off = jnp.where(idx[: m - 1] < j - 1, beta[: m - 1], 0.0)
    return tridiagonal(diag, off)


def _ritz(state, j, k: int, which: str):
    """Ritz values (ascending), their eigenvectors of T_j (zero past row j) and residual
    norms |beta_{j-1} s_{j-1,i}| = ||A y_i - theta_i y_i|| (Parlett 1998, Sec. 13.2).

    One eigh of diag(T_j, pad I) with the pad below every Ritz value: the j Ritz values are
    the trailing j of the m sorted eigenvalues."""
    alpha, beta, bound = state.alpha, state.beta, state.anorm
    m = alpha.shape[0]
    theta, s = jnp.linalg.eigh(_padded_tridiagonal(alpha, beta, j, -2 * bound - jnp.finfo(alpha.dtype).tiny))
    first = m - j  # index of the smallest Ritz value
    cols = []
    if which in ("smallest", "both"):
        cols.append(first + jnp.arange(k))
    if which in ("largest", "both"):
        cols.append(jnp.arange(m - k, m))
    cols = jnp.concatenate(cols)
    theta, s = theta[cols], s[:, cols]
    s = jnp.where((jnp.arange(m) < j)[:, None], s, 0.0)
    residual = jnp.abs(beta[jnp.maximum(j - 1, 0)] * s[jnp.maximum(j - 1, 0)])
    return theta, s, residual


def _pad_state(state, m: int):
    """Grow the Lanczos arrays to m steps, keeping the steps done so far."""
    extra = m - state.alpha.shape[0]
    return state._replace(
        basis=jnp.pad(state.basis, ((0, extra), (0, 0))),
        alpha=jnp.pad(state.alpha, (0, extra)),
        beta=jnp.pad(state.beta, (0, extra)),
    )


def _converged(state, j, k, which, tol):
    _, _, residual = _ritz(state, j, k, which)
    return jnp.all(residual <= tol * state.anorm)


def extreme_ritz(op, k: int, which: str, key, num_iters: int, tol, return_state=False):
    """Lanczos until the k wanted Ritz pairs have residual <= tol * ||T||, or num_iters
    steps. The basis is allocated in two stages (``_first_stage`` steps, then ``num_iters``,
    continuing the same recurrence): reorthogonalization reads the whole allocated basis
    each step, so an early stop in the first stage keeps that cost small. Returns
    (values, s, basis, steps) with Ritz vectors ``basis.T @ s``."""
    n = op.shape[0]
    stages = sorted({_first_stage(num_iters, k), num_iters})
    state = _init(op, stages[0], key, None)
    j = jnp.asarray(0)
    done = jnp.asarray(False)
    for m in stages:
        if m > state.alpha.shape[0]:
            state = _pad_state(state, m)
        chunk = max(10, m // 10)
        first_check = max(k, 1)

        def cond(carry, m=m):
            j, _, done = carry
            return (j < m) & ~done

        def body(carry, m=m, chunk=chunk, first_check=first_check):
            j, state, _ = carry
            stop = jnp.minimum(j + chunk, m)
            stop = jnp.maximum(stop, jnp.minimum(first_check, m))
            state = jax.lax.fori_loop(j, stop, lambda i, s: _step(op, i, s), state)
            done = _converged(state, stop, k, which, tol) if tol > 0 else jnp.asarray(False)
            return stop, state, done

        j, state, done = jax.lax.while_loop(cond, body, (j, state, done))
    del n
    theta, s, _ = _ritz(state, j, k, which)
    s = jnp.pad(s, ((0, 1), (0, 0)))  # basis has one more row (the next Lanczos vector)
    if return_state:
        return theta, s, state.basis, j, state
    return theta, s, state.basis, j


def _default_tol(dtype) -> float:
    return max(1e-10, 10 * float(jnp.finfo(dtype).eps))


def eigenvalues(
    op,
    k: int,
    which: str = "largest",
    key=None,
    num_iters: int | None = None,
    return_eigenvectors: bool = False,
    *,
    tol: float | None = None,
):
    """The k extreme eigenvalues of the symmetric operator ``op`` by Lanczos with full
    reorthogonalization (Golub & Van Loan, 4th ed., Sec. 10.1).

    ``which="largest"`` (algebraically largest k), ``"smallest"`` (k), or ``"both"``: the k
    smallest then the k largest, 2k values (they overlap when 2k > n). Values are sorted
    ascending, like ``numpy.linalg.eigh``.

    Lanczos stops once every wanted Ritz pair (theta, y) has residual
    ||A y - theta y|| <= tol * ||T|| (then |theta - lambda| <= that residual for some
    eigenvalue lambda), or after ``num_iters`` steps. A start vector with no component
    along an eigenvector cannot find it; a random start has one with probability 1.

    Args:
      op: a :class:`~curvature.LinearOperator` or square matrix of size n.
      k: a Python int, 1 <= k <= n.
      which: ``"largest"``, ``"smallest"`` or ``"both"``.
      key: PRNG key for the Lanczos start vector; ``None`` uses ``PRNGKey(0)``.
      num_iters: most Lanczos steps (matvecs), k <= num_iters <= n; default
        :func:`default_num_iters`. ``num_iters = n`` with ``tol=0`` is exact up to rounding.
      return_eigenvectors: also return the Ritz vectors as the columns of an (n, k) array
        ((n, 2k) for ``"both"``).
      tol: residual tolerance relative to ||T||; default max(1e-10, 10 eps); 0 runs all
        ``num_iters`` steps.

    Returns:
      ``values`` (k,) (2k for ``"both"``), or ``(values, vectors)`` with ``A @ vectors[:, i] ~ values[i] *
      vectors[:, i]``.
    """
    op = as_operator(op, "op")
    n = op.shape[0]
    k = check_int(k, "k", 1, n)
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which!r}")
    m = default_num_iters(n, k) if num_iters is None else check_int(num_iters, "num_iters", k, n)
    tol = _default_tol(op.dtype) if tol is None else float(tol)
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    values, s, basis, _ = extreme_ritz(op, k, which, key, m, tol)
    if not return_eigenvectors:
        return values
    return values, (s.T @ basis).T


def condition_number(op, key=None, num_iters: int | None = None, *, tol: float | None = None):
    """Spectral condition number kappa = max|lambda| / min|lambda| of the symmetric ``op``.

    Lanczos runs as in :func:`eigenvalues` with ``k=1, which="both"`` (the extreme pair).
    For a definite operator min|lambda| is an extreme eigenvalue, so kappa converges with
    it. For an indefinite operator the eigenvalue nearest zero is interior: the estimate
    uses the Ritz value nearest zero of the final T, which is exact only at
    ``num_iters = n, tol = 0``. A singular operator gives ``inf``; NaN input gives NaN.
    """
    op = as_operator(op, "op")
    n = op.shape[0]
    k = 1
    m = default_num_iters(n, k) if num_iters is None else check_int(num_iters, "num_iters", k, n)
    tol = _default_tol(op.dtype) if tol is None else float(tol)
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    _, _, _, j, state = extreme_ritz(op, k, "both", key, m, tol, return_state=True)
    bound = state.anorm
    theta = jnp.linalg.eigvalsh(_padded_tridiagonal(state.alpha, state.beta, j, 3 * bound))
    real = jnp.arange(theta.shape[0]) < j  # the pad (3 ||T||) sorts above every Ritz value
    mags = jnp.abs(theta)
    top = jnp.max(jnp.where(real, mags, 0.0))
    bottom = jnp.min(jnp.where(real, mags, jnp.inf))
    return jnp.where(bottom == 0, jnp.inf, top / jnp.where(bottom == 0, 1.0, bottom))


class SpectralDensity(NamedTuple):
    """Stochastic Lanczos quadrature estimate of the eigenvalue density of A.

    ``nodes`` and ``weights`` (num_probes, lanczos_order): probe p's Gauss quadrature, with
    ``sum_i weights[p, i] * g(nodes[p, i]) ~ v_p^T g(A) v_p / ||v_p||^2``; each row of
    ``weights`` sums to 1. The density is their average over probes, smoothed by a
    Gaussian of width ``sigma`` and evaluated on ``grid``.
    """

    nodes: jax.Array
    weights: jax.Array
    grid: jax.Array
    density: jax.Array
    sigma: jax.Array

    def moment(self, power: int) -> jax.Array:
        """The quadrature estimate of tr(A^power) / n (unsmoothed)."""
        return jnp.mean(jnp.sum(self.weights * self.nodes**power, axis=1))


def spectral_density(
    op,
    key,
    num_probes: int,
    lanczos_order: int,
    grid=256,
    sigma=None,
) -> SpectralDensity:
    """Eigenvalue density phi(t) = (1/n) sum_i delta(t - lambda_i) of ``op`` by stochastic
    Lanczos quadrature (Ubaru, Chen & Saad 2017; Ghorbani et al. 2019, Alg. 1).

    Each of ``num_probes`` Rademacher probes v starts ``lanczos_order`` Lanczos steps;
    T = S diag(theta) S^T gives nodes theta and weights S[0, :]^2. The quadrature is exact
    for polynomials of degree < 2 * lanczos_order, so sum(weights * nodes^j) is an unbiased
    estimate of tr(A^j) / n for j < 2 * lanczos_order.

    Args:
      op: a :class:`~curvature.LinearOperator` or square matrix of size n.
      key: PRNG key (required) for the probes.
      num_probes: a Python int >= 1; probes run batched (``vmap``).
      lanczos_order: a Python int, 1 <= lanczos_order <= n.
      grid: number of evenly spaced points (int, default 256) spanning the nodes plus
        5 sigma on each side, or an explicit 1-D array of points.
      sigma: Gaussian smoothing width; default 1% of the node range (or of max|node|
        when that range is 0, or 1e-3 when everything is 0).

    Returns:
      :class:`SpectralDensity` with ``nodes``, ``weights``, ``grid``, ``density``, ``sigma``.
      The density integrates to 1 over a grid that covers the nodes +- 5 sigma.
    """
    op = as_operator(op, "op")
    n = op.shape[0]
    if key is None:
        raise ValueError("key must be a jax.random PRNG key (spectral_density is random)")
    num_probes = check_int(num_probes, "num_probes", 1)
    order = check_int(lanczos_order, "lanczos_order", 1, n)
    dtype = op.dtype
    probe_key, lanczos_key = jax.random.split(key)
    probes = jax.random.rademacher(probe_key, (num_probes, n), dtype)
    lanczos_keys = jax.random.split(lanczos_key, num_probes)

    def quadrature(v, k):
        res = lanczos(op, order, k, v0=v)
        theta, s = jnp.linalg.eigh(tridiagonal(res.alpha, res.beta))
        return theta, s[0] ** 2

    nodes, weights = jax.vmap(quadrature)(probes, lanczos_keys)
    lo, hi = jnp.min(nodes), jnp.max(nodes)
    if sigma is None:
        width = hi - lo
        scale = jnp.where(width > 0, width, jnp.maximum(jnp.abs(lo), jnp.abs(hi)))
        sigma = jnp.where(scale > 0, 0.01 * scale, 1e-3)
    sigma = jnp.asarray(sigma, dtype)
    if isinstance(grid, int) and not isinstance(grid, bool):
        points = check_int(grid, "grid", 2)
        grid = jnp.linspace(lo - 5 * sigma, hi + 5 * sigma, points, dtype=dtype)
    else:
        grid = jnp.asarray(grid, dtype)
        if grid.ndim != 1:
            raise ValueError(f"grid must be an int or a 1-D array of points, got shape {grid.shape}")
    z = (grid[:, None] - nodes.reshape(-1)[None, :]) / sigma
    kernel = jnp.exp(-0.5 * z**2) / (sigma * jnp.sqrt(2 * jnp.pi))
    density = kernel @ weights.reshape(-1) / num_probes
    return SpectralDensity(nodes, weights, grid, density, sigma)

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

from curvature._cache import program
from curvature._validate import check_int, check_key, check_real
from curvature.lanczos import _init, _lanczos, _step, tridiagonal
from curvature.operators import as_operator

__all__ = [
    "SpectralDensity",
    "condition_number",
    "default_num_iters",
    "eigenvalues",
    "spectral_density",
]

_WHICH = ("largest", "smallest", "both")


_BASIS_FLOATS = 2**28  # default cap on the Lanczos basis: 2 GiB in float64, 1 GiB in float32


def default_num_iters(n: int, k: int) -> int:
    """Most Lanczos steps :func:`eigenvalues` takes when ``num_iters`` is None:
    ``min(n, max(10 k + 100, 400), max(2 k + 60, 2**28 // n))``.

    Operators with n <= 400 can be tridiagonalized completely (exact up to rounding).
    The steps actually taken stop earlier, once the wanted Ritz values have converged
    (see :func:`eigenvalues`); this number bounds the work and the basis memory,
    (num_iters + 1) n floats, which the last term keeps near 2**28 floats for large n
    (268 steps at n = 1e6) unless k itself needs more.
    """
    n, k = check_int(n, "n", 1), check_int(k, "k", 1)
    return min(n, max(10 * k + 100, 400), max(2 * k + 60, _BASIS_FLOATS // n))


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

    One eigh of diag(T_j, pad I), pad below every Ritz value, so the j Ritz values are the
    trailing j sorted eigenvalues. The eigh runs on the smallest window (32, 64, 128, ...
    rows, or all m) that holds T_j, so a check early in a long run stays cheap."""
    alpha, beta, bound = state.alpha, state.beta, state.anorm
    m = alpha.shape[0]
    windows = _windows(m)

    def window(w):
        def solve(alpha, beta, j):
            pad = -2 * bound - jnp.finfo(alpha.dtype).tiny
            theta, s = jnp.linalg.eigh(_padded_tridiagonal(alpha[:w], beta[:w], j, pad))
            cols = []
            if which in ("smallest", "both"):
                cols.append(w - j + jnp.arange(k))
            if which in ("largest", "both"):
                cols.append(jnp.arange(w - k, w))
            cols = jnp.concatenate(cols)
            s = jnp.where((jnp.arange(w) < j)[:, None], s[:, cols], 0.0)
            return theta[cols], jnp.pad(s, ((0, m - w), (0, 0)))

        return solve

    branch = jnp.searchsorted(jnp.asarray(windows), j)
    theta, s = jax.lax.switch(branch, [window(w) for w in windows], alpha, beta, j)
    residual = jnp.abs(beta[jnp.maximum(j - 1, 0)] * s[jnp.maximum(j - 1, 0)])
    return theta, s, residual


def _converged(state, j, k, which, tol):
    _, _, residual = _ritz(state, j, k, which)
    return jnp.all(residual <= tol * state.anorm)


def _windows(m: int) -> list:
    """Sizes of the eigh windows for checking convergence: 32, 64, 128, ... and m."""
    windows = []
    while not windows or windows[-1] < m:
        windows.append(min(m, 32 * 2 ** len(windows)))
    return windows


def _check_interval(j, m: int, n: int):
    """Steps until the next convergence check after step j. A check is one eigh of the
    w x w window holding T_j (~w^3), a step at least a matvec plus reorthogonalization
    (~j n >= w n / 2): checking every max(10, w^2 / n) steps keeps checks a small share of
    the work (at most m / 4 apart) and stops within 10 steps of convergence when n >> w."""
    windows = jnp.asarray(_windows(m))
    w = windows[jnp.minimum(jnp.searchsorted(windows, j + 10), len(windows) - 1)]
    return jnp.clip(-(-(w * w) // n), 10, max(10, m // 4))


def extreme_ritz(op, k: int, which: str, key, num_iters: int, tol, return_state=False):
    """Lanczos until the k wanted Ritz pairs have residual <= tol * ||T||, or num_iters
    steps. Returns (values, s, basis, steps): Ritz vectors are ``basis.combine(s)``."""
    n = op.shape[0]
    m = num_iters
    first_check = max(k, 1)
    state = _init(op, m, key, None)

    def cond(carry):
        j, _, done = carry
        return (j < m) & ~done

    def body(carry):
        j, state, _ = carry
        stop = jnp.maximum(jnp.minimum(j + _check_interval(j, m, n), m), min(first_check, m))
        state = jax.lax.fori_loop(j, stop, lambda i, s: _step(op, i, s), state)
        done = _converged(state, stop, k, which, tol) if tol > 0 else jnp.asarray(False)
        return stop, state, done

    j, state, _ = jax.lax.while_loop(cond, body, (jnp.asarray(0), state, jnp.asarray(False)))
    theta, s, _ = _ritz(state, j, k, which)
    if return_state:
        return theta, s, state.basis, j, state
    return theta, s, state.basis, j


def _run_length(op, k: int, num_iters, tol) -> tuple[int, float]:
    """Checked (num_iters, tol) with their defaults: :func:`default_num_iters` and
    max(1e-10, 10 eps)."""
    n = op.shape[0]
    m = default_num_iters(n, k) if num_iters is None else check_int(num_iters, "num_iters", k, n)
    if tol is None:
        return m, max(1e-10, 10 * float(jnp.finfo(op.dtype).eps))
    return m, check_real(tol, "tol", 0.0, traced=False)


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
      ``values`` (k,) (2k for ``"both"``), or ``(values, vectors)`` with
      ``A @ vectors[:, i] ~ values[i] * vectors[:, i]``.
    """
    op = as_operator(op, "op")
    n = op.shape[0]
    k = check_int(k, "k", 1, n)
    if which not in _WHICH:
        raise ValueError(f"which must be one of {_WHICH}, got {which!r}")
    m, tol = _run_length(op, k, num_iters, tol)
    if key is not None:
        check_key(key, "key")
    return _eigenvalues(op, key, k=k, which=which, num_iters=m, tol=tol,
                        return_eigenvectors=bool(return_eigenvectors))


@program("k", "which", "num_iters", "tol", "return_eigenvectors")
def _eigenvalues(op, key, *, k, which, num_iters, tol, return_eigenvectors):
    values, s, basis, _ = extreme_ritz(op, k, which, key, num_iters, tol)
    if not return_eigenvectors:
        return values
    return values, basis.combine(s).T


def condition_number(op, key=None, num_iters: int | None = None, *, tol: float | None = None):
    """Spectral condition number kappa = max|lambda| / min|lambda| of the symmetric ``op``.

    Lanczos runs as in :func:`eigenvalues` with ``k=1, which="both"`` (the extreme pair).
    For a definite operator min|lambda| is an extreme eigenvalue, so kappa converges with
    it. For an indefinite operator the eigenvalue nearest zero is interior: the estimate
    uses the Ritz value nearest zero of the final T, which is exact only at
    ``num_iters = n, tol = 0``. A (numerically) singular operator, min|lambda| <=
    eps max|lambda|, gives ``inf``; NaN input gives NaN.
    """
    op = as_operator(op, "op")
    m, tol = _run_length(op, 1, num_iters, tol)
    if key is not None:
        check_key(key, "key")
    return _condition_number(op, key, num_iters=m, tol=tol)


@program("num_iters", "tol")
def _condition_number(op, key, *, num_iters, tol):
    _, _, _, j, state = extreme_ritz(op, 1, "both", key, num_iters, tol, return_state=True)
    bound = state.anorm
    theta = jnp.linalg.eigvalsh(_padded_tridiagonal(state.alpha, state.beta, j, 3 * bound))
    real = jnp.arange(theta.shape[0]) < j  # the pad (3 ||T||) sorts above every Ritz value
    mags = jnp.abs(theta)
    top = jnp.max(jnp.where(real, mags, 0.0))
    bottom = jnp.min(jnp.where(real, mags, jnp.inf))
    singular = bottom <= jnp.finfo(theta.dtype).eps * top  # below rounding: numerically 0
    return jnp.where(singular, jnp.inf, top / jnp.where(singular, 1.0, bottom))


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
      sigma: Gaussian smoothing width > 0; default 1% of the node range (or of max|node|
        when that range is 0, or 1e-3 when everything is 0). A concrete sigma <= 0 raises
        ValueError; a traced one (under jit) that is <= 0 gives NaN sigma and density.

    Returns:
      :class:`SpectralDensity` with ``nodes``, ``weights``, ``grid``, ``density``, ``sigma``.
      The density integrates to 1 over a grid that covers the nodes +- 5 sigma.
    """
    op = as_operator(op, "op")
    n, dtype = op.shape[0], op.dtype
    if key is None:
        raise ValueError("key must be a jax.random PRNG key (spectral_density is random): "
                         "pass jax.random.PRNGKey(seed) or jax.random.key(seed)")
    check_key(key, "key")
    num_probes = check_int(num_probes, "num_probes", 1)
    order = check_int(lanczos_order, "lanczos_order", 1, n)
    if isinstance(grid, int) and not isinstance(grid, bool):
        points, grid = check_int(grid, "grid", 2), None  # the grid is made from the nodes
    else:
        points = None
        grid = jnp.asarray(grid, dtype)
        if grid.ndim != 1:
            raise ValueError(f"grid must be an int or a 1-D array of points, got shape {grid.shape}")
    if sigma is not None:
        sigma = check_real(sigma, "sigma", 0.0, open_low=True, what="the Gaussian smoothing width")
    return _spectral_density(op, key, grid, sigma, num_probes=num_probes, order=order, points=points)


@program("num_probes", "order", "points")
def _spectral_density(op, key, grid, sigma, *, num_probes, order, points):
    n, dtype = op.shape[0], op.dtype
    probe_key, lanczos_key = jax.random.split(key)
    probes = jax.random.rademacher(probe_key, (num_probes, n), dtype)
    lanczos_keys = jax.random.split(lanczos_key, num_probes)

    def quadrature(v, k):
        res = _lanczos(op, k, v, num_iters=order)
        theta, s = jnp.linalg.eigh(tridiagonal(res.alpha, res.beta))
        return theta, s[0] ** 2

    nodes, weights = jax.vmap(quadrature)(probes, lanczos_keys)
    lo, hi = jnp.min(nodes), jnp.max(nodes)
    if sigma is None:
        width = hi - lo
        scale = jnp.where(width > 0, width, jnp.maximum(jnp.abs(lo), jnp.abs(hi)))
        sigma = jnp.where(scale > 0, 0.01 * scale, 1e-3)
    # A traced sigma cannot be checked before running: sigma <= 0 (or NaN) makes it NaN, so
    # the density (and an int grid) come out NaN instead of a silently wrong curve.
    sigma = jnp.asarray(sigma, dtype)
    sigma = jnp.where(sigma > 0, sigma, jnp.nan)
    if points is not None:
        grid = jnp.linspace(lo - 5 * sigma, hi + 5 * sigma, points, dtype=dtype)
    z = (grid[:, None] - nodes.reshape(-1)[None, :]) / sigma
    kernel = jnp.exp(-0.5 * z**2) / (sigma * jnp.sqrt(2 * jnp.pi))
    density = kernel @ weights.reshape(-1) / num_probes
    return SpectralDensity(nodes, weights, grid, density, sigma)

"""Nonlinear CG against its recurrence in numpy.

- The conjugacy formulas, ``polak_ribiere_beta`` (PR+, N&W eq. 5.44) and ``hager_zhang_beta``
  (Hager & Zhang 2005, eq. 1.4 with the lower bound of eq. 2.7), against the formulas
  written out in numpy, on random vectors (clipped and unclipped cases both drawn).
- On a strictly convex quadratic with exact line searches, nonlinear CG with PR or HZ is
  linear CG (N&W Sec. 5.2: g+.d = 0 and g+.g = 0 make both betas g+.g+ / g.g). The line
  search is made exact with c2 = 1e-10 (|phi'(t)| <= c2 |phi'(0)| puts the step length within
  a relative c2 of the exact one on a quadratic), and the first iterates are compared with
  a numpy linear CG. The default c2 = 0.1 guarantees less (conjugacy only approximately);
  the method must still converge in n + a few iterations (steepest descent needs about 140
  here: log(1e-10 / 13) / log(9 / 11)).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
from optimizers.nonlinear_cg import hager_zhang_beta, polak_ribiere_beta

EPS = np.finfo(float).eps

# ------------------------------------------------------------------ the formulas


def pr_plus_numpy(g_new, g_old):
    return max(0.0, g_new @ (g_new - g_old) / (g_old @ g_old))


def hager_zhang_numpy(g_new, g_old, d, eta=0.01, bounded=True):
    y = g_new - g_old
    dy = d @ y
    beta = (y - 2 * d * (y @ y) / dy) @ g_new / dy
    if not bounded:
        return beta
    eta_k = -1.0 / (np.linalg.norm(d) * min(eta, np.linalg.norm(g_old)))
    return max(beta, eta_k)


def _draws(seed=0, count=600, n=6):
    """Random (g+, g, d) over several decades of scale: half with d a perturbed -g, half
    with d independent and long (there d.y is sometimes small against ||d|| ||y||, where the
    lower bound of eq. 2.7 takes over)."""
    rng = np.random.default_rng(seed)
    g_old = rng.standard_normal((count, n)) * 10.0 ** rng.uniform(-3, 1, (count, 1))
    g_new = rng.standard_normal((count, n)) * 10.0 ** rng.uniform(-3, 1, (count, 1))
    near = -g_old + rng.standard_normal((count, n)) * 10.0 ** rng.uniform(-3, 0.5, (count, 1))
    far = rng.standard_normal((count, n)) * 10.0 ** rng.uniform(-1, 3, (count, 1))
    d = np.where(np.arange(count)[:, None] % 2 == 0, near, far)
    return g_new, g_old, d


@pytest.fixture(scope="module")
def betas():
    g_new, g_old, d = _draws()
    pr = jax.jit(jax.vmap(polak_ribiere_beta))(g_new, g_old, d)
    hz = jax.jit(jax.vmap(hager_zhang_beta))(g_new, g_old, d)
    return g_new, g_old, d, np.asarray(pr), np.asarray(hz)


def test_polak_ribiere_plus_is_the_clipped_formula(betas):
    g_new, g_old, d, pr, _ = betas
    ref = np.array([pr_plus_numpy(a, b) for a, b in zip(g_new, g_old)])
    assert np.sum(ref == 0) > 20 and np.sum(ref > 0) > 20  # both branches of the max drawn
    np.testing.assert_allclose(pr, ref, rtol=1e-12, atol=0)


def test_hager_zhang_is_eq_1_4_bounded_below_by_eq_2_7(betas):
    g_new, g_old, d, _, hz = betas
    ref = np.array([hager_zhang_numpy(a, b, c) for a, b, c in zip(g_new, g_old, d)])
    raw = np.array([hager_zhang_numpy(a, b, c, bounded=False) for a, b, c in zip(g_new, g_old, d)])
    assert np.sum(raw < ref) >= 3 and np.sum(raw == ref) > 100  # the bound is active sometimes
    # rounding: each dot product is off by at most n eps |a| |b|; the quotient's terms are
    # of size T = |y| |g+| / |d.y| + 2 |y|^2 |d| |g+| / (d.y)^2, and d.y itself is off by a
    # relative n eps |d| |y| / |d.y|
    y = g_new - g_old
    dy = np.abs(np.einsum("ij,ij->i", d, y))
    ny, nd, ng = (np.linalg.norm(v, axis=1) for v in (y, d, g_new))
    terms = ny * ng / dy + 2 * ny**2 * nd * ng / dy**2
    tol = 10 * g_new.shape[1] * EPS * terms * (1 + nd * ny / dy)
    assert np.all(np.abs(hz - ref) <= tol)


def test_zero_denominators_give_finite_betas():
    z = jnp.zeros(3)
    g = jnp.array([1.0, -2.0, 0.5])
    assert float(polak_ribiere_beta(g, z, -g)) == 0.0  # g.g = 0: restart (beta 0)
    assert np.isfinite(float(hager_zhang_beta(g, g, -g)))  # y = 0, d.y = 0


# ------------------------------------------------------------------ a quadratic

N = 10
_Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((N, N)))
LAM = np.linspace(1.0, 10.0, N)  # kappa = 10
A = (_Q * LAM) @ _Q.T
X_STAR = np.random.default_rng(5).standard_normal(N)
B = A @ X_STAR
KAPPA = LAM[-1] / LAM[0]


def quad(x):
    """(x - x*)^T A (x - x*) / 2: f* = 0, so f keeps its relative accuracy down to the
    minimizer and the line search can resolve decreases at gradients far below 1e-8 (with a
    constant f* = c, decreases below eps |c| are lost: a search on f stalls at ||g|| of
    about sqrt(eps |c| lambda_max))."""
    r = x - jnp.asarray(X_STAR)
    return 0.5 * r @ (jnp.asarray(A) @ r)


def linear_cg(x0, steps):
    """N&W Alg. 5.2 on A x = b: the iterates x_0 .. x_steps."""
    x = np.array(x0, float)
    r = B - A @ x
    p = r.copy()
    xs = [x.copy()]
    for _ in range(steps):
        ap = A @ p
        alpha = (r @ r) / (p @ ap)
        x = x + alpha * p
        r_new = r - alpha * ap
        p = r_new + (r_new @ r_new) / (r @ r) * p
        r = r_new
        xs.append(x.copy())
    return np.array(xs)


X0 = np.zeros(N)
#: (c1, c2): the exact search, then the default one (float options: one compile for both)
SEARCHES = np.array([[1e-12, 1e-10], [1e-4, 0.1]])


@functools.lru_cache(maxsize=None)
def quad_runs(beta):
    run = jax.jit(jax.vmap(lambda c: optimizers.minimize(
        quad, jnp.asarray(X0), "nonlinear-cg", beta=beta, c1=c[0], c2=c[1], gtol=1e-10, max_iter=200,
        record_path=True)))
    return jax.device_get(run(jnp.asarray(SEARCHES)))


EARLY = 5


@pytest.mark.parametrize("beta", ["polak-ribiere", "hager-zhang"])
def test_with_exact_line_searches_the_iterates_are_linear_cg(beta):
    res = quad_runs(beta)
    path = res.trace.x[0]
    ref = linear_cg(X0, EARLY)
    # a step length off by a relative c2 moves x_k by c2 |x_k - x_{k-1}|; CG carries such an
    # error on with a factor up to kappa per step, and rounding adds eps kappa per step
    c2 = SEARCHES[0, 1]
    for k in range(1, EARLY + 1):
        tol = (k * KAPPA) ** 2 * (c2 + EPS) * max(1.0, np.abs(X_STAR).max())
        np.testing.assert_allclose(path[k], ref[k], rtol=0, atol=tol, err_msg=f"iterate {k}")
    assert int(res.status[0]) == 0
    assert int(res.nit[0]) <= N + 1  # linear CG ends in n steps
    np.testing.assert_allclose(res.x[0], X_STAR, atol=1e-10 / LAM[0] * np.sqrt(N))


@pytest.mark.parametrize("beta", ["polak-ribiere", "hager-zhang"])
def test_with_the_default_line_search_it_converges_in_n_plus_a_few(beta):
    res = quad_runs(beta)
    assert int(res.status[1]) == 0
    assert int(res.nit[1]) <= N + 5, int(res.nit[1])
    np.testing.assert_allclose(res.x[1], X_STAR, atol=1e-10 / LAM[0] * np.sqrt(N))
    # f decreases monotonically along the path (every accepted step passes Armijo)
    k = int(res.nit[1])
    f = np.array([0.5 * (x - X_STAR) @ A @ (x - X_STAR) for x in res.trace.x[1, : k + 1]])
    assert np.all(np.diff(f) < 0)

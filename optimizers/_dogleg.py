"""Dogleg step for the trust-region subproblem on a dense B (N&W Sec. 4.1).

min m(p) = g.p + p.Bp / 2 s.t. ||p|| <= radius, B symmetrized as (B + B^T) / 2.

Positive definite B (``jnp.linalg.cholesky`` succeeds: JAX returns NaN entries for a
matrix that is not numerically positive definite, singular PSD matrices included; that
NaN, and a non-finite p_B, are the test):

* the full step p_B = -B^-1 g (from the Cholesky factor) when ||p_B|| <= radius:
  interior, ``lagrange = 0``;
* otherwise the point where the dogleg path 0 -> p_U -> p_B leaves the ball, p_U =
  -(g.g / g.Bg) g the unconstrained minimizer along -g (N&W eq. 4.16): on the first leg
  -radius g / ||g|| when ||p_U|| >= radius, else p_U + s (p_B - p_U), s in [0, 1] the root
  of ||p_U + s (p_B - p_U)|| = radius (N&W eq. 4.17, cancellation-free quadratic formula).
  ``boundary = True``, ``lagrange = NaN`` (a dogleg point solves no KKT system).

Both have status CONVERGED.

B not positive definite (Cholesky fails, or g.Bg <= 0): status INDEFINITE and the Cauchy
point of N&W eq. 4.12, p_C = -tau radius g / ||g|| with tau = 1 when g.Bg <= 0 (to the
boundary along -g) and tau = min(1, ||g||^3 / (radius g.Bg)) otherwise (the minimizer
along -g, cut at the boundary). ``boundary`` is tau == 1, ``lagrange = NaN``. The Cauchy
point gives the decrease of N&W Lemma 4.3, enough for global convergence; it ignores the
negative curvature a nearly exact solver would use.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import cho_solve

from optimizers._subproblem import (
    CONVERGED,
    INDEFINITE,
    SubproblemResult,
    check_matrix,
    check_radius,
    check_vector,
    nonfinite_result,
    safe_div,
    safe_sqrt,
    select,
)

__all__ = ["dogleg"]


def _boundary_root(z, d, radius):
    """s >= 0 with ||z + s d|| = radius for ||z|| <= radius (0 when d == 0)."""
    a = jnp.vdot(d, d)
    half_b = jnp.vdot(z, d)
    c = jnp.minimum(jnp.vdot(z, z) - radius * radius, 0)
    root = safe_sqrt(half_b * half_b - a * c)
    # s = (-half_b + root) / a, written without cancellation in each sign of half_b
    return jnp.where(half_b <= 0, safe_div(root - half_b, a), safe_div(-c, half_b + root))


def dogleg(hess, g, radius) -> SubproblemResult:
    """The dogleg step (N&W Sec. 4.1), or the Cauchy point when B is not positive definite.

    Args:
      hess: the symmetric (n, n) matrix B.
      g: the gradient, shape (n,).
      radius: the trust-region radius, > 0 (may be traced).

    Returns:
      :class:`SubproblemResult` with ``num_matvec = 0``; status CONVERGED (B positive
      definite), INDEFINITE (Cauchy point) or NONFINITE (p = 0). See the module docstring.
    """
    g = check_vector(g, "g")
    n = g.shape[0]
    hess = check_matrix(hess, n, "hess")
    dtype = jnp.result_type(g.dtype, hess.dtype)
    g = g.astype(dtype)
    hess = hess.astype(dtype)
    radius = check_radius(radius, dtype)

    ok = jnp.all(jnp.isfinite(hess)) & jnp.all(jnp.isfinite(g)) & jnp.isfinite(radius) & (radius > 0)
    B = jnp.where(ok, 0.5 * (hess + hess.T), jnp.eye(n, dtype=dtype))
    g = jnp.where(ok, g, 0)
    radius = jnp.where(ok, radius, 1)

    gg = jnp.vdot(g, g)
    gnorm = safe_sqrt(gg)
    Bg = B @ g
    gBg = jnp.vdot(g, Bg)

    L = jnp.linalg.cholesky(B)
    factored = jnp.all(jnp.isfinite(L))
    L = jnp.where(factored, L, jnp.eye(n, dtype=dtype))
    p_full = cho_solve((L, True), -g)
    positive = factored & jnp.all(jnp.isfinite(p_full)) & (gBg > 0)
    p_full = jnp.where(positive, p_full, 0)

    # Dogleg (positive definite B).
    p_u = -safe_div(gg, gBg) * g
    along_g = -safe_div(radius, gnorm) * g
    first_leg = jnp.vdot(p_u, p_u) >= radius * radius
    s = _boundary_root(p_u, p_full - p_u, radius)
    p_dog = jnp.where(first_leg, along_g, p_u + jnp.clip(s, 0, 1) * (p_full - p_u))
    inside = jnp.vdot(p_full, p_full) <= radius * radius
    p_pd = jnp.where(inside, p_full, p_dog)

    # Cauchy point (N&W eq. 4.12) otherwise.
    tau = jnp.where(gBg <= 0, 1, jnp.minimum(1, safe_div(gg * gnorm, radius * gBg)))
    p_c = tau * along_g

    p = jnp.where(positive, p_pd, p_c)
    nan = jnp.full((), jnp.nan, dtype)
    solved = SubproblemResult(
        step=p,
        model_value=jnp.vdot(g, p) + 0.5 * jnp.vdot(p, B @ p),
        boundary=jnp.where(positive, ~inside, tau >= 1),
        num_matvec=jnp.int32(0),
        status=jnp.where(positive, CONVERGED, INDEFINITE).astype(jnp.int32),
        lagrange=jnp.where(positive & inside, 0, nan).astype(dtype),
    )
    zero = jnp.zeros((), dtype)
    at_zero = SubproblemResult(
        step=jnp.zeros_like(g),
        model_value=zero,
        boundary=jnp.asarray(False),
        num_matvec=jnp.int32(0),
        status=jnp.int32(CONVERGED),
        lagrange=zero,
    )
    out = select(gg == 0, at_zero, solved)
    return select(ok, out, nonfinite_result(g, 0))

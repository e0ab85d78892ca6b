"""Krylov solvers for Newton-type steps: truncated CG and Steihaug-Toint CG.

Both work on flat 1-D vectors and take the operator as a ``matvec`` callable, so the
matrix (a Hessian, a Gauss-Newton matrix) is never formed. Both are pure: the loop is one
``lax.while_loop`` with fixed shapes, so they run under ``jax.jit`` and ``jax.vmap``.

Negative curvature test (both solvers): a search direction ``p`` with
``p.Ap <= eps * ||p|| * ||Ap||`` (``eps`` the machine epsilon of the dtype) is treated as
non-positive curvature. The test is scale-free (the bound is ``eps`` times the largest value
``|p.Ap|`` can take), so it does not depend on the size of ``A``'s entries, and it also
catches ``Ap = 0`` (a singular direction). A non-finite ``p.Ap`` is treated the same way,
so a NaN from ``matvec`` stops the solver instead of spreading into the result.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from optimizers._loops import while_loop
from optimizers._options import integer

__all__ = ["CGResult", "CG_MAX_ITER", "truncated_cg", "steihaug_cg", "CG_STATUS", "cg_cap", "forcing_rtol"]

CONVERGED, NEGATIVE_CURVATURE, MAX_ITER, BOUNDARY = 0, 1, 2, 3

#: Meaning of ``CGResult.status``.
CG_STATUS = {
    CONVERGED: "converged: residual norm <= rtol * norm of the right-hand side",
    NEGATIVE_CURVATURE: "non-positive curvature direction found",
    MAX_ITER: "iteration cap reached",
    BOUNDARY: "step reached the trust-region boundary",
}


#: The Krylov iteration cap option shared by every method that solves with CG or Lanczos.
CG_MAX_ITER = integer(None, "most curvature products per CG / Lanczos solve (None: 20 n for CG, n for GLTR)",
                      1, optional=True)


def cg_cap(opts, n: int, default_factor: int = 20) -> int:
    """The Krylov iteration cap: the ``cg_max_iter`` option, or ``default_factor * n``."""
    return default_factor * n if opts["cg_max_iter"] is None else opts["cg_max_iter"]


def forcing_rtol(g):
    """eta = min(0.5, sqrt(||g||_2)), the relative tolerance of inexact Newton steps (N&W
    Alg. 7.1 / 7.2): superlinear convergence, N&W Thm. 7.2."""
    return jnp.minimum(0.5, jnp.sqrt(jnp.linalg.norm(g)))


class CGResult(NamedTuple):
    """Result of :func:`truncated_cg` and :func:`steihaug_cg`.

    x: the solution / step. iters: int32 number of ``matvec`` calls made. status: int32,
    0 converged, 1 negative curvature, 2 iteration cap, 3 trust-region boundary (Steihaug
    only); see ``CG_STATUS``. model_value: the quadratic model at ``x`` from the CG
    recurrences (no extra ``matvec``), see each solver. negative_direction (truncated CG
    only): the CG direction p found with p.Ap < -eps ||p|| ||Ap|| (strictly negative
    curvature, not a rounding-level zero), zeros otherwise; negative_curvature: its p.Ap.
    """

    x: jax.Array
    iters: jax.Array
    status: jax.Array
    model_value: jax.Array
    negative_direction: jax.Array | None = None
    negative_curvature: jax.Array | None = None


def _check_vector(v, name: str) -> jax.Array:
    v = jnp.asarray(v)
    if v.ndim != 1:
        raise ValueError(f"{name} must be a flat 1-D vector, got shape {v.shape}")
    if not jnp.issubdtype(v.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point vector, got dtype {v.dtype}")
    return v


def _check_options(rtol, max_iter) -> None:
    if isinstance(rtol, (int, float)) and not rtol >= 0:
        raise ValueError(f"rtol must be >= 0, got {rtol!r}")
    if isinstance(max_iter, bool) or (isinstance(max_iter, float)):
        raise TypeError(f"max_iter must be an integer, got {max_iter!r}")
    if isinstance(max_iter, int) and max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter!r}")


def _safe_div(num, den):
    """num / den, and 0 where den == 0 (no NaN, also in the gradient: double where)."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def _curvature_bound(p, Ap):
    """eps ||p|| ||Ap||: the size of p.Ap that rounding alone can produce."""
    return jnp.finfo(p.dtype).eps * jnp.sqrt(jnp.vdot(p, p)) * jnp.sqrt(jnp.vdot(Ap, Ap))


def _nonpositive_curvature(curv, p, Ap):
    """True when p.Ap <= eps ||p|| ||Ap|| or p.Ap is not finite (see the module docstring)."""
    return ~jnp.isfinite(curv) | (curv <= _curvature_bound(p, Ap))


def truncated_cg(
    matvec: Callable[[jax.Array], jax.Array],
    b: jax.Array,
    *,
    rtol,
    max_iter,
    x0: jax.Array | None = None,
) -> CGResult:
    """Conjugate gradients for A x = b, stopped early (N&W Alg. 5.2; inner loop of Alg. 7.1).

    Iterates from ``x0`` (default 0) until ``||b - A x|| <= rtol * ||b||`` (status 0), a
    direction of non-positive curvature ``p.Ap <= eps ||p|| ||Ap||`` (status 1), or
    ``max_iter`` matvecs (status 2). On negative curvature it returns the current iterate,
    except at the first CG iteration, where it returns ``b`` itself (for ``b = -g`` that is
    the steepest-descent direction, as in N&W Alg. 7.1). A given ``x0`` costs one extra
    matvec for the initial residual (counted in ``iters``). ``b == 0`` returns zeros,
    ``iters = 0``, status 0.

    ``model_value`` is ``q(x) = x.A x / 2 - b.x`` at the returned ``x``, updated along the
    recurrences (``q(x + a p) = q(x) - a p.r + a^2 p.Ap / 2``); exact up to rounding, with
    no extra matvec. It is NaN only in the one case it is not free: negative curvature at the
    first iteration with a nonzero ``x0`` (the returned ``b`` was never multiplied by A).

    ``rtol`` and ``max_iter`` may be traced values (e.g. Newton-CG's forcing term
    ``min(0.5, sqrt(||g||))``).
    """
    b = _check_vector(b, "b")
    _check_options(rtol, max_iter)
    dtype = b.dtype
    rtol = jnp.asarray(rtol, dtype)
    max_iter = jnp.asarray(max_iter, jnp.int32)
    zero = jnp.zeros((), dtype)
    bb = jnp.vdot(b, b)
    tol2 = (rtol * rtol) * bb  # compare squared norms: ||r||^2 <= rtol^2 ||b||^2
    b_is_zero = bb == 0

    if x0 is None:
        x = jnp.zeros_like(b)
        r = b
        q = zero
        iters0 = jnp.int32(0)
    else:
        x0 = _check_vector(x0, "x0")
        if x0.shape != b.shape:
            raise ValueError(f"x0 must have the shape of b {b.shape}, got {x0.shape}")
        x = x0.astype(dtype)
        r = b - matvec(x)
        q = -0.5 * jnp.vdot(x, b + r)  # x.Ax/2 - b.x with Ax = b - r
        iters0 = jnp.int32(1)
    rr = jnp.vdot(r, r)
    status0 = jnp.where(b_is_zero | (rr <= tol2), CONVERGED, -1).astype(jnp.int32)
    # b == 0: the answer is 0 whatever x0 was, at no cost.
    x = jnp.where(b_is_zero, 0, x)
    q = jnp.where(b_is_zero, zero, q)
    iters0 = jnp.where(b_is_zero, 0, iters0).astype(jnp.int32)

    def cond(state):
        _, _, _, _, _, k, status, _, _, _ = state
        return (status < 0) & (k < max_iter)

    def body(state):
        x, r, p, rr, q, k, _, first, _, _ = state
        Ap = matvec(p)
        curv = jnp.vdot(p, Ap)
        neg = _nonpositive_curvature(curv, p, Ap)
        strict = jnp.isfinite(curv) & (curv < -_curvature_bound(p, Ap))
        alpha = _safe_div(rr, curv)
        x_new = x + alpha * p
        r_new = r - alpha * Ap
        q_new = q - alpha * jnp.vdot(p, r) + 0.5 * alpha * alpha * curv
        rr_new = jnp.vdot(r_new, r_new)
        beta = _safe_div(rr_new, rr)
        p_new = r_new + beta * p
        # Negative curvature: keep x (or return b at the first iteration).
        if x0 is None:
            q_first = 0.5 * curv - bb  # p == b here, so b.Ab = curv
        else:
            q_first = jnp.full((), jnp.nan, dtype)
        x_neg = jnp.where(first, b, x)
        q_neg = jnp.where(first, q_first, q)
        status = jnp.where(neg, NEGATIVE_CURVATURE, jnp.where(rr_new <= tol2, CONVERGED, -1))
        x = jnp.where(neg, x_neg, x_new)
        q = jnp.where(neg, q_neg, q_new)
        r = jnp.where(neg, r, r_new)
        rr = jnp.where(neg, rr, rr_new)
        nc_dir = jnp.where(neg & strict, p, jnp.zeros_like(p))
        nc_curv = jnp.where(neg & strict, curv, zero)
        return x, r, p_new, rr, q, k + 1, status.astype(jnp.int32), jnp.asarray(False), nc_dir, nc_curv

    init = (x, r, r, rr, q, iters0, status0, jnp.asarray(True), jnp.zeros_like(b), zero)
    x, _, _, _, q, k, status, _, nc_dir, nc_curv = while_loop(cond, body, init)
    status = jnp.where(status < 0, MAX_ITER, status).astype(jnp.int32)
    return CGResult(x=x, iters=k, status=status, model_value=q, negative_direction=nc_dir,
                    negative_curvature=nc_curv)


def _boundary_taus(z, d, radius):
    """Roots tau_minus <= 0 <= tau_plus of ||z + tau d|| = radius, for ||z|| <= radius.

    Uses the cancellation-free form of the quadratic formula; zero-safe (d == 0 gives 0, 0).
    """
    a = jnp.vdot(d, d)
    half_b = jnp.vdot(z, d)
    c = jnp.vdot(z, z) - radius * radius
    c = jnp.minimum(c, 0)  # z is inside the ball (up to rounding)
    disc = half_b * half_b - a * c
    s = jnp.sqrt(jnp.maximum(disc, 0))
    # q = -(half_b + sign(half_b) s): the two roots are q / a and c / q.
    q = -(half_b + jnp.where(half_b >= 0, s, -s))
    r1 = _safe_div(q, a)
    r2 = _safe_div(c, q)
    return jnp.minimum(r1, r2), jnp.maximum(r1, r2)


def steihaug_cg(
    matvec: Callable[[jax.Array], jax.Array],
    g: jax.Array,
    radius,
    *,
    rtol,
    max_iter,
) -> CGResult:
    """Steihaug-Toint CG for min m(p) = g.p + p.Bp / 2 subject to ||p|| <= radius (N&W Alg. 7.2).

    From p = 0, CG on B p = -g with three early exits: a direction d of non-positive
    curvature (``d.Bd <= eps ||d|| ||Bd||``) returns the boundary point ``p + tau d`` that
    minimizes m among the two crossings (status 1); a step that would leave the ball returns
    the crossing ``p + tau d``, tau >= 0 (status 3); ``||r|| <= rtol * ||g||`` returns the
    interior iterate (status 0); ``max_iter`` matvecs returns the last iterate (status 2).
    The returned step never lies outside the ball (up to rounding). ``g == 0`` returns
    zeros, ``iters = 0``, status 0.

    ``model_value`` is m at the returned step, exact up to rounding, from the recurrence
    ``m(p + t d) = m(p) + t r.d + t^2 d.Bd / 2`` with ``r = g + Bp`` (no extra matvec).
    A non-finite ``d.Bd`` (NaN from ``matvec``) stops with status 1 at the current iterate.
    """
    g = _check_vector(g, "g")
    _check_options(rtol, max_iter)
    if isinstance(radius, (int, float)) and not radius >= 0:
        raise ValueError(f"radius must be >= 0, got {radius!r}")
    dtype = g.dtype
    rtol = jnp.asarray(rtol, dtype)
    radius = jnp.asarray(radius, dtype)
    max_iter = jnp.asarray(max_iter, jnp.int32)
    zero = jnp.zeros((), dtype)
    gg = jnp.vdot(g, g)
    tol2 = (rtol * rtol) * gg
    status0 = jnp.where(gg <= tol2, CONVERGED, -1).astype(jnp.int32)

    def cond(state):
        _, _, _, _, _, k, status = state
        return (status < 0) & (k < max_iter)

    def body(state):
        z, r, d, rr, m, k, _ = state
        Bd = matvec(d)
        curv = jnp.vdot(d, Bd)
        rd = jnp.vdot(r, d)
        neg = _nonpositive_curvature(curv, d, Bd)
        finite = jnp.isfinite(curv)
        tau_minus, tau_plus = _boundary_taus(z, d, radius)

        def m_along(t):
            return m + t * rd + 0.5 * t * t * curv

        # Negative curvature: the boundary point along d with the lower model value.
        m_minus, m_plus = m_along(tau_minus), m_along(tau_plus)
        use_minus = m_minus < m_plus
        tau_neg = jnp.where(use_minus, tau_minus, tau_plus)
        m_neg = jnp.where(use_minus, m_minus, m_plus)
        tau_neg = jnp.where(finite, tau_neg, 0)
        m_neg = jnp.where(finite, m_neg, m)
        # Positive curvature: the CG step, cut at the boundary if it leaves the ball.
        alpha = _safe_div(rr, curv)
        z_new = z + alpha * d
        outside = jnp.vdot(z_new, z_new) >= radius * radius
        r_new = r + alpha * Bd
        rr_new = jnp.vdot(r_new, r_new)
        beta = _safe_div(rr_new, rr)
        d_new = -r_new + beta * d

        tau_stop = jnp.where(neg, tau_neg, tau_plus)
        m_stop = jnp.where(neg, m_neg, m_along(tau_plus))
        stop = neg | outside
        status = jnp.where(
            neg,
            NEGATIVE_CURVATURE,
            jnp.where(outside, BOUNDARY, jnp.where(rr_new <= tol2, CONVERGED, -1)),
        )
        z_out = jnp.where(stop, z + tau_stop * d, z_new)
        m_out = jnp.where(stop, m_stop, m_along(alpha))
        r = jnp.where(stop, r, r_new)
        rr = jnp.where(stop, rr, rr_new)
        d = jnp.where(stop, d, d_new)
        return z_out, r, d, rr, m_out, k + 1, status.astype(jnp.int32)

    init = (jnp.zeros_like(g), g, -g, gg, zero, jnp.int32(0), status0)
    z, _, _, _, m, k, status = while_loop(cond, body, init)
    status = jnp.where(status < 0, MAX_ITER, status).astype(jnp.int32)
    return CGResult(x=z, iters=k, status=status, model_value=m)

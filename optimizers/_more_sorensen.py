"""Nearly exact trust-region subproblem solver on a dense B (Moré & Sorensen 1983).

min m(p) = g.p + p.Bp / 2 subject to ||p|| <= radius. The solution is p(lambda) =
-(B + lambda I)^-1 g with lambda >= 0, B + lambda I positive semidefinite and
lambda (radius - ||p||) = 0 (N&W Thm. 4.1).

Implementation: eigendecomposition, not Cholesky. B = V diag(w) V^T once
(``jnp.linalg.eigh``, O(n^3)); in the eigenbasis (c = V^T g) every trial lambda costs
O(n) instead of a Cholesky factorization, and the shapes stay fixed under ``jit``. The
multiplier is found as in Moré & Sorensen (1983), "Computing a trust region step", SIAM
J. Sci. Stat. Comput. 4(3), and N&W Alg. 4.3: Newton's method on the secular equation

    psi(lambda) = 1 / ||p(lambda)|| - 1 / radius = 0,

which is concave and increasing in lambda on (-w_1, inf), safeguarded by a bracket
[lambda_L, lambda_U] that always holds the root (bisection when a Newton step leaves it).
In the eigenbasis ``||p(lambda)||^2 = sum_i c_i^2 / (w_i + lambda)^2``; the search runs in
the shifted variable mu = lambda + w_1, with the gaps w_i - w_1 computed once, so the
pole term c_1 / mu has no cancellation however close lambda is to -w_1 (the near-hard
case). Newton starts at the lower bound mu_L = max(w_1^+, max_i |c_i| / radius -
(w_i - w_1)) <= mu*, where it is monotone (psi concave): the iterates increase to the root.
The loop ends when | ||p|| - radius | <= rtol radius, or when a step no longer reduces
| ||p|| - radius | (the rounding floor), or after ``max_iter`` steps (status MAX_ITER).
The boundary step is then scaled onto the sphere (a relative change of
| ||p|| - radius | / radius: <= rtol, or the rounding floor, when converged).

Cases (N&W Sec. 4.3), with w_1 the smallest eigenvalue and J the eigenvalues within
``8 n eps max|w|`` of it:

* interior: w_1 > 0 and ||B^-1 g|| <= radius: p = -B^-1 g, lambda = 0;
* hard case: w_1 <= 0, ||c_J|| <= 8 n eps ||g|| (g orthogonal to the eigenspace of w_1
  up to rounding) and ||(B - w_1 I)^+ g|| <= radius: lambda = -w_1 and
  p = -(B - w_1 I)^+ g + tau z on the boundary, z the first eigenvector, the sign of tau
  chosen to lower m;
* otherwise Newton as above (this includes the near-hard case: the shifted variable keeps
  it accurate, and the hard-case test only has to catch c_J = 0 up to rounding).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optimizers._loops import while_loop
from optimizers._subproblem import (
    CONVERGED,
    MAX_ITER,
    SubproblemResult,
    check_iterations,
    check_matrix,
    check_radius,
    check_tolerance,
    check_vector,
    nonfinite_result,
    safe_div,
    safe_sqrt,
    select,
)

__all__ = ["more_sorensen"]

_CLUSTER = 8  # eigenvalue / coefficient tolerances: _CLUSTER * n * eps * scale


class EigSolution(NamedTuple):
    """Solution of the subproblem in an eigenbasis (see :func:`solve_eig`)."""

    u: jax.Array  # the step's coefficients in the eigenbasis
    lagrange: jax.Array
    boundary: jax.Array
    converged: jax.Array
    hard: jax.Array
    model_value: jax.Array


def solve_eig(w, c, radius, *, scale, max_iter: int, rtol) -> EigSolution:
    """min c.u + u.diag(w)u / 2 s.t. ||u|| <= radius, for ascending eigenvalues ``w``.

    ``scale`` (>= max|w| up to a small factor) sets the eigenvalue-cluster tolerance.
    ``c`` must not be all zero where the caller needs a meaningful answer (g = 0 is
    handled by the callers). Used by :func:`more_sorensen` and by GLTR on its tridiagonal.
    """
    dtype = w.dtype
    eps = jnp.finfo(dtype).eps
    m = w.shape[0]
    w1 = w[0]
    gap = w - w1  # gap[0] == 0 exactly
    cnorm = safe_sqrt(jnp.vdot(c, c))
    in_j = gap <= _CLUSTER * m * eps * scale
    r2 = radius * radius

    # Interior: B positive definite and the Newton step inside.
    u_int = -safe_div(c, w)
    interior = (w1 > 0) & (jnp.vdot(u_int, u_int) <= r2)

    # Hard case: lambda = -w1, g orthogonal to the eigenspace J up to rounding.
    u_perp = -safe_div(jnp.where(in_j, 0, c), jnp.where(in_j, 0, gap))
    perp2 = jnp.vdot(u_perp, u_perp)
    cj = safe_sqrt(jnp.vdot(jnp.where(in_j, c, 0), jnp.where(in_j, c, 0)))
    hard = (w1 <= 0) & (cj <= _CLUSTER * m * eps * cnorm) & (perp2 <= r2) & ~interior
    tau = safe_sqrt(r2 - perp2)
    u_hard = u_perp.at[0].add(jnp.where(c[0] > 0, -tau, tau))

    # Newton on 1/||p|| = 1/radius in mu = lambda + w1 (Moré & Sorensen 1983).
    mu_lo = jnp.maximum(w1, 0)
    mu_left = jnp.maximum(mu_lo, jnp.max(safe_div(jnp.abs(c), radius) - gap))
    mu_right = jnp.maximum(mu_left, safe_div(cnorm, radius))

    def evaluate(mu):
        d = gap + mu
        u = -safe_div(c, d)
        s2 = jnp.vdot(u, u)
        t = jnp.sum(safe_div(u * u, d))  # -(d/dmu) ||u||^2 / 2
        return u, s2, t

    def cond(state):
        *_, it, done = state
        return ~done & (it < max_iter)

    def body(state):
        mu, best_mu, best_err, lo, hi, it, _ = state
        _, s2, t = evaluate(mu)
        s = safe_sqrt(s2)
        err = jnp.abs(s - radius)
        improved = err < best_err
        best_mu = jnp.where(improved, mu, best_mu)
        best_err = jnp.minimum(err, best_err)
        converged = err <= rtol * radius
        stalled = ~improved & (it > 0)  # at the rounding floor: no step reduces the error
        outside = s > radius
        lo = jnp.where(outside, mu, lo)
        hi = jnp.where(outside, hi, mu)
        mu_new = mu + safe_div((s - radius) * s2, radius * t)
        leaves = ~((mu_new > lo) & (mu_new < hi))
        mu_new = jnp.where(leaves, 0.5 * (lo + hi), mu_new)
        done = converged | stalled | ~jnp.isfinite(mu_new)
        return mu_new, best_mu, best_err, lo, hi, it + 1, done

    inf = jnp.full((), jnp.inf, dtype)
    init = (mu_left, mu_left, inf, mu_left, mu_right, jnp.int32(0), interior | hard)
    _, mu, _, _, _, it, done = while_loop(cond, body, init)
    u_new, s2, _ = evaluate(mu)
    u_new = u_new * safe_div(radius, safe_sqrt(s2))  # onto the sphere (relative change <= rtol)

    u = jnp.where(interior, u_int, jnp.where(hard, u_hard, u_new))
    lam = jnp.where(interior, 0, jnp.where(hard, -w1, jnp.maximum(mu - w1, 0)))
    model = jnp.vdot(c, u) + 0.5 * jnp.vdot(w * u, u)
    return EigSolution(
        u=u,
        lagrange=lam.astype(dtype),
        boundary=~interior,
        converged=done,
        hard=hard,
        model_value=model,
    )


def more_sorensen(hess, g, radius, *, max_iter: int = 100, rtol=None) -> SubproblemResult:
    """Nearly exact solution of min g.p + p.Bp/2 s.t. ||p|| <= radius for a dense B.

    Args:
      hess: the symmetric (n, n) matrix B (symmetrized as (B + B^T) / 2); any inertia.
      g: the gradient, shape (n,).
      radius: the trust-region radius, > 0 (may be traced).
      max_iter: cap on the Newton steps on the secular equation (a Python int >= 1; each
        step is O(n) after the O(n^3) eigendecomposition).
      rtol: stop when | ||p|| - radius | <= rtol * radius; default 4 eps of the dtype (the
        loop also stops at the rounding floor, see the module docstring).

    Returns:
      :class:`SubproblemResult` with ``num_matvec = 0``, the exact multiplier ``lagrange``
      (0 for an interior step, -w_1 in the hard case) and status CONVERGED, or MAX_ITER
      when the Newton loop hit ``max_iter``, or NONFINITE (p = 0) for non-finite input.
    """
    g = check_vector(g, "g")
    n = g.shape[0]
    hess = check_matrix(hess, n, "hess")
    dtype = jnp.result_type(g.dtype, hess.dtype)
    g = g.astype(dtype)
    hess = hess.astype(dtype)
    radius = check_radius(radius, dtype)
    max_iter = check_iterations(max_iter, "max_iter")
    eps = jnp.finfo(dtype).eps
    rtol = check_tolerance(4 * eps if rtol is None else rtol, "rtol")
    rtol = jnp.asarray(rtol, dtype)

    ok = (
        jnp.all(jnp.isfinite(hess))
        & jnp.all(jnp.isfinite(g))
        & jnp.isfinite(radius)
        & (radius > 0)
    )
    hess = jnp.where(ok, hess, 0)
    g = jnp.where(ok, g, 0)
    radius = jnp.where(ok, radius, 1)
    B = 0.5 * (hess + hess.T)
    w, V = jnp.linalg.eigh(B)
    c = V.T @ g
    scale = jnp.max(jnp.abs(w))
    sol = solve_eig(w, c, radius, scale=scale, max_iter=max_iter, rtol=rtol)
    p = V @ sol.u

    zero = jnp.zeros((), dtype)
    solved = SubproblemResult(
        step=p,
        model_value=sol.model_value,
        boundary=sol.boundary,
        num_matvec=jnp.int32(0),
        status=jnp.where(sol.converged, CONVERGED, MAX_ITER).astype(jnp.int32),
        lagrange=sol.lagrange,
    )
    at_zero = SubproblemResult(
        step=jnp.zeros_like(g),
        model_value=zero,
        boundary=jnp.asarray(False),
        num_matvec=jnp.int32(0),
        status=jnp.int32(CONVERGED),
        lagrange=zero,
    )
    out = select(jnp.vdot(g, g) == 0, at_zero, solved)
    return select(ok, out, nonfinite_result(g, 0))

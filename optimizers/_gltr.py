"""GLTR: the trust-region subproblem on growing Krylov subspaces (Lanczos).

Gould, Lucidi, Roma & Toint (1999), "Solving the trust-region subproblem using the Lanczos
method", SIAM J. Optim. 9(2), 504-525 (GALAHAD's GLTR; scipy's ``trust-krylov`` runs the
same method through trlib). For min m(p) = g.p + p.Bp / 2 s.t. ||p|| <= radius:

Lanczos on B from q_0 = g / ||g|| builds orthonormal rows Q_k = (q_0 .. q_{k-1}) and the
tridiagonal T_k = Q_k B Q_k^T (diagonal alpha, off-diagonal beta). The step minimizes m
over the Krylov space: p_k = Q_k^T y_k with

    y_k = argmin ||g|| e_1.y + y.T_k y / 2   s.t. ||y|| <= radius.

Two phases:

* interior phase: while T_k is positive definite and the CG iterate -||g|| T_k^-1 e_1 is
  inside the ball, y_k is the CG iterate. Its norm and residual follow from the pivots of
  T_k = L D L^T (pi_k = 1 / alpha^CG_k) with the CG recurrences for ||x||^2, x.d and ||d||^2
  (as in Conn, Gould & Toint, Trust-Region Methods, 2000): O(1) work per step
  besides the Lanczos vector update. ||r_{k+1}|| = ||r_k|| beta_k / pi_k <= rtol ||g||
  stops with the interior step (status CONVERGED, lagrange 0).
* boundary phase: from the first pivot pi_k <= eps (|alpha_k| + beta_{k-1}^2 / pi_{k-1})
  (non-positive curvature) or the first CG iterate with ||x|| >= radius on, y_k is on the
  boundary and is found nearly exactly each step by :func:`optimizers._more_sorensen.
  solve_eig` (Moré-Sorensen's Newton on the secular equation in the eigenbasis of T_k,
  hard case included) from ``jnp.linalg.eigh`` of T_k. It stops when GLTR's residual
  estimate ||(B + lambda I) p_k + g|| = beta_k |e_k.y_k| <= rtol ||g||.

Fixed shapes: T_k lives in a (max_iter, max_iter) array. Each boundary-phase step
decomposes only its leading s x s block, s the smallest of the sizes 8, 32, 128, 512,
2048, ... (a factor 4 apart) and max_iter that holds the k + 1 used rows (one branch per
size, chosen by ``lax.switch``); the unused part of the block is inert (diagonal 2 G, G the
Gershgorin bound of the used part, zero couplings), so its eigenpairs never mix with those
of T_k and carry no part of g. That is O(k^3) per step, at most 64 (k + 1)^3 flops, not
O(max_iter^3): with the default max_iter = n, decomposing the full buffer made every
boundary step cost n^3 (measured: n = 2592, 18 iterations, 60 s before, see
docs/benchmarks.md). A tridiagonal Moré-Sorensen with a Sturm-sequence bound on the
leftmost eigenvalue, as in GALAHAD, would be O(k) per secular step. Under ``vmap`` the
switch runs every branch (a select), which costs what the full decomposition did.

Lanczos vectors: kept in a (max_iter, n) buffer to form p = Q^T y at the end, and every new
vector is reorthogonalized against all earlier ones (two classical Gram-Schmidt passes,
"twice is enough", and a third when the second removed more than half of what was left,
i.e. the vector was rounding noise). That is O(max_iter n) per step, a few vector
operations per stored
vector, cheap next to a Hessian-vector product for the iteration counts of a trust-region
solve; it keeps Q orthonormal, so p = Q^T y, ||p|| = ||y|| and the model value
||g|| y_0 + y.T y / 2 (computed from T, no extra matvec) hold to rounding, and Ritz values
do not repeat.

Invariant subspace (beta_k <= lanczos_rtol * G; the default 16 sqrt(n) eps is the
rounding level of a reorthogonalized residual, so only numerically exact invariant
subspaces count, and the coupling set to zero perturbs (B + lambda I) p + g by at most
lanczos_rtol G ||p||): in the interior phase the CG iterate
solves B p = -g exactly on an invariant space: converged. In the boundary phase the
recurrence restarts with a fresh vector orthogonal to Q and records beta_k = 0 (T becomes
block diagonal); the residual test is skipped at that step. A restart is the only way an
eigenvector orthogonal to the Krylov space of g can enter: then the tridiagonal
subproblem is in its own hard case, which ``solve_eig`` handles.

The hard case of B (g orthogonal to the eigenvector z of the smallest eigenvalue):
like every Krylov method started at g, GLTR cannot detect it: in exact arithmetic the
Krylov space of g never contains z unless it becomes invariant first. In floating
point z enters through rounding (its component grows with the Lanczos polynomial), but the
residual test usually passes first on the Krylov-space solution, which is then returned
with status CONVERGED. With ``rtol = 0`` the test never passes early: the recurrence runs
to ``max_iter`` (or until Q spans the whole space), and with ``max_iter = n`` the rows of
Q are an orthonormal basis, T is similar to B, and the answer is the exact solution, hard
case included.

``num_matvec`` = number of Lanczos steps (one product with B each). ``lagrange`` is the
multiplier of the Krylov-space problem: (B + lambda I) p + g = beta_k (e_k.y_k) q_{k+1},
small when converged.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optimizers._loops import while_loop
from optimizers._more_sorensen import solve_eig
from optimizers._subproblem import (
    CONVERGED,
    MAX_ITER,
    NONFINITE,
    SubproblemResult,
    check_iterations,
    check_radius,
    check_tolerance,
    check_vector,
    nonfinite_result,
    safe_div,
    safe_norm,
    select,
)

__all__ = ["gltr"]

_SECULAR_MAX_ITER = 100  # Newton steps on the tridiagonal's secular equation


class _State(NamedTuple):
    Q: jax.Array  # (m, n) Lanczos vectors q_0 .. q_k, zero rows after
    q: jax.Array  # q_k
    q_prev: jax.Array  # q_{k-1}
    beta_prev: jax.Array  # beta_{k-1} (0 at k = 0 or after a restart)
    alpha: jax.Array  # (m,) diagonal of T
    beta: jax.Array  # (m,) beta[j] couples q_j and q_{j+1}; 0 at a restart
    anorm: jax.Array  # Gershgorin bound of the T built so far
    k: jax.Array  # Lanczos steps (= matvecs) done
    interior: jax.Array  # still in the interior (CG) phase
    pivot: jax.Array  # pi_{k-1} of T = L D L^T
    xx: jax.Array  # ||x_k||^2 of the CG iterate
    xd: jax.Array  # x_k.d_k
    dd: jax.Array  # ||d_k||^2
    rnorm: jax.Array  # ||r_k||
    status: jax.Array  # -1 while running


def _orthogonalize(Q, v):
    """v minus its projection on the rows of Q: two classical Gram-Schmidt passes, and a
    third when the second removed more than half of the norm (v was rounding noise)."""
    v1 = v - (Q @ v) @ Q
    v2 = v1 - (Q @ v1) @ Q
    noise = jnp.vdot(v2, v2) < 0.25 * jnp.vdot(v1, v1)
    return lax.cond(noise, lambda u: u - (Q @ u) @ Q, lambda u: u, v2)


def _block_sizes(m):
    """The sizes of the leading blocks of T that a boundary step decomposes (the last: m)."""
    sizes, s = [], 8
    while s < m:
        sizes.append(s)
        s *= 4
    return sizes + [m]


def _tridiagonal_solution(alpha, beta, size, gnorm, radius, rtol):
    """Solve the subproblem on the leading ``size`` x ``size`` part of T (padded inert),
    decomposing the smallest block of :func:`_block_sizes` that holds it."""
    m = alpha.shape[0]
    j = jnp.arange(m)
    used = j < size
    off = jnp.where(j < size - 1, beta, 0)
    prev = jnp.concatenate([jnp.zeros((1,), off.dtype), off[:-1]])
    gersh = jnp.max(jnp.where(used, jnp.abs(alpha) + off + prev, 0))
    pad = jnp.where(gersh > 0, 2 * gersh, 1)
    diag = jnp.where(used, alpha, pad)

    def on_block(s):  # eigenpairs of the leading s x s block; the rest is diag(pad) already
        def decompose(_):
            T = jnp.diag(diag[:s]) + jnp.diag(off[:s - 1], 1) + jnp.diag(off[:s - 1], -1)
            w, V = jnp.linalg.eigh(T)
            if s == m:
                return w, V
            # pad sorts last: it exceeds every eigenvalue of the used part (Gershgorin)
            return (jnp.concatenate([w, jnp.full((m - s,), pad, w.dtype)]),
                    jnp.eye(m, dtype=V.dtype).at[:s, :s].set(V))
        return decompose

    sizes = _block_sizes(m)
    if len(sizes) == 1:
        w, V = on_block(m)(None)
    else:
        w, V = lax.switch(jnp.sum(jnp.asarray(sizes[:-1]) < size), [on_block(s) for s in sizes], None)
    c = gnorm * V[0, :]
    sol = solve_eig(w, c, radius, scale=gersh, max_iter=_SECULAR_MAX_ITER, rtol=rtol)
    y = V @ sol.u
    return sol, jnp.where(used, y, 0)


def gltr(
    matvec: Callable[[jax.Array], jax.Array],
    g: jax.Array,
    radius,
    *,
    max_iter: int,
    rtol,
    lanczos_rtol=None,
) -> SubproblemResult:
    """GLTR (Gould, Lucidi, Roma & Toint 1999) for min g.p + p.Bp/2 s.t. ||p|| <= radius.

    Args:
      matvec: v -> B v for a symmetric B (any inertia), on flat vectors of g's shape.
      g: the gradient, shape (n,).
      radius: trust-region radius > 0 (may be traced).
      max_iter: Lanczos steps at most, a Python int >= 1 (the buffer size; capped at n).
      rtol: stop when the residual estimate beta_k |e_k.y_k| (interior phase: the CG
        residual) is <= rtol * ||g|| (may be traced). 0 runs until ``max_iter`` or until
        the Krylov space is the whole space (see the hard case in the module docstring).
      lanczos_rtol: beta_k <= lanczos_rtol * G (G the Gershgorin bound of T) is an
        invariant subspace; default 16 sqrt(n) eps of the dtype (the rounding level of a
        reorthogonalized Lanczos residual; 1.2e-14 for n = 12 in float64).

    Returns:
      :class:`SubproblemResult`; status CONVERGED, MAX_ITER or NONFINITE (a non-finite
      g, radius or product with B: p = 0). See the module docstring for the method.
    """
    g = check_vector(g, "g")
    n = g.shape[0]
    dtype = g.dtype
    radius = check_radius(radius, dtype)
    m = min(check_iterations(max_iter, "max_iter"), n)
    rtol = jnp.asarray(check_tolerance(rtol, "rtol"), dtype)
    eps = jnp.finfo(dtype).eps
    lanczos_rtol = 16 * n**0.5 * float(eps) if lanczos_rtol is None else lanczos_rtol
    lanczos_rtol = jnp.asarray(check_tolerance(lanczos_rtol, "lanczos_rtol"), dtype)
    out_shape = jax.eval_shape(matvec, jax.ShapeDtypeStruct(g.shape, dtype))
    if not isinstance(out_shape, jax.ShapeDtypeStruct) or out_shape.shape != g.shape:
        shape = getattr(out_shape, "shape", out_shape)
        raise ValueError(f"matvec must map a vector of shape {g.shape} to the same shape, got {shape}")

    ok_in = jnp.all(jnp.isfinite(g)) & jnp.isfinite(radius) & (radius > 0)
    g = jnp.where(ok_in, g, 0)
    radius = jnp.where(ok_in, radius, 1)
    r2 = radius * radius
    gnorm = safe_norm(g)
    q0 = safe_div(g, gnorm)
    spare = jax.random.normal(jax.random.PRNGKey(0), (n,), dtype)  # restart directions
    zero = jnp.zeros((), dtype)
    secular_rtol = 4 * eps

    def cond(s: _State):
        return (s.status < 0) & (s.k < m)

    def body(s: _State) -> _State:
        k = s.k
        w = matvec(s.q).astype(dtype)
        finite = jnp.all(jnp.isfinite(w))
        w = jnp.where(finite, w, 0)
        a = jnp.vdot(s.q, w)
        w = _orthogonalize(s.Q, w - a * s.q - s.beta_prev * s.q_prev)
        b = safe_norm(w)
        anorm = jnp.maximum(s.anorm, jnp.abs(a) + b + s.beta_prev)
        breakdown = b <= lanczos_rtol * anorm
        # After an invariant subspace: a fresh direction orthogonal to q_0 .. q_k (the
        # spare vector shifted by k), computed only then.
        def fresh_direction(_):
            fresh = jnp.roll(spare, k)
            u = _orthogonalize(s.Q, fresh)
            norm = safe_norm(u)
            return safe_div(u, norm), (k + 1 < n) & (norm > jnp.sqrt(eps) * safe_norm(fresh))

        q_fresh, can_restart = lax.cond(
            breakdown, fresh_direction, lambda _: (jnp.zeros_like(w), jnp.asarray(False)), None
        )
        b_kept = jnp.where(breakdown, 0, b)
        q_next = jnp.where(breakdown, q_fresh, safe_div(w, b))
        alpha = s.alpha.at[k].set(a)
        beta = s.beta.at[k].set(b_kept)

        # Interior phase: CG quantities from the pivots of T = L D L^T.
        ratio = jnp.where(k > 0, safe_div(s.beta_prev**2, s.pivot), 0)
        piv = a - ratio
        negative = ~(piv > eps * (jnp.abs(a) + ratio))
        a_cg = jnp.where(negative, 0, safe_div(1, piv))
        xx = s.xx + 2 * a_cg * s.xd + a_cg * a_cg * s.dd
        rnorm = s.rnorm * jnp.where(negative, 0, safe_div(b_kept, piv))
        b_cg = jnp.where(negative, 0, safe_div(b_kept, piv) ** 2)
        xd = b_cg * (s.xd + a_cg * s.dd)
        dd = rnorm * rnorm + b_cg * b_cg * s.dd
        leave = negative | (xx >= r2)
        interior = s.interior & ~leave
        interior_done = breakdown | (rnorm <= rtol * gnorm)

        # Boundary phase: the subproblem on T_{k+1}, GLTR's residual estimate.
        def boundary_estimate(_):
            _, y = _tridiagonal_solution(alpha, beta, k + 1, gnorm, radius, secular_rtol)
            return b * jnp.abs(y[k])

        estimate = lax.cond(interior, lambda _: zero, boundary_estimate, None)
        boundary_done = jnp.where(breakdown, ~can_restart, estimate <= rtol * gnorm)
        done = jnp.where(interior, interior_done, boundary_done)
        bad = ~finite | ~jnp.isfinite(a) | ~jnp.isfinite(b)
        status = jnp.where(bad, NONFINITE, jnp.where(done, CONVERGED, -1)).astype(jnp.int32)

        row = jnp.minimum(k + 1, m - 1)
        Q = s.Q.at[row].set(jnp.where(k + 1 < m, q_next, s.Q[row]))
        keep = s.interior  # CG scalars only matter while interior
        return _State(
            Q=Q,
            q=q_next,
            q_prev=s.q,
            beta_prev=b_kept,
            alpha=alpha,
            beta=beta,
            anorm=anorm,
            k=k + 1,
            interior=interior,
            pivot=jnp.where(keep, piv, s.pivot),
            xx=jnp.where(keep, xx, s.xx),
            xd=jnp.where(keep, xd, s.xd),
            dd=jnp.where(keep, dd, s.dd),
            rnorm=jnp.where(keep, rnorm, s.rnorm),
            status=status,
        )

    trivial = (gnorm == 0) | ~ok_in
    init = _State(
        Q=jnp.zeros((m, n), dtype).at[0].set(q0),
        q=q0,
        q_prev=jnp.zeros_like(g),
        beta_prev=zero,
        alpha=jnp.zeros((m,), dtype),
        beta=jnp.zeros((m,), dtype),
        anorm=zero,
        k=jnp.int32(0),
        interior=jnp.asarray(True),
        pivot=jnp.ones((), dtype),
        xx=zero,
        xd=zero,
        dd=gnorm * gnorm,
        rnorm=gnorm,
        status=jnp.where(trivial, CONVERGED, -1).astype(jnp.int32),
    )
    s = while_loop(cond, body, init)

    nonfinite = s.status == NONFINITE
    size = jnp.maximum(s.k, 1)
    alpha = jnp.where(nonfinite, 0, s.alpha)
    beta = jnp.where(nonfinite, 0, s.beta)
    sol, y = _tridiagonal_solution(alpha, beta, size, gnorm, radius, secular_rtol)
    status = jnp.where(s.status < 0, MAX_ITER, s.status).astype(jnp.int32)
    solved = SubproblemResult(
        step=y @ s.Q,
        model_value=sol.model_value,
        boundary=sol.boundary,
        num_matvec=s.k,
        status=status,
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
    out = select(gnorm == 0, at_zero, solved)
    out = select(nonfinite, nonfinite_result(g, s.k), out)
    return select(ok_in, out, nonfinite_result(g, 0))

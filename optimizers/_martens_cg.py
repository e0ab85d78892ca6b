"""Martens' conjugate gradients for the Hessian-free inner solve, and CG backtracking.

``martens_cg`` runs (preconditioned) CG on ``B p = -g`` from a warm start, i.e. it minimizes
the quadratic model ``phi(p) = p.Bp / 2 + g.p``, and stops by Martens' relative-progress
rule (Martens 2010, Sec. 4.4): at iteration ``i > k``, with ``k = max(k_min, ceil(k_frac i))``,

    phi_i < 0   and   (phi_i - phi_{i-k}) / phi_i < k * eps.

It keeps the iterates of iterations ``ceil(r^j)`` (``r = 1.3`` by default; Martens 2010,
Sec. 4.6) and the final iterate in a fixed-size buffer, so ``cg_backtrack`` can pick the
stored iterate with the best true objective ``f(x + p_j)``.

Everything is one ``lax.while_loop`` over flat 1-D vectors with fixed shapes: jit- and
vmap-compatible. ``phi`` is tracked from the residual, ``phi = (g - r).p / 2`` with
``r = -g - Bp``, so it costs no extra product with ``B``.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optimizers._krylov import _check_vector, _nonpositive_curvature, _safe_div
from optimizers._loops import while_loop

__all__ = [
    "MARTENS_CG_STATUS",
    "MartensCGResult",
    "CGBacktrackResult",
    "cg_backtrack",
    "martens_cg",
    "martens_preconditioner",
    "save_schedule",
]

PROGRESS, RESIDUAL, MAX_ITER, NEGATIVE_CURVATURE = 0, 1, 2, 3

#: Meaning of ``MartensCGResult.status``.
MARTENS_CG_STATUS = {
    PROGRESS: "relative progress in phi fell below k * eps (Martens' rule)",
    RESIDUAL: "residual norm <= tol * ||g||",
    MAX_ITER: "iteration cap reached",
    NEGATIVE_CURVATURE: "non-positive curvature direction found; last iterate returned",
}


class MartensCGResult(NamedTuple):
    """Result of :func:`martens_cg`.

    x: the final iterate. phi: ``x.Bx / 2 + g.x`` there. num_iters: CG iterations taken
    (int32). num_matvec: products with ``B`` made, the warm start's initial residual
    included (int32). status: see ``MARTENS_CG_STATUS``. saved_x (S, n), saved_phi (S,),
    saved_sq_norm (S,) = ||x_j||^2, saved_iter (S,) int32: the iterates kept for
    backtracking, in increasing iteration order, ``saved_iter = -1`` in unused slots;
    the final iterate is always the last used slot. num_saved: used slots (int32).
    """

    x: jax.Array
    phi: jax.Array
    num_iters: jax.Array
    num_matvec: jax.Array
    status: jax.Array
    saved_x: jax.Array
    saved_phi: jax.Array
    saved_sq_norm: jax.Array
    saved_iter: jax.Array
    num_saved: jax.Array


def save_schedule(max_iter: int, ratio: float = 1.3) -> np.ndarray:
    """Iterations whose CG iterate is kept: the distinct ``ceil(ratio^j) <= max_iter``, j >= 0."""
    if not ratio > 1:
        raise ValueError(f"save_ratio must be > 1, got {ratio!r}")
    its, j = set(), 0
    while True:
        i = math.ceil(ratio**j - 1e-9)
        if i > max_iter:
            break
        its.add(max(i, 1))
        j += 1
    return np.array(sorted(its), dtype=np.int32)


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def martens_cg(
    matvec: Callable[[jax.Array], jax.Array],
    g: jax.Array,
    x0: jax.Array | None = None,
    *,
    max_iter: int = 250,
    eps: float = 5e-4,
    k_min: int = 10,
    k_frac: float = 0.1,
    tol: float = 1e-10,
    precond: jax.Array | None = None,
    save_ratio: float = 1.3,
) -> MartensCGResult:
    """Preconditioned CG on ``B p = -g`` with Martens' stopping rule (Martens 2010, Sec. 4).

    ``matvec(v) = B v`` (the damped curvature, positive definite when all goes well).
    ``x0`` is the warm start (Martens uses 0.95 x the previous solution; it costs one
    product for the initial residual); None starts at 0 at no cost. ``precond`` is the
    diagonal ``M`` of the preconditioner (CG then works with ``M^-1 r``), e.g. from
    :func:`martens_preconditioner`. Stops on (status) Martens' relative-progress rule (0),
    ``||r|| <= tol ||g||`` (1), ``max_iter`` iterations (2), or a direction ``d`` with
    non-positive curvature ``d.Bd <= eps_mach ||d|| ||Bd||`` (3; the current iterate is
    returned, as Martens' rule has no use for it: the Gauss-Newton matrix plus damping is
    positive definite, so this only happens with Hessian curvature).
    """
    g = _check_vector(g, "g")
    max_iter = _check_positive_int(max_iter, "max_iter")
    k_min = _check_positive_int(k_min, "k_min")
    for name, value in (("eps", eps), ("k_frac", k_frac), ("tol", tol)):
        if isinstance(value, (int, float)) and not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
    n, dtype = g.shape[0], g.dtype
    if precond is None:
        inv_m = jnp.ones((n,), dtype)
    else:
        precond = _check_vector(precond, "precond")
        if precond.shape != g.shape:
            raise ValueError(f"precond must have the shape of g {g.shape}, got {precond.shape}")
        inv_m = 1.0 / precond.astype(dtype)

    schedule = save_schedule(max_iter, save_ratio)
    num_slots = len(schedule) + 1
    slot_of = np.full(max_iter + 1, -1, np.int32)
    slot_of[schedule] = np.arange(len(schedule), dtype=np.int32)
    slot_of = jnp.asarray(slot_of)

    if x0 is None:
        x = jnp.zeros_like(g)
        r = -g
        nmv0 = 0
    else:
        x0 = _check_vector(x0, "x0")
        if x0.shape != g.shape:
            raise ValueError(f"x0 must have the shape of g {g.shape}, got {x0.shape}")
        x = x0.astype(dtype)
        r = -g - matvec(x)
        nmv0 = 1
    z = inv_m * r
    rz = jnp.vdot(r, z)
    phi = 0.5 * jnp.vdot(g - r, x)
    gg = jnp.vdot(g, g)
    tol2 = jnp.asarray(tol, dtype) ** 2 * gg
    status0 = jnp.where(jnp.vdot(r, r) <= tol2, RESIDUAL, -1).astype(jnp.int32)
    phis = jnp.zeros((max_iter + 1,), dtype).at[0].set(phi)

    saved_x = jnp.zeros((num_slots, n), dtype)
    saved_phi = jnp.zeros((num_slots,), dtype)
    saved_sq = jnp.zeros((num_slots,), dtype)
    saved_iter = jnp.full((num_slots,), -1, jnp.int32)
    eps_c = jnp.asarray(eps, dtype)
    k_frac_c = jnp.asarray(k_frac, dtype)

    def cond(s):
        i, status = s[0], s[7]
        return (status < 0) & (i < max_iter)

    def body(s):
        i, x, r, d, rz, phi, phis, status, nmv, sx, sp, ss, si, ns = s
        Bd = matvec(d)
        curv = jnp.vdot(d, Bd)
        neg = _nonpositive_curvature(curv, d, Bd)
        alpha = _safe_div(rz, curv)
        x_new = x + alpha * d
        r_new = r - alpha * Bd
        z_new = inv_m * r_new
        rz_new = jnp.vdot(r_new, z_new)
        d_new = z_new + _safe_div(rz_new, rz) * d
        phi_new = 0.5 * jnp.vdot(g - r_new, x_new)
        i_new = i + 1
        phis_new = phis.at[i_new].set(phi_new)
        k = jnp.maximum(k_min, jnp.ceil(k_frac_c * i_new).astype(jnp.int32))
        phi_back = phis_new[jnp.maximum(i_new - k, 0)]
        # (phi_i - phi_{i-k}) / phi_i < k eps, multiplied through by phi_i < 0.
        progress = (
            (i_new > k)
            & (phi_new < 0)
            & ((phi_new - phi_back) > k.astype(dtype) * eps_c * phi_new)
        )
        new_status = jnp.where(
            progress, PROGRESS, jnp.where(jnp.vdot(r_new, r_new) <= tol2, RESIDUAL, -1)
        )
        slot = slot_of[i_new]
        save = (slot >= 0) & ~neg
        slot_c = jnp.maximum(slot, 0)
        sx = jnp.where(save, sx.at[slot_c].set(x_new), sx)
        sp = jnp.where(save, sp.at[slot_c].set(phi_new), sp)
        ss = jnp.where(save, ss.at[slot_c].set(jnp.vdot(x_new, x_new)), ss)
        si = jnp.where(save, si.at[slot_c].set(i_new), si)
        ns = jnp.where(save, slot_c + 1, ns)

        def pick(a, b):
            return jnp.where(neg, a, b)

        return (
            pick(i, i_new),
            pick(x, x_new),
            pick(r, r_new),
            pick(d, d_new),
            pick(rz, rz_new),
            pick(phi, phi_new),
            pick(phis, phis_new),
            pick(NEGATIVE_CURVATURE, new_status).astype(jnp.int32),
            nmv + 1,
            sx,
            sp,
            ss,
            si,
            ns,
        )

    init = (
        jnp.int32(0), x, r, z, rz, phi, phis, status0, jnp.int32(nmv0),
        saved_x, saved_phi, saved_sq, saved_iter, jnp.int32(0),
    )
    i, x, _, _, _, phi, _, status, nmv, sx, sp, ss, si, ns = while_loop(cond, body, init)
    status = jnp.where(status < 0, MAX_ITER, status).astype(jnp.int32)
    # The final iterate goes in the next free slot unless it is already the last one saved.
    already = (ns > 0) & (si[jnp.maximum(ns - 1, 0)] == i)
    slot = jnp.where(already, ns - 1, ns)
    sx = sx.at[slot].set(x)
    sp = sp.at[slot].set(phi)
    ss = ss.at[slot].set(jnp.vdot(x, x))
    si = si.at[slot].set(i)
    return MartensCGResult(
        x=x, phi=phi, num_iters=i, num_matvec=nmv, status=status,
        saved_x=sx, saved_phi=sp, saved_sq_norm=ss, saved_iter=si, num_saved=slot + 1,
    )


class CGBacktrackResult(NamedTuple):
    """Result of :func:`cg_backtrack`: the chosen slot ``index``, its step ``p``, its
    ``f = fun(x + p)``, and ``nfev`` objective evaluations made (int32)."""

    index: jax.Array
    p: jax.Array
    f: jax.Array
    nfev: jax.Array


def cg_backtrack(
    fun: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    cg: MartensCGResult,
    *,
    exhaustive: bool = False,
) -> CGBacktrackResult:
    """CG backtracking (Martens 2010, Sec. 4.6): choose the stored CG iterate p_j minimizing f(x + p_j).

    Walks back from the final iterate. By default (Martens' rule) it stops at the first
    stored iterate whose objective is not lower than the one after it, so it usually costs
    1-2 evaluations; ``exhaustive=True`` evaluates every stored iterate and takes the
    best. A non-finite objective counts as +inf. Each evaluation is counted in ``nfev``.
    """

    def value(p):
        f = jnp.reshape(fun(x + p), ())
        return jnp.where(jnp.isfinite(f), f, jnp.inf)

    last = cg.num_saved - 1
    f_last = value(cg.saved_x[last])

    def cond(s):
        j, _, _, nfev, go = s
        return go & (j > 0)

    def body(s):
        j, best_j, best_f, nfev, _ = s
        f_j = value(cg.saved_x[j - 1])
        better = f_j < best_f
        go = better | exhaustive
        return (
            j - 1,
            jnp.where(better, j - 1, best_j),
            jnp.where(better, f_j, best_f),
            nfev + 1,
            go,
        )

    init = (last, last, f_last, jnp.int32(1), jnp.asarray(True))
    _, best_j, best_f, nfev, _ = while_loop(cond, body, init)
    return CGBacktrackResult(index=best_j, p=cg.saved_x[best_j], f=best_f, nfev=nfev)


def martens_preconditioner(per_example_grads: jax.Array, damping, exponent: float = 0.75) -> jax.Array:
    """Diagonal preconditioner M = (diag(sum_i g_i g_i^T) + lambda)^0.75 (Martens 2010, Sec. 4.7).

    ``per_example_grads`` is (m, n): one flat gradient per example (of the summed loss;
    for a mean loss, scale them by 1/m first, as the diagonal must match B's scale).
    """
    per_example_grads = jnp.asarray(per_example_grads)
    if per_example_grads.ndim != 2:
        raise ValueError(
            f"per_example_grads must be an (examples, parameters) matrix, got shape "
            f"{per_example_grads.shape}"
        )
    if isinstance(damping, (int, float)) and damping < 0:
        raise ValueError(f"damping must be >= 0, got {damping!r}")
    diag = jnp.sum(per_example_grads * per_example_grads, axis=0)
    return (diag + damping) ** exponent

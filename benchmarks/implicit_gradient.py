"""Implicit gradients of a solution against differentiating through unrolled iterations.

    python benchmarks/implicit_gradient.py            # n = 1e5 parameters, k = 4 hyperparameters
    python benchmarks/implicit_gradient.py --quick    # n = 1e4, a smoke run

The problem, ridge regression with a difference operator (Tikhonov smoothing of a noisy
signal y, a weight exp(theta_b) on each of k blocks of w):

    f(w, theta) = ||D w||^2 / 2 + sum_b exp(theta_b) ||w_b - y_b||^2 / 2,   (D w)_i = w_{i+1} - w_i

with H = D^T D + diag(exp(theta)) (eigenvalues in [min exp(theta), 4 + max exp(theta)]),
and the hyper-gradient of the validation loss V(theta) = ||w*(theta) - y_clean||^2 / 2.

Rows (all float64, jitted; seconds are medians of timed calls after a compiling call):

- solve: ``optimizers.minimize(..., "newton-cg")`` on a closure over the concrete theta,
  the solution every implicit row starts from (not part of their cost).
- implicit grad: ``jax.grad`` of V(attach_implicit_gradient(f, w*, (theta,))): one CG
  solve with the cotangent dV/dw as right-hand side, plus one VJP in theta.
- implicit jacfwd: ``jax.jacfwd`` of the same, k forward solves.
- unrolled CG / unrolled GD: ``jax.jacfwd`` of V(w_T(theta)), w_T after T iterations of CG
  (or gradient descent with step 1 / L, L = 4 + max exp(theta)) from 0 with a fixed trip
  count (``lax.fori_loop``), so forward mode carries k tangents through every iteration.

HVPs: the Hessian-vector products each row makes. For the implicit rows, the iterations of
the very same CG (``optimizers._krylov.truncated_cg`` on the same right-hand side, tolerance
and cap), counted on the host. For the unrolled rows, T iterations of one primal HVP (one
gradient for GD) plus k tangent HVPs each, counted as T (1 + k). error: the relative
max-norm error of the hyper-gradient against the implicit one at tol = 1e-13.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

# This file is named like a package module: drop its folder from the path, add the repo root.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

import optimizers  # noqa: E402
from benchmarks.curvature import median_times  # noqa: E402
from optimizers._implicit import attach_implicit_gradient, default_tol  # noqa: E402
from optimizers._krylov import truncated_cg  # noqa: E402


def problem(n: int, k: int, seed: int = 0):
    """(y, y_clean, theta): a smooth periodic signal, the same plus noise, k log-weights."""
    t = jnp.linspace(0, 2 * jnp.pi, n, endpoint=False)
    clean = jnp.sin(3 * t) + 0.5 * jnp.cos(7 * t)
    y = clean + 0.3 * jax.random.normal(jax.random.PRNGKey(seed), (n,))
    theta = jnp.log(jnp.geomspace(0.05, 0.2, k))
    return y, clean, theta


def objective(w, theta, y):
    k = theta.shape[0]
    dw = jnp.roll(w, -1) - w
    blocks = jnp.reshape(w - y, (k, -1))
    return 0.5 * jnp.vdot(dw, dw) + 0.5 * jnp.sum(jnp.exp(theta) * jnp.sum(blocks * blocks, axis=1))


def validation(w, clean):
    return 0.5 * jnp.sum((w - clean) ** 2)


def hvp_at(w, theta, y):
    return jax.linearize(jax.grad(lambda v: objective(v, theta, y)), w)[1]


def unrolled_cg(theta, y, iters):
    """w_T of CG on H(theta) w = -grad f(0, theta) from 0, T = iters (fixed trip count)."""
    w0 = jnp.zeros_like(y)
    b = -jax.grad(objective)(w0, theta, y)
    matvec = hvp_at(w0, theta, y)  # f is quadratic: H does not depend on w

    def body(_, c):
        w, r, p, rr = c
        Ap = matvec(p)
        alpha = rr / jnp.vdot(p, Ap)
        w, r = w + alpha * p, r - alpha * Ap
        rr_new = jnp.vdot(r, r)
        return w, r, r + (rr_new / rr) * p, rr_new

    return lax.fori_loop(0, iters, body, (w0, b, b, jnp.vdot(b, b)))[0]


def unrolled_gd(theta, y, iters):
    step = 1.0 / (4.0 + jnp.max(jnp.exp(theta)))
    grad = jax.grad(objective)
    return lax.fori_loop(0, iters, lambda _, w: w - step * grad(w, theta, y), jnp.zeros_like(y))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 1e4 instead of 1e5")
    ap.add_argument("--k", type=int, default=4, help="number of hyperparameters (blocks)")
    ap.add_argument("--gd-iters", type=int, default=1000, help="T of the unrolled gradient descent")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    n, k = (10_000 if args.quick else 100_000), args.k
    y, clean, theta = problem(n, k)
    tol = default_tol(jnp.float64)
    lam = np.exp(np.asarray(theta))
    print(f"n = {n}, k = {k}, cond(H) <= {(4 + lam.max()) / lam.min():.0f}, CG tol = {tol:.1e}, "
          f"{jax.devices()[0].platform}")

    def fixed(w):  # theta and y concrete: nothing traced reaches the solver
        return objective(w, theta, y)

    solve = jax.jit(lambda w0: optimizers.minimize(fixed, w0, "newton-cg", gtol=1e-10))
    res = solve(jnp.zeros(n))
    assert bool(res.success), res.message
    w_star = res.x

    def hyper(theta, tol=tol):
        return validation(attach_implicit_gradient(objective, w_star, (theta, y), tol=tol), clean)

    implicit_grad = jax.jit(jax.grad(hyper))
    implicit_fwd = jax.jit(jax.jacfwd(hyper))
    reference = np.asarray(jax.jit(jax.grad(functools.partial(hyper, tol=1e-13)))(theta))

    # The implicit rows' HVPs: the same CG, run on its own (reverse: rhs dV/dw; forward:
    # rhs -d_theta grad f along each basis tangent).
    matvec = hvp_at(w_star, theta, y)
    cap = 10 * n
    rev_iters = int(truncated_cg(matvec, jax.grad(validation)(w_star, clean), rtol=tol, max_iter=cap).iters)
    fwd_iters = 0
    for e in np.eye(k):
        b = jax.jvp(lambda t: jax.grad(objective)(w_star, t, y), (theta,), (jnp.asarray(e),))[1]
        fwd_iters += int(truncated_cg(matvec, -b, rtol=tol, max_iter=cap).iters)
    cg_iters = rev_iters  # unrolled CG gets as many iterations as the reverse solve took

    rows = [
        ("solve (newton-cg, not in the costs below)", solve, (jnp.zeros(n),), int(res.nhvp), None),
        ("implicit grad (1 CG solve)", implicit_grad, (theta,), rev_iters, implicit_grad),
        (f"implicit jacfwd ({k} CG solves)", implicit_fwd, (theta,), fwd_iters, implicit_fwd),
    ]
    for name, T, inner in ((f"unrolled CG jacfwd, T = {cg_iters}", cg_iters, unrolled_cg),
                           (f"unrolled CG jacfwd, T = {cg_iters // 2}", cg_iters // 2, unrolled_cg),
                           (f"unrolled GD jacfwd, T = {args.gd_iters}", args.gd_iters, unrolled_gd)):
        fn = jax.jit(jax.jacfwd(functools.partial(lambda t, T, inner: validation(inner(t, y, T), clean),
                                                  T=T, inner=inner)))
        rows.append((name, fn, (theta,), T * (1 + k), fn))

    seconds = median_times([(fn, a) for _, fn, a, _, _ in rows], repeats=args.repeats, min_batch_s=0.0)
    print(f"{'row':44s} {'HVPs':>7s} {'seconds':>9s} {'error':>9s}")
    for (name, fn, a, hvps, grad_fn), s in zip(rows, seconds):
        if grad_fn is None:
            err = ""
        else:
            g = np.asarray(grad_fn(*a))
            err = f"{np.max(np.abs(g - reference)) / np.max(np.abs(reference)):9.1e}"
        print(f"{name:44s} {hvps:7d} {s:9.3f} {err:>9s}")


if __name__ == "__main__":
    main()

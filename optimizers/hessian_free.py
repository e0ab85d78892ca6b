"""Hessian-free optimization (Martens 2010; Martens & Sutskever 2012), method ``hessian-free``.

One iteration from x with gradient g:

1. B = C + lambda I, with C the Gauss-Newton matrix J^T H_L J (``curvature='ggn'``: a
   model/loss split or a residual is given) or the Hessian; products only
   (``curvature.ggn_operator`` / ``curvature.hessian_operator``).
2. CG on B p = -g (``martens_cg``) from the warm start ``cg_decay * p_prev`` (p_prev the
   previous final CG iterate), stopped by Martens' relative-progress rule or the cap,
   optionally preconditioned by M = (diag(sum_i g_i^2) + lambda)^0.75 from per-example
   gradients g_i (``per_example_grads``).
3. CG backtracking: the stored iterate p_j with the lowest f(x + p_j) (``cg_backtrack``).
4. rho = (f(x + p) - f(x)) / (q(p) - q(0)) with the undamped model q(p) = g.p + p.Cp / 2
   (from CG's damped model value, no extra product), then lambda *= 3/2 if rho < 1/4,
   lambda *= 2/3 if rho > 3/4 (``update_damping``).
5. Armijo backtracking on t p (c1 = 1e-2, t <- 0.8 t; Martens & Sutskever 2012, Sec. 8.8):
   t = 1 is accepted on the value already known; a failure leaves x in place, and
   ``max_failures`` failures in a row stop the run (status NO_PROGRESS).

In an optax chain g is the incoming updates in steps 2 and 4's model (the ratio then uses
the model with f's own gradient, and step 5 tests f's slope); see optimizers/_transforms.py.

As an optax transform (``hessian_free()``), ``update(..., value_fn=loss, batch=b,
curvature_batch=c)`` computes the curvature products on ``c`` (usually a smaller batch,
Martens 2010, Sec. 4.3) and everything else on ``b``: the split functions are then called
as ``model_fn(params, batch=c)`` / ``loss_fn(outputs, batch=c)``, so a curvature batch needs
the Gauss-Newton split (the Hessian of ``value_fn`` is only reachable on ``b``).

Counters: every curvature product is one ``nhvp`` (the warm start's initial residual
included); the gradient at the new point and a call of ``per_example_grads`` are one
gradient evaluation each; every f is one ``nfev``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from optimizers._curvature_split import SPLIT_OPTIONS, check_split, curvature_operator, use_ggn
from optimizers._martens_cg import cg_backtrack, martens_cg, martens_preconditioner, save_schedule
from optimizers._method import Iterate, Method
from optimizers._options import choice, function, integer, real
from optimizers._step_length import backtracking
from optimizers._transforms import transform
from optimizers._trust_region import model_change_of_f, reduction_ratio, update_damping

__all__ = ["HESSIAN_FREE", "HFState", "hessian_free"]

_CURVATURE_BATCH = "curvature_batch"


class HFState(NamedTuple):
    """damping: current lambda. p_prev: the last final CG iterate (warm start source).
    failures: int32 failed steps in a row. rho: the last reduction ratio. cg_iters: int32
    CG iterations of the last solve."""

    damping: jax.Array
    p_prev: jax.Array
    failures: jax.Array
    rho: jax.Array
    cg_iters: jax.Array


OPTIONS = {
    **SPLIT_OPTIONS,
    "damping": real(1.0, "initial Levenberg-Marquardt damping lambda (B = C + lambda I)", 0.0,
                    lo_closed=True),
    "damping_increase": real(1.5, "lambda factor when rho < 1/4", 1.0, lo_closed=True),
    "damping_decrease": real(2.0 / 3.0, "lambda factor when rho > 3/4", 0.0, 1.0, hi_closed=True),
    "min_damping": real(0.0, "lower bound on lambda", 0.0, lo_closed=True),
    "cg_max_iter": integer(250, "most CG iterations per solve", 1),
    "cg_eps": real(5e-4, "epsilon of Martens' relative-progress rule", 0.0, lo_closed=True),
    "cg_min_gap": integer(10, "k_min of Martens' rule, k = max(k_min, ceil(0.1 i))", 1),
    "cg_tol": real(1e-10, "CG also stops when ||B p + g|| <= cg_tol ||g||", 0.0, lo_closed=True),
    "cg_decay": real(0.95, "warm start: CG starts from cg_decay * the previous CG solution",
                     0.0, 1.0, lo_closed=True, hi_closed=True),
    "cg_backtrack": choice("martens", "which stored CG iterate to use: 'martens' (walk back "
                           "while f improves), 'best' (evaluate all), 'none' (the last)",
                           "martens", "best", "none"),
    "per_example_grads": function("per_example_grads(params) -> per-example gradients, each "
                                  "leaf with a leading examples axis (for the diagonal "
                                  "preconditioner); None: no preconditioner"),
    "ls_c1": real(1e-2, "Armijo constant of the final backtracking", 0.0, 1.0),
    "ls_shrink": real(0.8, "step factor of the final backtracking", 0.0, 1.0),
    "ls_max_iter": integer(60, "most trial steps of the final backtracking", 1),
    "max_failures": integer(10, "failed steps in a row before stopping (NO_PROGRESS)", 1),
}


def _init(x, opts) -> HFState:
    return HFState(
        damping=jnp.asarray(opts["damping"], x.dtype),
        p_prev=jnp.zeros_like(x),
        failures=jnp.zeros((), jnp.int32),
        rho=jnp.full((), jnp.nan, x.dtype),
        cg_iters=jnp.zeros((), jnp.int32),
    )


def _preconditioner(objective, x, damping, opts):
    fn = opts["per_example_grads"]
    if fn is None:
        return None
    tree = fn(objective.unravel(x), **objective.extra)
    rows = jax.vmap(objective.ravel)(tree)
    if rows.ndim != 2 or rows.shape[1] != x.size:
        raise ValueError(
            f"per_example_grads must return the parameters' structure with a leading examples "
            f"axis ({x.size} parameters per example), got rows of shape {rows.shape}"
        )
    return martens_preconditioner(rows.astype(x.dtype), damping)


def _curvature_objective(objective, opts):
    """The objective whose ``extra`` the curvature products use: the gradient batch, or the
    curvature batch of the optax path in place of ``batch``."""
    extra = dict(objective.extra)
    if _CURVATURE_BATCH not in extra:
        return objective, objective
    cbatch = extra.pop(_CURVATURE_BATCH)
    plain = objective._replace(extra=extra)
    if not use_ggn(opts):
        raise ValueError(
            "hessian-free: a curvature_batch needs the Gauss-Newton split (model_fn= and "
            "loss_fn=, or residual=, each taking batch=...); the Hessian curvature only sees "
            "value_fn on the gradient batch. Drop curvature_batch or pass the split."
        )
    if "batch" not in extra:
        raise ValueError("hessian-free: curvature_batch replaces the batch= argument of update; "
                         "pass the gradient batch as batch=...")
    return plain, objective._replace(extra={**extra, "batch": cbatch})


def _step(objective, it: Iterate, state: HFState, opts):
    x, f, g, u = it.x, it.f, it.g, it.linear  # u: the right-hand side (module docstring)
    lam = state.damping
    objective, curv_objective = _curvature_objective(objective, opts)
    curv = curvature_operator(curv_objective, x, opts).matvec
    precond = _preconditioner(objective, x, lam, opts)
    cg = martens_cg(
        lambda v: curv(v) + lam * v, u, opts["cg_decay"] * state.p_prev,
        max_iter=opts["cg_max_iter"], eps=opts["cg_eps"], k_min=opts["cg_min_gap"],
        tol=opts["cg_tol"], precond=precond,
    )
    if opts["cg_backtrack"] == "none":
        j = cg.num_saved - 1
        f_p = objective.value(x + cg.saved_x[j])
        nfev_bt = jnp.int32(1)
    else:
        bt = cg_backtrack(objective.value, x, cg, exhaustive=opts["cg_backtrack"] == "best")
        j, f_p, nfev_bt = bt.index, bt.f, bt.nfev
    p = cg.saved_x[j]
    # Undamped model decrease q(p) - q(0) = phi_damped(p) - lambda ||p||^2 / 2, then as the
    # model of f (its linear term g, where CG's was u).
    model_decrease = model_change_of_f(it, p, cg.saved_phi[j] - 0.5 * lam * cg.saved_sq_norm[j])
    rho = reduction_ratio(f, f_p, model_decrease)
    lam_new = update_damping(lam, rho, increase=opts["damping_increase"],
                             decrease=opts["damping_decrease"], min_damping=opts["min_damping"])

    dp0 = jnp.vdot(g, p)
    c1, shrink = opts["ls_c1"], opts["ls_shrink"]
    unit_ok = jnp.isfinite(f_p) & (dp0 < 0) & (f_p <= f + c1 * dp0)

    def accept_unit(_):
        return x + p, f_p, objective.grad(x + p), jnp.int32(0), jnp.int32(1), jnp.asarray(True)

    def search(_):
        ls = backtracking(objective.value, objective.grad, x, f, g, p, init_step=shrink,
                          c1=c1, shrink=shrink, max_iter=opts["ls_max_iter"] - 1,
                          interpolate=False)
        return ls.x, ls.f, ls.g, ls.nfev, ls.ngev, ls.decrease

    x_new, f_new, g_new, nfev_ls, ngev_ls, decrease = lax.cond(unit_ok, accept_unit, search, None)
    failures = jnp.where(decrease, 0, state.failures + 1).astype(jnp.int32)
    ngev = ngev_ls + (0 if opts["per_example_grads"] is None else 1)
    new = it._replace(x=x_new, f=f_new, g=g_new, stalled=failures >= opts["max_failures"])
    new = new.counted(nfev=nfev_bt + nfev_ls, ngev=ngev, nhvp=cg.num_matvec)
    return new, HFState(lam_new, cg.x, failures, rho, cg.num_iters)


def _validate(opts) -> None:
    check_split(opts, "hessian-free")


def _workspace(n: int, opts) -> int:
    """The stored CG iterates (one row per saved iteration, plus the last) and the int32
    iteration -> slot table of length cg_max_iter + 1 (counted as half a float each)."""
    cap = opts["cg_max_iter"]
    return (len(save_schedule(min(cap, 2**31 - 1))) + 1) * n + (cap + 1) // 2


HESSIAN_FREE = Method(
    name="hessian-free",
    init=_init,
    step=_step,
    options=OPTIONS,
    doc="Hessian-free (Martens 2010): damped Gauss-Newton/Hessian CG with warm start, "
        "Martens' stopping rule, CG backtracking and Levenberg-Marquardt damping",
    validate=_validate,
    workspace=_workspace,
)


def _drop_curvature_batch(value_fn):
    def value(params, *args, **kwargs):
        kwargs.pop(_CURVATURE_BATCH, None)
        return value_fn(params, *args, **kwargs)

    return value


def hessian_free(**options) -> optax.GradientTransformationExtraArgs:
    """Hessian-free (``minimize(method="hessian-free")``) as an optax transform.

    ``opt.update(grads, state, params, value=loss, grad=grads, value_fn=loss_fn, batch=b,
    curvature_batch=c)``: ``value_fn(params, batch=b)``; with the split options the
    curvature products use ``model_fn(params, batch=c)`` and ``loss_fn(outputs, batch=c)``
    (``c`` defaults to ``b``). The damping and the warm start live in the state, across
    batches. Options: ``optimizers.method_options("hessian-free")``.
    """

    base = transform(HESSIAN_FREE, **options)

    def update(updates, state, params=None, *, value_fn=None, curvature_batch=None, **extra):
        if curvature_batch is not None:
            extra[_CURVATURE_BATCH] = curvature_batch
            if value_fn is not None:
                value_fn = _drop_curvature_batch(value_fn)
        return base.update(updates, state, params, value_fn=value_fn, **extra)

    return optax.GradientTransformationExtraArgs(base.init, update)

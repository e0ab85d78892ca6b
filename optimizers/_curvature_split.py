"""The model/loss split options of the Gauss-Newton methods, and the curvature operator they select.

With ``model_fn``/``loss_fn`` (``fun(x) == loss_fn(model_fn(x))``) or ``residual``
(``fun(x) == sum(residual(x)**2)``) the curvature is the generalized Gauss-Newton matrix
G = J^T H_L J (Schraudolph 2002; Martens 2010), as ``curvature.ggn_operator``; otherwise
the Hessian, as ``curvature.hessian_operator``. Each product re-linearizes the model at the
same point; XLA hoists that loop-invariant work out of the CG loop (measured in
benchmarks/second_order_nets.py: the product costs the same as with ``jax.linearize``
done once), so one product counts as one ``nhvp`` and nothing else.
"""

from __future__ import annotations

import jax.numpy as jnp

import curvature
from optimizers._options import choice, function

__all__ = ["SPLIT_FUNCTIONS", "SPLIT_OPTIONS", "check_split", "curvature_operator", "split_functions", "use_ggn"]

#: The functions that describe the problem, not the method: a caller that knows the
#: problem (``least_squares``, the experiment runner) passes them; a config file never sets them.
SPLIT_FUNCTIONS = ("model_fn", "loss_fn", "residual")

#: Options naming the model/loss split and the curvature, shared by the methods that use it.
SPLIT_OPTIONS = {
    "curvature": choice(
        "auto",
        "curvature matrix: 'ggn' (Gauss-Newton, needs model_fn/loss_fn or residual), "
        "'hessian', or 'auto' (ggn when a split is given, else hessian)",
        "auto", "ggn", "hessian",
    ),
    "model_fn": function("model_fn(params) -> outputs, with fun(params) == loss_fn(model_fn(params))"),
    "loss_fn": function("loss_fn(outputs) -> scalar, convex in the outputs for a PSD Gauss-Newton matrix"),
    "residual": function("residual(params) -> vector r with fun(params) == sum(r**2)"),
}

_SPLIT_HELP = (
    "pass model_fn= and loss_fn= (with fun(x) == loss_fn(model_fn(x))) or residual= "
    "(with fun(x) == sum(residual(x)**2))"
)


def split_functions(accepted, *, model_fn=None, loss_fn=None, residual=None) -> dict:
    """The split functions to pass to a method whose options are ``accepted``: the model/loss
    split when the method takes it and both are given (preferred: its loss need not be a sum
    of squares), else the residual when the method takes one and it is given, else none."""
    if {"model_fn", "loss_fn"} <= set(accepted) and model_fn is not None and loss_fn is not None:
        return {"model_fn": model_fn, "loss_fn": loss_fn}
    if "residual" in accepted and residual is not None:
        return {"residual": residual}
    return {}


def check_split(opts, method: str | None, *, ggn_only: bool = False) -> None:
    """Cross-option checks of the split; ValueError saying what to pass.

    ``method``: the name the messages start with, or None to leave that to the caller
    (``resolve`` prefixes the method being resolved: a direction shared by several methods
    does not know which one it is in). ``ggn_only``: the method has no ``curvature`` option
    (gauss-newton, levenberg-marquardt), so the message does not offer ``curvature='hessian'``.
    """
    where = "" if method is None else f"method {method!r}: "
    has_model, has_loss, has_res = (opts[k] is not None for k in SPLIT_FUNCTIONS)
    if has_model != has_loss:
        given, missing = ("model_fn", "loss_fn") if has_model else ("loss_fn", "model_fn")
        raise ValueError(f"{where}{given} was given without {missing}; {_SPLIT_HELP}")
    if has_res and has_model:
        raise ValueError(f"{where}give either residual= or model_fn=/loss_fn=, not both")
    if ggn_only and not (has_model or has_res):
        raise ValueError(f"{where}the Gauss-Newton matrix needs the model/loss split: {_SPLIT_HELP}; "
                         "optimizers.least_squares(residual, x0, method=...) passes residual itself")
    if opts["curvature"] == "ggn" and not (has_model or has_res):
        raise ValueError(
            f"{where}curvature='ggn' needs the model/loss split: {_SPLIT_HELP}; "
            "or use curvature='hessian'"
        )


def use_ggn(opts) -> bool:
    """Whether the options select the Gauss-Newton matrix (curvature 'ggn', or 'auto' with a split)."""
    split = opts["residual"] is not None or opts["model_fn"] is not None
    return opts["curvature"] == "ggn" or (opts["curvature"] == "auto" and split)


def _sum_of_squares(r):
    return jnp.sum(r * r)


def curvature_operator(objective, x, opts) -> curvature.LinearOperator:
    """G(x) (when ``use_ggn(opts)``) or H(x) as an operator on flat vectors.

    Split functions are called as ``fn(params, **objective.extra)`` (the optax path hands a
    batch through ``extra``). A ``model_fn`` whose output ``loss_fn`` cannot take raises
    ``curvature.ggn_operator``'s ValueError naming the output shape and the loss's error.
    """
    if not use_ggn(opts):
        return curvature.hessian_operator(objective.value, x)
    extra, unravel = objective.extra, objective.unravel
    if opts["residual"] is not None:
        residual = opts["residual"]
        return curvature.ggn_operator(lambda z: residual(unravel(z), **extra), _sum_of_squares, x)
    model_fn, loss_fn = opts["model_fn"], opts["loss_fn"]
    return curvature.ggn_operator(lambda z: model_fn(unravel(z), **extra),
                                  lambda out: loss_fn(out, **extra), x)

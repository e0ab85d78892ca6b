"""Curvature products for an inner Krylov loop, linearized once per outer iteration.

``curvature.hvp``/``curvature.gnvp`` (and the operators built on them) redo the primal
pass at every product; inside a CG or Lanczos loop that pass is the same every time, so
here it is done once with ``jax.linearize`` and each product only pushes a tangent through:

- Hessian: ``jax.linearize(grad f, x)`` -> v -> H v (forward-over-reverse, Pearlmutter 1994).
- Gauss-Newton: ``z, Jv = jax.linearize(model_fn, x)``, ``H_L`` by linearizing the loss
  gradient at z, and ``J^T`` by ``jax.linear_transpose``: v -> J^T H_L J v (Schraudolph
  2002; Martens 2010). With ``residual=r`` the loss is ``sum(r**2)`` (so ``H_L = 2 I``).

Also the model/loss-split options shared by hessian-free (and their validation).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from optimizers.options import choice, function

__all__ = ["SPLIT_OPTIONS", "check_split", "curvature_matvec", "use_ggn"]

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


def check_split(opts, method: str) -> None:
    """Cross-option checks of the split; ValueError saying what to pass."""
    has_model, has_loss, has_res = (opts[k] is not None for k in ("model_fn", "loss_fn", "residual"))
    if has_model != has_loss:
        given, missing = ("model_fn", "loss_fn") if has_model else ("loss_fn", "model_fn")
        raise ValueError(f"method {method!r}: {given} was given without {missing}; {_SPLIT_HELP}")
    if has_res and has_model:
        raise ValueError(f"method {method!r}: give either residual= or model_fn=/loss_fn=, not both")
    if opts["curvature"] == "ggn" and not (has_model or has_res):
        raise ValueError(
            f"method {method!r}: curvature='ggn' needs the model/loss split: {_SPLIT_HELP}; "
            "or use curvature='hessian'"
        )


def use_ggn(opts) -> bool:
    """Whether the options select the Gauss-Newton matrix (curvature 'ggn', or 'auto' with a split)."""
    split = opts["residual"] is not None or opts["model_fn"] is not None
    return opts["curvature"] == "ggn" or (opts["curvature"] == "auto" and split)


def _sum_of_squares(r, **_):
    return jnp.sum(r * r)


def _shape_tree(tree):
    return jax.tree_util.tree_map(lambda s: tuple(s.shape), tree)


def curvature_matvec(objective, x, opts) -> Callable[[jax.Array], jax.Array]:
    """v -> G(x) v (Gauss-Newton, when ``use_ggn(opts)``) or H(x) v, on flat vectors.

    The linearization costs about one gradient evaluation (the caller counts it); each
    product then costs one JVP (+ one transposed JVP for G). Split functions are called
    as ``fn(params, **objective.extra)`` (the optax path hands a batch through ``extra``).
    Raises ValueError when model_fn's output does not fit loss_fn, naming the shape.
    """
    extra = objective.extra
    if not use_ggn(opts):
        return jax.linearize(objective.grad, x)[1]
    if opts["residual"] is not None:
        model, loss = opts["residual"], _sum_of_squares
        model_name, loss_name = "residual", "sum(r**2)"
    else:
        model, loss = opts["model_fn"], opts["loss_fn"]
        model_name, loss_name = "model_fn", "loss_fn"

    def flat_model(z):
        return model(objective.unravel(z), **extra)

    def flat_loss(out):
        return loss(out, **extra)

    out_shape = jax.eval_shape(flat_model, x)
    try:
        loss_out = jax.eval_shape(flat_loss, out_shape)
    except Exception as err:  # the loss cannot take the model's output: say which shapes
        raise ValueError(
            f"{model_name} returns outputs of shape {_shape_tree(out_shape)}, which {loss_name} "
            f"cannot take as its input: {err}"
        ) from err
    if not (isinstance(loss_out, jax.ShapeDtypeStruct) and loss_out.shape in ((), (1,))):
        raise ValueError(
            f"{loss_name} must map {model_name}'s outputs (shape {_shape_tree(out_shape)}) to a "
            f"scalar, got shape {_shape_tree(loss_out)}"
        )
    z, jvp = jax.linearize(flat_model, x)
    vjp = jax.linear_transpose(jvp, x)
    hl = jax.linearize(jax.grad(lambda o: jnp.reshape(flat_loss(o), ())), z)[1]
    return lambda v: vjp(hl(jvp(v)))[0]

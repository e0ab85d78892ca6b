"""Derivatives of functions of pytrees: Hessian-vector, Gauss-Newton-vector, dense matrices.

All functions are pure and work under ``jax.jit`` and ``jax.vmap``. Dense matrices are
over the flattened parameters in ``jax.flatten_util.ravel_pytree`` order.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from curvature._validate import check_float_pytree, check_like, check_model_loss, check_scalar_fn

_MODES = ("auto", "fwd", "rev")


def _scalar(f: Callable) -> Callable:
    """Wrap ``f`` so a shape-(1,) output becomes shape ()."""
    return lambda x: jnp.reshape(f(x), ())


def hvp(f: Callable, x, v):
    """Hessian-vector product H(x) v = d/dt grad f(x + t v) at t = 0.

    Forward-over-reverse (``jvp`` of ``grad``): one forward and one reverse pass,
    about 2-3 gradient evaluations; the Hessian is never formed. ``v`` has the
    structure of ``x`` and so does the result.
    """
    check_float_pytree(x, "x")
    check_scalar_fn(f, x, "f")
    check_like(x, v, "x", "v")
    return _hvp(f, x, v)


def _hvp(f: Callable, x, v):
    """``hvp`` without the argument checks (for callers that checked once)."""
    return jax.jvp(jax.grad(_scalar(f)), (x,), (v,))[1]


def hessian(f: Callable, x) -> jax.Array:
    """Dense Hessian of scalar ``f`` at ``x`` as an (n, n) matrix, n = total size of ``x``.

    Rows and columns follow ``ravel_pytree(x)`` order. Costs n HVPs (``jacfwd`` of
    ``grad``); meant for small problems and tests.
    """
    check_float_pytree(x, "x")
    check_scalar_fn(f, x, "f")
    flat, unravel = ravel_pytree(x)
    g = jax.grad(lambda z: _scalar(f)(unravel(z)))
    return jax.jacfwd(g)(flat)


def jacobian(g: Callable, x, mode: str = "auto") -> jax.Array:
    """Dense Jacobian J[i, j] = d out_i / d x_j of ``g`` as an (m, n) matrix.

    ``out`` and ``x`` are flattened in ``ravel_pytree`` order. ``mode="auto"`` uses
    forward mode (n JVPs) when n <= m and reverse mode (m VJPs) otherwise.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    check_float_pytree(x, "x")
    flat, unravel = ravel_pytree(x)
    out_shape = jax.eval_shape(g, x)
    m = sum(_size(s.shape) for s in jax.tree_util.tree_leaves(out_shape))
    n = flat.size

    def flat_g(z):
        return ravel_pytree(g(unravel(z)))[0]

    if mode == "auto":
        mode = "fwd" if n <= m else "rev"
    jac = jax.jacfwd(flat_g) if mode == "fwd" else jax.jacrev(flat_g)
    return jnp.reshape(jac(flat), (m, n))


def _size(shape) -> int:
    size = 1
    for d in shape:
        size *= int(d)
    return size


def gnvp(model_fn: Callable, loss_fn: Callable, params, v):
    """Generalized Gauss-Newton product G v = J^T H_L J v (Schraudolph 2002; Martens 2010).

    J is the Jacobian of ``model_fn`` at ``params`` and H_L the Hessian of the scalar
    ``loss_fn`` at ``model_fn(params)``. One linearization of ``model_fn`` (forward),
    one JVP through it, an HVP of the loss in output space, and one transposed JVP:
    J is never formed.
    """
    check_model_loss(model_fn, loss_fn, params)
    check_like(params, v, "params", "v")
    return _gnvp(model_fn, loss_fn, params, v)


def _gnvp(model_fn: Callable, loss_fn: Callable, params, v):
    """``gnvp`` without the argument checks (for callers that checked once)."""
    z, jvp_fn = jax.linearize(model_fn, params)
    jv = jvp_fn(v)
    hjv = jax.jvp(jax.grad(_scalar(loss_fn)), (z,), (jv,))[1]
    return jax.linear_transpose(jvp_fn, params)(hjv)[0]

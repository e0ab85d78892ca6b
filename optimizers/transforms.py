"""optax transforms of the registered methods: the same ``step`` as ``minimize``, one per update.

``make_transform(name, **options)`` returns an ``optax.GradientTransformationExtraArgs``
used exactly like ``optax.lbfgs``::

    opt = optimizers.newton_cg()
    state = opt.init(params)
    value, grad = jax.value_and_grad(loss)(params, batch)
    updates, state = opt.update(grad, state, params, value=value, grad=grad,
                                value_fn=loss, batch=batch)
    params = optax.apply_updates(params, updates)

Extra keyword arguments of ``update`` (``batch=...``) are passed on to ``value_fn``. Each
update runs one iteration of the method from ``params`` (its line search or trust-region
trial evaluates ``value_fn``); the update is the step taken (zero when no decrease was
found). The state records ``value`` and ``grad`` at the new point, so
``optax.value_and_grad_from_state(loss)`` can reuse them instead of evaluating again, and
the counters ``nfev``, ``ngev``, ``nhvp`` of the evaluations the transform made.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from optimizers.method import Iterate
from optimizers.objective import make_objective
from optimizers.options import resolve
from optimizers.registry import get_method

__all__ = ["TransformState", "make_transform", "lbfgs", "bfgs", "newton", "newton_cg", "trust_ncg"]


class TransformState(NamedTuple):
    """method_state: the method's own state (flat vectors). value, grad: f and its gradient
    (a pytree like params) at the point the last update moved to (inf and zeros before the
    first update). count: updates done. nfev, ngev, nhvp: int32 evaluations made by the
    updates. stalled: the last update found no decrease."""

    method_state: Any
    value: jax.Array
    grad: Any
    count: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhvp: jax.Array
    stalled: jax.Array


def make_transform(name: str, **options) -> optax.GradientTransformationExtraArgs:
    """optax transform running method ``name`` (``method_names()``) with ``options``
    (``method_options(name)``), validated now, before anything compiles."""
    spec = get_method(name)
    opts = resolve(spec, options)

    def init(params):
        z, _ = ravel_pytree(params)
        zero = jnp.zeros((), jnp.int32)
        return TransformState(
            method_state=spec.init(z, opts), value=jnp.asarray(jnp.inf, z.dtype),
            grad=jax.tree_util.tree_map(jnp.zeros_like, params), count=zero, nfev=zero,
            ngev=zero, nhvp=zero, stalled=jnp.zeros((), bool),
        )

    def update(updates, state: TransformState, params=None, *, value=None, grad=None,
               value_fn=None, **extra):
        if params is None or value_fn is None:
            raise TypeError(
                f"optimizers {name!r} transform: update needs params and value_fn, as in "
                "opt.update(grads, state, params, value=loss, grad=grads, value_fn=loss_fn)"
            )
        z, unravel = ravel_pytree(params)
        objective = make_objective(value_fn, unravel, extra)
        zero = jnp.zeros((), jnp.int32)
        nfev = ngev = zero
        if value is None or grad is None:
            value, g = objective.value_and_grad(z)
            nfev = ngev = zero + 1
        else:
            g = ravel_pytree(grad)[0]
        start = Iterate(z, jnp.asarray(value, z.dtype).reshape(()), jnp.asarray(g, z.dtype),
                        nfev, ngev, zero, jnp.zeros((), bool))
        method_state = state.method_state
        if spec.sync is not None:
            method_state = spec.sync(objective, start, method_state, opts)
        new, method_state = spec.step(objective, start, method_state, opts)
        state = TransformState(
            method_state=method_state, value=new.f, grad=unravel(new.g), count=state.count + 1,
            nfev=state.nfev + new.nfev, ngev=state.ngev + new.ngev, nhvp=state.nhvp + new.nhvp,
            stalled=new.stalled,
        )
        return unravel(new.x - z), state

    return optax.GradientTransformationExtraArgs(init, update)


def lbfgs(**options) -> optax.GradientTransformationExtraArgs:
    """L-BFGS (``minimize(method="lbfgs")``) as an optax transform; options: m, c1, c2, ls_max_iter."""
    return make_transform("lbfgs", **options)


def bfgs(**options) -> optax.GradientTransformationExtraArgs:
    """Dense BFGS as an optax transform (small n); options: c1, c2, ls_max_iter."""
    return make_transform("bfgs", **options)


def newton(**options) -> optax.GradientTransformationExtraArgs:
    """Modified Newton with a dense Hessian as an optax transform (small n)."""
    return make_transform("newton", **options)


def newton_cg(**options) -> optax.GradientTransformationExtraArgs:
    """Line-search Newton-CG (N&W Alg. 7.1) as an optax transform; options: cg_max_iter, c1, c2, ls_max_iter."""
    return make_transform("newton-cg", **options)


def trust_ncg(**options) -> optax.GradientTransformationExtraArgs:
    """Trust-region Newton-CG (N&W Alg. 7.2 + 4.1) as an optax transform; options:
    initial_radius, max_radius, eta, cg_max_iter. The radius lives in the state."""
    return make_transform("trust-ncg", **options)

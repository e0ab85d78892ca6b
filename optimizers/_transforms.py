"""optax transforms of the registered methods: the same ``step`` as ``minimize``, one per update.

``transform(method_record, **options)`` (``optimizers.make_transform(name)`` by name)
returns an ``optax.GradientTransformationExtraArgs`` used exactly like ``optax.lbfgs``::

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

In an optax chain, as in ``optax.lbfgs``, the incoming ``updates`` stand for the gradient in
the direction or model, and ``value_fn`` (with ``grad=`` its gradient at ``params``) is what
the globalisation measures. ``optax.chain(optax.clip_by_global_norm(c), newton_cg())`` solves
H d = -clip(g); ``chain(add_decayed_weights(wd), ...)`` builds the direction from g + wd x.
Per method (u the incoming updates, g = ``grad=``, or computed with ``value=`` from
``value_fn`` when either is missing):

- gd, momentum, adam: the optax update of u, x+ = x + update(u); nothing from g;
  value_fn gives f, g at x+ (for the state).
- lbfgs, bfgs: d = -H u (first step -min(1, 1/||u||) u); from g the line-search slope g.d
  and the pairs y = g+ - g; value_fn: the strong-Wolfe trials.
- nonlinear-cg: d = -u + beta d_prev, beta from u and u_prev; from g the slope and the
  descent test g.d < 0 (else d = -u); value_fn: the strong-Wolfe trials.
- newton: d = -B^-1 u, B the modified Hessian; from g the slope; value_fn: the Hessian
  (n HVPs) and the trials.
- newton-cg, gauss-newton: CG on H d = -u (G d = -u), forcing term from ||u||; from g the
  slope; value_fn: the HVPs (GGN products) and the trials.
- trust-ncg, trust-krylov, trust-exact, dogleg: the subproblem of m_u(p) = u.p + p.Hp/2;
  from g, rho against m_f(p) = g.p + p.Hp/2; value_fn: the products or the Hessian, one trial.
- levenberg-marquardt: (G + lambda I) p = -u; from g, rho against m_f; value_fn: the GGN
  products, one trial.
- hessian-free: CG on (C + lambda I) p = -u (warm start); from g, rho against m_f and the
  Armijo test g.p < 0; value_fn: the products, the CG backtracking, Armijo.
- saddle-free-newton: Lanczos from u, p(lambda) = -|H|^-1 u; nothing from g (the search
  compares values); value_fn: the Lanczos HVPs, the grid, g at x+.

The curvature (Hessian, Gauss-Newton matrix, quasi-Newton pairs) is always ``value_fn``'s,
and a globalised method accepts only steps that decrease ``value_fn``: a chain steers the
step, the search still guards f. Hence a trust region solves the model whose linear term is
u but judges the step by f's own model, rho = (f(x) - f(x + p)) / (m_f(0) - m_f(p)): rho
tests whether the quadratic predicts f, whichever linear term proposed p (with u = g the
two are one; with u = 3 g, m_u would over-predict f's decrease and shrink a radius whose
model is exact). A step that is not a descent direction for ``value_fn``
(``scale(-1.0)``, or weight decay dominating g) finds no decrease: the update is zero and
``state.stalled`` true, as for any failed search, after the method's own recovery (L-BFGS
and BFGS with a memory clear it first, reported as not stalled; a trust region shrinks the
radius and stalls once it is below eps ||x||; Hessian-free after ``max_failures``). There is
no fallback to -g: it would drop what the chain did (clipping, masking) without a trace; a
stall shows. To minimize f + wd ||x||^2 / 2 rather than steer by it, put the term in
``value_fn``.

All-zero updates (``optax.scale(0.0)``) give the zero step: the step is not run, nothing is
evaluated beyond a missing ``value``/``grad``, the method state is kept and ``stalled`` is
false; momentum and Adam instead run their step, as ``optax.sgd``/``optax.adam`` do (their
trace still moves). ``updates=None``, or ``updates`` the very object passed as ``grad=``
(the unchained call), is the gradient: the step is then exactly ``minimize``'s.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from curvature._validate import check_float_pytree, check_like, check_nonempty, check_scalar_fn
from optimizers import _memory as memory
from optimizers._method import Iterate, Method
from optimizers._objective import make_objective
from optimizers._options import resolve
from optimizers._ravel import StaticLayout, flattener, layout_of, placed, ravel

__all__ = ["TransformState", "transform"]


class TransformState(NamedTuple):
    """method_state: the method's own state (flat vectors). value, grad: f and its gradient
    (a pytree like params) at the point the last update moved to (inf and zeros before the
    first update). count: updates done. nfev, ngev, nhvp: int32 evaluations made by the
    updates. stalled: the last update found no decrease. layout: how the parameters are
    laid out as one flat vector (static, no leaves): the block layout of parameters split
    over devices, found by ``init``, so that ``update`` keeps them split (optimizers/_ravel.py)."""

    method_state: Any
    value: jax.Array
    grad: Any
    count: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhvp: jax.Array
    stalled: jax.Array
    layout: StaticLayout = StaticLayout(None)


def _sharded_like(state, z):
    """``state`` with every array whose last axis is the parameter vector's placed the way
    ``z`` (the raveled parameters) is, when ``z`` is a concrete array split over several
    devices along its one axis: L-BFGS's (2, m, n) history is then split along n like the
    parameters instead of held whole on one device. Under ``jit`` the state is left to XLA's
    sharding propagation (a traced ``z`` carries no placement to copy)."""
    from jax.sharding import NamedSharding, PartitionSpec

    sharding = getattr(z, "sharding", None) if not isinstance(z, jax.core.Tracer) else None
    if not isinstance(sharding, NamedSharding) or len(sharding.device_set) < 2 or len(sharding.spec) != 1:
        return state
    n = z.shape[0]

    def place(leaf):
        if not hasattr(leaf, "ndim") or leaf.ndim == 0 or leaf.shape[-1] != n:
            return leaf
        spec = PartitionSpec(*([None] * (leaf.ndim - 1)), sharding.spec[0])
        return jax.device_put(leaf, NamedSharding(sharding.mesh, spec))

    return jax.tree_util.tree_map(place, state)


def _check_params(params, where: str):
    check_float_pytree(params, "params")
    check_nonempty(params, "params", f": {where} needs at least one parameter")


def _check_value(value) -> None:
    shape, dtype = jnp.shape(value), jnp.result_type(value)
    if shape not in ((), (1,)):
        raise ValueError(f"value must be the scalar loss at params (shape ()), got shape {shape}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"value must be a floating-point scalar (the loss at params), got dtype {dtype}")


def _check_state(state, params, expected, where: str) -> None:
    """``state`` must be this transform's state for parameters shaped like ``params``:
    its method state has the shapes and dtypes ``init(params)`` gives (``expected``)."""
    if not isinstance(state, TransformState):
        raise TypeError(f"state must be the TransformState that init(params) of {where} "
                        f"returned, got {type(state).__name__}")
    size = sum(int(np.prod(jnp.shape(leaf))) for leaf in jax.tree_util.tree_leaves(params))
    fix = (f"the state must come from init on parameters of the same structure, shapes and "
           f"dtypes as params ({size} elements); call init(params) again after changing them")
    want, treedef = jax.tree_util.tree_flatten(expected)
    got, got_def = jax.tree_util.tree_flatten(state.method_state)
    if got_def != treedef:
        raise ValueError(f"state does not fit params: its method state has structure {got_def}, "
                         f"expected {treedef}; {fix} (a state saved by an older curvax may lack a field "
                         f"added since, e.g. the lowest f of the line search or trust region: init again)")
    for i, (g, w) in enumerate(zip(got, want)):
        if jnp.shape(g) != w.shape or jnp.result_type(g) != w.dtype:
            raise ValueError(
                f"state does not fit params: method state leaf {i} is {jnp.result_type(g)}"
                f"{list(jnp.shape(g))}, params need {w.dtype}{list(w.shape)}; {fix}")
    try:
        check_like(params, state.grad, "params", "state.grad")
    except (TypeError, ValueError) as err:
        raise ValueError(f"state does not fit params: {err}; {fix}") from None


def _check_updates(params, updates, where: str) -> None:
    """The incoming ``updates`` (the gradient's role in the direction) must be shaped like
    ``params``: a transform earlier in a chain may have changed their structure."""
    try:
        check_like(params, updates, "params", "updates", dtype=False)
    except ValueError as err:
        raise ValueError(
            f"{where}: {err}. The updates passed to update() (in an optax chain: the output of "
            f"the transforms before this one) stand for the gradient, so they must have the "
            f"pytree structure and leaf shapes of params") from None
    for leaf in jax.tree_util.tree_leaves(updates):
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            raise TypeError(f"{where}: updates must be floating-point like params (they stand for the "
                            f"gradient), got a leaf of dtype {jnp.result_type(leaf)}")


def _plain(it: Iterate, like: Iterate) -> Iterate:
    """``it`` without its linear term, in the dtypes of ``like`` (both branches of the
    zero-updates test must return the same types)."""
    return Iterate(**{k: jnp.asarray(getattr(it, k), jnp.result_type(getattr(like, k)))
                      for k in Iterate._fields if k != "u"})


def transform(spec: Method, **options) -> optax.GradientTransformationExtraArgs:
    """optax transform running the method record ``spec`` with ``options`` (its declared
    options), validated now, before anything compiles. By name: ``optimizers.make_transform``.

    ``init`` and ``update`` check their arguments before tracing the method: float,
    non-empty ``params`` (naming ``params``); a state made by ``init`` for parameters of the
    same structure, shapes and dtypes (naming ``state``); at most ``max_dim`` parameters for
    a dense method (naming the method); ``updates`` (unless None) and ``grad`` shaped like
    params, ``updates`` floating-point;
    ``value`` a float scalar; ``value_fn(params, **extra)`` a float scalar (checked with
    ``jax.eval_shape``, once per call or trace); and the method state fitting in memory."""
    name = spec.name
    opts = resolve(spec, options)
    where = f"optimizers transform {name!r}"

    def expected_state(params):
        z = jax.eval_shape(lambda p: ravel_pytree(p)[0], params)
        return jax.eval_shape(lambda v: spec.init(v, opts), z)

    def init(params):
        _check_params(params, where)
        leaves = jax.tree_util.tree_leaves(params)
        n = sum(int(np.prod(jnp.shape(leaf))) for leaf in leaves)
        if spec.max_dim is not None and n > spec.max_dim:
            raise ValueError(f"{where} holds a dense {n} x {n} matrix and is for n <= {spec.max_dim}; params have "
                             f"n = {n}: use a matrix-free method (newton-cg, trust-ncg, trust-krylov, lbfgs)")
        memory.check(memory.estimate(spec, opts, n, jnp.result_type(*leaves), None), f"{where} init")
        layout = layout_of(params)
        z, _ = ravel(params, layout)
        zero = jnp.zeros((), jnp.int32)
        return TransformState(
            method_state=_sharded_like(spec.init(z, opts), z), value=jnp.asarray(jnp.inf, z.dtype),
            grad=jax.tree_util.tree_map(jnp.zeros_like, params), count=zero, nfev=zero,
            ngev=zero, nhvp=zero, stalled=jnp.zeros((), bool), layout=StaticLayout(layout),
        )

    def update(updates, state: TransformState, params=None, *, value=None, grad=None,
               value_fn=None, **extra):
        if params is None or value_fn is None:
            raise TypeError(
                f"optimizers {name!r} transform: update needs params and value_fn, as in "
                "opt.update(grads, state, params, value=loss, grad=grads, value_fn=loss_fn)"
            )
        if not callable(value_fn):
            raise TypeError(f"value_fn must be the loss function value_fn(params, **extra), "
                            f"got {type(value_fn).__name__}")
        _check_params(params, where)
        _check_state(state, params, expected_state(params), where)
        if updates is not None:
            _check_updates(params, updates, where)
        if grad is not None:
            check_like(params, grad, "params", "grad", dtype=False)
        if value is not None:
            _check_value(value)
        check_scalar_fn(lambda p: value_fn(p, **extra), params, "value_fn")
        layout = state.layout.layout
        flat = flattener(layout)
        z, unravel = ravel(params, layout)
        objective = make_objective(value_fn, unravel, extra, ravel=flat)
        zero = jnp.zeros((), jnp.int32)
        nfev = ngev = zero
        if value is None or grad is None:
            value, g = objective.value_and_grad(z)
            nfev = ngev = zero + 1
        else:
            g = flat(grad)
        # The linear term of the direction or model: the incoming updates. None, or the very
        # object passed as grad= (the unchained call): the gradient, and minimize's step exactly.
        u = None if updates is None or updates is grad else jnp.asarray(flat(updates), z.dtype)
        start = Iterate(z, jnp.asarray(value, z.dtype).reshape(()), jnp.asarray(g, z.dtype),
                        nfev, ngev, zero, jnp.zeros((), bool), u)

        def run(method_state):
            if spec.sync is not None:
                method_state = spec.sync(objective, start, method_state, opts)
            new, method_state = spec.step(objective, start, method_state, opts)
            return _plain(new, start), method_state

        def rest(method_state):  # zero updates: the zero step, nothing evaluated, state kept
            return _plain(start, start), method_state

        if u is None or not spec.zero_is_stationary:
            new, method_state = run(state.method_state)
        else:
            new, method_state = jax.lax.cond(jnp.all(u == 0), rest, run, state.method_state)
        state = TransformState(
            method_state=method_state, value=new.f, grad=placed(unravel(new.g), layout), count=state.count + 1,
            nfev=state.nfev + new.nfev, ngev=state.ngev + new.ngev, nhvp=state.nhvp + new.nhvp,
            stalled=new.stalled, layout=state.layout,
        )
        return placed(unravel(new.x - z), layout), state

    return optax.GradientTransformationExtraArgs(init, update)

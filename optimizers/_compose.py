"""The seam: a method is a direction composed with a globalisation.

A :class:`Direction` says where to go from an iterate: either a search direction d (for a
line search: steepest descent, L-BFGS, BFGS, Newton, Newton-CG, Gauss-Newton, nonlinear CG)
or a quadratic model m(p) = g.p + p.B p / 2 (for a trust region: B the Hessian as products
or dense, or the Gauss-Newton matrix). A :class:`Globalisation` decides how far: a line
search along d (:mod:`optimizers._line_search`), or a trust region with a subproblem solver,
or its 1/radius form, Levenberg-Marquardt damping (:mod:`optimizers._trust_region`).
:func:`compose` joins the two into the :class:`~optimizers._method.Method` record the driver
and the optax transforms run; a new method is a few lines on top of a direction.

Directions read the gradient as ``it.linear`` (the gradient under ``minimize``, the incoming
updates inside an optax chain) and leave ``it.g`` to the globalisation, which measures f.

A direction may also learn from the step the globalisation took (``update``: the (s, y)
pairs of quasi-Newton methods, the previous direction of nonlinear CG) and tell the
globalisation that a failed step can be retried from a reset state (``retry``: a quasi-Newton
memory was dropped), so only a failure with nothing left to drop stalls the run.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax

from optimizers._method import Iterate, Method, Option, frozen_options

__all__ = ["Composed", "Direction", "Globalisation", "Model", "Proposal", "compose"]


class Proposal(NamedTuple):
    """What a direction proposes to a line search. it: the start iterate with the
    evaluations the direction made counted; d: the search direction; state: the direction's
    new state; init_step: the first trial step."""

    it: Iterate
    d: jax.Array
    state: Any
    init_step: Any = 1.0


class Model(NamedTuple):
    """The quadratic model m(p) = g.p + p.B p / 2 at ``it.x`` (g = ``it.linear``: the gradient,
    or an optax chain's incoming updates; the ratio uses ``it.g``), for a trust
    region. matvec: p -> B p (matrix-free solvers), or None; hess: the dense B, or None
    (dense solvers); it: the iterate with the evaluations made for B counted (a dense
    Hessian counts n products); state: the direction's new state."""

    it: Iterate
    matvec: Callable | None
    hess: jax.Array | None
    state: Any


class Direction(NamedTuple):
    """Where to go. propose(objective, it, state, opts) -> Proposal (line searches);
    model(objective, it, state, opts) -> Model (trust regions); update(objective, old, new,
    state, opts, moved) -> (state, retry) after the step (optional; ``moved`` is the bool
    that the globalisation accepted a decrease). sync, validate, workspace, max_dim: as in
    :class:`~optimizers._method.Method`, for the direction's own state and options."""

    name: str
    options: Mapping[str, Option]
    init: Callable[..., Any] = lambda x, opts: ()
    propose: Callable[..., Proposal] | None = None
    model: Callable[..., Model] | None = None
    update: Callable[..., tuple] | None = None
    sync: Callable[..., Any] | None = None
    validate: Callable[[Mapping[str, Any]], None] | None = None
    workspace: Callable[[int, Mapping[str, Any]], int] | None = None
    max_dim: int | None = None


class Globalisation(NamedTuple):
    """How far. needs: "propose" (a line search) or "model" (a trust region).
    step(direction, objective, it, direction_state, state, opts) -> (new, direction_state,
    state); init(x, opts) -> state."""

    name: str
    needs: str
    options: Mapping[str, Option]
    init: Callable[..., Any]
    step: Callable[..., tuple]
    validate: Callable[[Mapping[str, Any]], None] | None = None


class Composed(NamedTuple):
    """A composed method's state: the direction's and the globalisation's."""

    direction: Any
    globalisation: Any


def compose(name: str, direction: Direction, globalisation: Globalisation, doc: str, *,
            options: Mapping[str, Option] | None = None,
            validate: Callable[[Mapping[str, Any]], None] | None = None) -> Method:
    """The :class:`Method` ``name`` that takes ``direction``'s steps under ``globalisation``.

    Options are the direction's, the globalisation's and ``options`` (a name declared twice
    must be the same declaration); ``validate`` runs after both parts' own checks.
    """
    if getattr(direction, globalisation.needs) is None:
        raise TypeError(f"method {name!r}: direction {direction.name!r} has no {globalisation.needs!r}, "
                        f"which the globalisation {globalisation.name!r} needs")
    merged: dict[str, Option] = {}
    for part in (direction.options, globalisation.options, options or {}):
        for key, opt in part.items():
            if key in merged and merged[key] is not opt:
                raise ValueError(f"method {name!r}: option {key!r} is declared twice")
            merged[key] = opt
    checks = tuple(c for c in (direction.validate, globalisation.validate, validate) if c is not None)

    def init(x, opts):
        return Composed(direction.init(x, opts), globalisation.init(x, opts))

    def step(objective, it: Iterate, state: Composed, opts):
        new, d_state, g_state = globalisation.step(direction, objective, it, state.direction,
                                                   state.globalisation, opts)
        return new, Composed(d_state, g_state)

    def check(opts):
        for c in checks:
            c(opts)

    sync = None
    if direction.sync is not None:
        def sync(objective, it, state: Composed, opts):
            return state._replace(direction=direction.sync(objective, it, state.direction, opts))

    return Method(name=name, init=init, step=step, options=frozen_options(merged), doc=doc, sync=sync,
                  validate=check if checks else None, workspace=direction.workspace,
                  max_dim=direction.max_dim)

"""First-order directions from optax: the update of an optax transform with a fixed learning
rate as the direction, taken as it is (the unit-step globalisation), so x+ = x + update(g).

One f and one gradient evaluation per iteration (at the new point); no line search, so a
too large learning rate can diverge (status ``NONFINITE``). Used by ``gd``, ``momentum`` and
``adam``.
"""

from __future__ import annotations

from typing import Callable

import optax

from optimizers._compose import Direction, Proposal, compose
from optimizers._line_search import UNIT_STEP
from optimizers._method import Iterate, Method

__all__ = ["LR_DOC", "optax_method"]

LR_DOC = "fixed step size of the optax transform"


def optax_method(name: str, make: Callable[[dict], optax.GradientTransformation], options, doc) -> Method:
    """The method ``name`` stepping by the updates of the optax transform ``make(options)``."""

    def init(x, opts):
        return make(opts).init(x)

    def propose(objective, it: Iterate, state, opts) -> Proposal:
        updates, state = make(opts).update(it.linear, state, it.x)
        return Proposal(it, updates, state)

    # momentum and Adam still move (and their state still decays) on zero updates
    return compose(name, Direction(name, options, init=init, propose=propose), UNIT_STEP,
                   doc)._replace(zero_is_stationary=False)

"""First-order baselines under the same driver: gradient descent, heavy-ball momentum, Adam.

Each is the optax transform of the same name applied with a fixed ``learning_rate``:
x+ = x + update(g). gd: x+ = x - lr g. momentum: v+ = beta v + g, x+ = x - lr v+
(Polyak 1964; Nesterov's variant with ``nesterov=True``). adam: Kingma & Ba 2015.
One f and one gradient evaluation per iteration (at the new point); no line search, so a
too large learning rate can diverge (status ``NONFINITE``).
"""

from __future__ import annotations

from typing import Callable

import optax

from optimizers.method import Iterate, Method
from optimizers.options import boolean, real

__all__ = ["GD", "MOMENTUM", "ADAM"]

_LR_DOC = "fixed step size of the optax transform"


def _optax_method(name: str, make: Callable[[dict], optax.GradientTransformation], options, doc) -> Method:
    """A :class:`Method` that applies the optax transform ``make(options)`` once per step."""

    def init(x, opts):
        return make(opts).init(x)

    def step(objective, it: Iterate, state, opts):
        updates, state = make(opts).update(it.g, state, it.x)
        x = it.x + updates
        f, g = objective.value_and_grad(x)
        return it._replace(x=x, f=f, g=g).counted(nfev=1, ngev=1), state

    return Method(name=name, init=init, step=step, options=options, doc=doc)


GD = _optax_method(
    "gd",
    lambda o: optax.sgd(o["learning_rate"]),
    {"learning_rate": real(1e-2, _LR_DOC, 0.0)},
    "gradient descent with a fixed learning rate (optax.sgd)",
)

MOMENTUM = _optax_method(
    "momentum",
    lambda o: optax.sgd(o["learning_rate"], momentum=o["momentum"], nesterov=o["nesterov"]),
    {
        "learning_rate": real(1e-2, _LR_DOC, 0.0),
        "momentum": real(0.9, "heavy-ball coefficient beta", 0.0, 1.0, lo_closed=True),
        "nesterov": boolean(False, "Nesterov's accelerated variant"),
    },
    "heavy-ball momentum with a fixed learning rate (optax.sgd with momentum)",
)

ADAM = _optax_method(
    "adam",
    lambda o: optax.adam(o["learning_rate"], b1=o["b1"], b2=o["b2"], eps=o["eps"]),
    {
        "learning_rate": real(1e-3, _LR_DOC, 0.0),
        "b1": real(0.9, "decay of the first-moment average", 0.0, 1.0, lo_closed=True),
        "b2": real(0.999, "decay of the second-moment average", 0.0, 1.0, lo_closed=True),
        "eps": real(1e-8, "added to the root of the second moment", 0.0, lo_closed=True),
    },
    "Adam with a fixed learning rate (optax.adam; Kingma & Ba 2015)",
)

"""Heavy-ball momentum, method ``momentum``: v+ = beta v + g, x+ = x - lr v+ (Polyak 1964;
Nesterov's variant with ``nesterov=True``), as optax.sgd with momentum."""

import optax

from optimizers._optax_step import LR_DOC, optax_method
from optimizers._options import boolean, real

__all__ = ["MOMENTUM"]

MOMENTUM = optax_method(
    "momentum",
    lambda o: optax.sgd(o["learning_rate"], momentum=o["momentum"], nesterov=o["nesterov"]),
    {
        "learning_rate": real(1e-2, LR_DOC, 0.0),
        "momentum": real(0.9, "heavy-ball coefficient beta", 0.0, 1.0, lo_closed=True),
        "nesterov": boolean(False, "Nesterov's accelerated variant"),
    },
    "heavy-ball momentum with a fixed learning rate (optax.sgd with momentum)",
)

"""Adam with a fixed learning rate, method ``adam`` (Kingma & Ba 2015), as optax.adam."""

import optax

from optimizers._optax_step import LR_DOC, optax_method
from optimizers._options import real

__all__ = ["ADAM"]

ADAM = optax_method(
    "adam",
    lambda o: optax.adam(o["learning_rate"], b1=o["b1"], b2=o["b2"], eps=o["eps"]),
    {
        "learning_rate": real(1e-3, LR_DOC, 0.0),
        "b1": real(0.9, "decay of the first-moment average", 0.0, 1.0, lo_closed=True),
        "b2": real(0.999, "decay of the second-moment average", 0.0, 1.0, lo_closed=True),
        "eps": real(1e-8, "added to the root of the second moment", 0.0, lo_closed=True),
    },
    "Adam with a fixed learning rate (optax.adam; Kingma & Ba 2015)",
)

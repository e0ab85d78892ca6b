"""Gradient descent with a fixed learning rate, method ``gd``: x+ = x - lr g (optax.sgd)."""

import optax

from optimizers._optax_step import LR_DOC, optax_method
from optimizers._options import real

__all__ = ["GD"]

GD = optax_method(
    "gd",
    lambda o: optax.sgd(o["learning_rate"]),
    {"learning_rate": real(1e-2, LR_DOC, 0.0)},
    "gradient descent with a fixed learning rate (optax.sgd)",
)

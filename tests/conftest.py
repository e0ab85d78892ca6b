"""Test-wide settings: float64 everywhere (the project's convention for tests)."""

import jax

jax.config.update("jax_enable_x64", True)

"""Where the runs of a problem instance start: the config seed's PRNG key and the starting
points (explicit ``x0``, the problem's default, or uniform draws in its box)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.spec import ProblemSpec

__all__ = ["seed_key", "starting_points"]


def seed_key(seed: int) -> jax.Array:
    """The PRNG key of a config's ``seed``, using all 64 bits of it whatever the precision.

    ``jax.random.PRNGKey(seed)`` keeps only the low 32 bits when x64 is off (a float32
    config), so seeds 1 and 2**32 + 1 would draw the same starts; the two words are set
    here directly, as ``PRNGKey`` does with x64 on (the same key for every seed < 2**32).
    """
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return jnp.asarray(np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32))


def starting_points(problem, ps: ProblemSpec, key) -> jax.Array:
    """(starts, dim): the explicit ``x0`` points, the default x0, or uniform draws in the box."""
    if ps.x0 is not None:
        return jnp.asarray(np.asarray(ps.x0, dtype=np.float64), dtype=problem.x0.dtype)
    if ps.starts == 1:
        return jnp.asarray(problem.x0)[None, :]
    return problem.sample_starts(key, ps.starts)

"""``while_loop``: ``lax.while_loop`` with its initial carry tied together, for cheap ``vmap``.

Under ``jax.vmap`` a while loop is batched by a fixed-point search: the body is batched with
the carry leaves that are batched so far, any leaf the body makes batched is added, and the
body is batched again until the pattern settles (and once more with every leaf batched when
the loop's condition is batched, as it is for a batch of starts that stop at different
iterations). A loop nested in a loop body is searched afresh at every pass of the outer
one, so the tracing work multiplies with the nesting depth (driver, line search, CG).

Tying every leaf of the initial carry to one flag that is batched as soon as any leaf is
(``select(p, a, a)``, which XLA folds to ``a``; the flag is then dead code) makes the first
pattern the final one, so each loop is batched once, and the repeats hit JAX's cache of
batched jaxprs. Measured on the quickstart config: the vmapped programs trace in 0.60 s
instead of 0.71 s (driver loop only) and see docs/benchmarks.md for the whole package.
Nothing changes without ``vmap``: same program, same results.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["tied", "while_loop"]


def tied(tree):
    """``tree`` unchanged, but every leaf made to depend on one flag built from all of them
    (batched under vmap when any leaf is)."""
    leaves = [leaf for leaf in jax.tree_util.tree_leaves(tree) if jnp.size(leaf)]
    if len(leaves) < 2:
        return tree
    firsts = [jnp.ravel(leaf)[0] for leaf in leaves]
    p = functools.reduce(jnp.logical_or, [v != v for v in firsts])  # False, NaN or not
    return jax.tree_util.tree_map(lambda a: lax.select(jnp.broadcast_to(p, jnp.shape(a)), a, a), tree)


def while_loop(cond, body, init):
    """``lax.while_loop(cond, body, init)`` with ``init`` :func:`tied`: the same result."""
    return lax.while_loop(cond, body, tied(init))

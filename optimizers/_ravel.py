"""Parameters as one flat vector, laid out so that a pytree split over devices stays split.

``jax.flatten_util.ravel_pytree`` concatenates the raveled leaves. When the leaves are
sharded over several devices that concatenation is a gather: device 0's share of the flat
vector would hold the start of the first leaf, not its own piece of every leaf (measured
with 4 forced host devices, 3 sharded leaves: 9 all-gathers in one gradient). The *block*
layout instead cuts every leaf into ``d`` blocks along its split axis (``d`` = the number of
shards), puts block ``r`` of every leaf side by side in row ``r`` of a ``(d, m)`` matrix and
flattens that: row ``r`` is what device ``r`` already holds, so raveling, unraveling and
every vector the method keeps (L-BFGS's history, CG and Lanczos vectors, trial points) stay
split with no communication. The flat order is a permutation of ``ravel_pytree``'s; only
inner products and elementwise work happen on flat vectors inside a method, so the
iterates are the same up to rounding (the order of a sum changes).

The layout is read from concrete arrays' ``NamedSharding`` (or, under ``jit``, from
explicitly sharded types). It is used when every leaf is split along one axis over the same
mesh axes into the same number of shards ``d >= 2`` that divides that axis, or is replicated
with a size ``d`` divides; otherwise (no sharding, or shardings that do not line up) the
layout is ``ravel_pytree``'s exactly.

Under ``jit`` in JAX's default (auto) sharding mode a traced leaf carries no placement. There
the layout is *assumed*: ``d`` = the number of devices, every leaf raveled and cut into ``d``
row blocks (for a leaf split along its first axis into ``d`` or a divisor of ``d`` shards,
exactly the pieces each device holds), when every leaf's size is a multiple of ``d`` and
the parameters are large enough to be worth splitting (``ASSUMED_MIN_SIZE`` numbers); not
under ``vmap`` (a batch of small problems). A leaf placed otherwise costs the communication
``ravel_pytree`` would; one array is laid out exactly as ``ravel_pytree`` does.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = ["ASSUMED_MIN_SIZE", "Layout", "StaticLayout", "flattener", "layout_of", "placed", "ravel",
           "standard_order"]

ASSUMED_MIN_SIZE = 1 << 16  # parameters below this size keep ravel_pytree's order under jit


class Layout(NamedTuple):
    """Hashable block layout: ``blocks`` shards; per leaf, the split axis (None: replicated);
    the shardings the leaves came with (to hand the result back placed the same way)."""

    blocks: int
    axes: tuple
    shardings: tuple


def _sharding(leaf):
    if isinstance(leaf, jax.core.Tracer):
        try:
            sharding = jax.typeof(leaf).sharding
        except (AttributeError, TypeError):
            return None
        mesh = getattr(sharding, "mesh", None)
        explicit = mesh is not None and any("Explicit" in str(t) for t in getattr(mesh, "axis_types", ()))
        return sharding if explicit else None  # an Auto-mode type carries no placement
    return getattr(leaf, "sharding", None)


def _split(sharding, ndim):
    """(axis, mesh axes) of a NamedSharding split along at most one array axis, else None.
    axis None: replicated."""
    from jax.sharding import NamedSharding

    if not isinstance(sharding, NamedSharding):
        return None
    spec = tuple(sharding.spec) + (None,) * (ndim - len(sharding.spec))
    used = [(i, entry) for i, entry in enumerate(spec) if entry is not None]
    if not used:
        return None, ()
    if len(used) > 1:
        return None
    axis, entry = used[0]
    return axis, tuple(entry) if isinstance(entry, tuple) else (entry,)


def _assumed(leaves) -> Optional[Layout]:
    """The layout under ``jit`` without placements (auto mode): see the module docstring."""
    if not all(isinstance(leaf, jax.core.Tracer) for leaf in leaves) or any(
            type(leaf).__name__ == "BatchTracer" for leaf in leaves):  # vmap's tracer (no public name)
        return None
    d = jax.device_count()
    sizes = [math.prod(jnp.shape(leaf)) for leaf in leaves]
    if d < 2 or sum(sizes) < ASSUMED_MIN_SIZE or any(size % d for size in sizes):
        return None
    return Layout(d, (None,) * len(leaves), (None,) * len(leaves))


def layout_of(tree) -> Optional[Layout]:
    """The block layout of ``tree``'s shardings, or None where ``ravel_pytree``'s is kept."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return None
    shardings = [_sharding(leaf) for leaf in leaves]
    if all(s is None for s in shardings):
        return _assumed(leaves)
    splits = [_split(s, jnp.ndim(leaf)) for s, leaf in zip(shardings, leaves)]
    if any(s is None for s in splits):
        return None
    split = [(s.mesh, names) for s, (_, names) in zip(shardings, splits) if names]
    if not split or any(m != split[0][0] or n != split[0][1] for m, n in split):
        return None  # nothing split, or split over different meshes or mesh axes
    mesh, axis_names = split[0]
    blocks = math.prod(int(mesh.shape[a]) for a in axis_names)
    if blocks < 2:
        return None
    axes = []
    for leaf, (axis, leaf_names) in zip(leaves, splits):
        shape = jnp.shape(leaf)
        if axis is None:
            if math.prod(shape) % blocks:
                return None
        elif leaf_names != axis_names or shape[axis] % blocks:
            return None
        axes.append(axis)
    return Layout(blocks, tuple(axes), tuple(shardings))


def ravel(tree, layout: Optional[Layout] = None):
    """``(z, unravel)`` like ``ravel_pytree(tree)``, in ``layout``'s block order when given."""
    if layout is None:
        return ravel_pytree(tree)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    shapes = [jnp.shape(leaf) for leaf in leaves]
    dtypes = [jnp.result_type(leaf) for leaf in leaves]
    dtype = jnp.result_type(*dtypes)
    d = layout.blocks
    rows = [(jnp.moveaxis(leaf, axis, 0) if axis is not None else jnp.ravel(leaf)).reshape(d, -1).astype(dtype)
            for leaf, axis in zip(leaves, layout.axes)]
    z = jnp.concatenate(rows, axis=1).reshape(-1)
    widths = [math.prod(s) // d for s in shapes]
    mixed = any(t != dtype for t in dtypes)

    def unravel(flat):
        grid = jnp.reshape(flat, (d, -1))
        out, start = [], 0
        for shape, t, axis, width in zip(shapes, dtypes, layout.axes, widths):
            block = grid[:, start:start + width]
            start += width
            if axis is None:
                leaf = block.reshape(shape)
            else:
                moved = (shape[axis],) + tuple(s for i, s in enumerate(shape) if i != axis)
                leaf = jnp.moveaxis(block.reshape(moved), 0, axis)
            out.append(leaf.astype(t) if mixed else leaf)
        return jax.tree_util.tree_unflatten(treedef, out)

    return z, unravel


def flattener(layout: Optional[Layout]):
    """tree -> flat vector in ``layout``'s order (``Objective.ravel``)."""
    return lambda tree: ravel(tree, layout)[0]


def placed(tree, layout: Optional[Layout]):
    """``tree`` (shaped like the parameters) constrained to the parameters' own shardings."""
    if layout is None:
        return tree
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return jax.tree_util.tree_unflatten(
        treedef, [leaf if s is None else jax.lax.with_sharding_constraint(leaf, s)
                  for leaf, s in zip(leaves, layout.shardings)])


def standard_order(rows, unravel):
    """Flat rows (last axis = the parameters, in block order) in ``ravel_pytree`` order."""
    flat = rows.reshape(-1, rows.shape[-1])
    out = jax.vmap(lambda r: ravel_pytree(unravel(r))[0])(flat)
    return out.reshape(rows.shape)


@jax.tree_util.register_pytree_node_class
class StaticLayout:
    """A layout carried in a pytree as static data (no leaves): an optax state keeps the
    layout its ``init`` saw, so ``update`` under ``jit`` ravels the same way."""

    def __init__(self, layout: Optional[Layout]):
        self.layout = layout

    def tree_flatten(self):
        return (), self.layout

    @classmethod
    def tree_unflatten(cls, layout, children):
        return cls(layout)

    def __eq__(self, other):
        return isinstance(other, StaticLayout) and other.layout == self.layout

    def __hash__(self):
        return hash(self.layout)

    def __repr__(self):
        return f"StaticLayout({self.layout})"

"""The starts of a pair spread over the devices of a run.

With one device the starts are placed on it, as they always were. With several, the batch
axis is sharded over a one-axis ``Mesh`` (``NamedSharding(mesh, P("starts"))``): each device
runs its share of the starts of the one compiled ``minimize_batch`` call, and XLA's sharding
propagation keeps every per-start array (state, trace) split the same way; the loop's
"any start still running" test is the only value the devices exchange per iteration. The
batch is padded to a multiple of the device count with copies of its last start, which run
in lock step with it and are dropped from the results, so the recorded starts are exactly
those of a one-device run, with the same iterations and stops; their values agree to
rounding (a device holding 2 starts vectorizes differently from one holding 6: measured,
relative differences in f of at most 1e-9 after 60 iterations, tests/experiments/test_sharding.py).
"""

from __future__ import annotations

import math

import jax
import numpy as np

__all__ = ["Placement"]


class Placement:
    """Where the starts of a run live: ``devices`` (one or more of one platform)."""

    def __init__(self, devices):
        from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

        self.devices = tuple(devices)
        if not self.devices:
            raise ValueError("a placement needs at least one device")
        if len(self.devices) == 1:
            self.sharding = SingleDeviceSharding(self.devices[0])
        else:
            self.sharding = NamedSharding(Mesh(np.asarray(self.devices), ("starts",)), PartitionSpec("starts"))

    @property
    def count(self) -> int:
        return len(self.devices)

    def padded(self, starts: int) -> int:
        """The batch size actually run: ``starts`` rounded up to a multiple of the devices."""
        return int(math.ceil(starts / self.count) * self.count)

    def put(self, batch):
        """``batch`` (leading axis = starts) padded with copies of its last row and placed."""
        batch = jax.numpy.asarray(batch)
        extra = self.padded(batch.shape[0]) - batch.shape[0]
        if extra:
            batch = jax.numpy.concatenate([batch, jax.numpy.repeat(batch[-1:], extra, axis=0)])
        return jax.device_put(batch, self.sharding)

    def take(self, tree, starts: int):
        """The first ``starts`` rows of every leaf of ``tree`` (the padding dropped)."""
        return jax.tree_util.tree_map(lambda leaf: leaf[:starts], tree)

"""Memory a run needs, estimated from shapes before anything is compiled or allocated.

A run of ``minimize`` holds at least: the trace buffer, ``(max_iter + 1)`` rows of
``5 (+ n with record_path)`` floats; the method's state (its ``init`` evaluated on shapes
only, e.g. L-BFGS ``2 m n + 2 m^2`` floats, BFGS ``n^2``); and the method's step workspace
(``Method.workspace``, e.g. the dense Hessian of newton, ``n^2``). Everything else is a
few vectors of n. The estimate is a lower bound: XLA may need more, never less, so a run it
refuses could not have fitted. Compared with the device's memory: GPU/TPU
``device.memory_stats()["bytes_limit"]``, CPU the host's physical memory. Under vmap the
shapes are per start; ``batch`` multiplies them (``starts`` runs side by side).
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import jax
import numpy as np

__all__ = ["MemoryEstimate", "available_memory", "check", "checked_ints", "estimate", "format_bytes"]


class MemoryEstimate(NamedTuple):
    """parts: ``(name, bytes, how counted)`` for one run; batch: runs side by side.
    ``total`` is ``batch * sum(bytes)``."""

    parts: tuple
    batch: int = 1

    @property
    def total(self) -> int:
        return self.batch * sum(b for _, b, _ in self.parts)

    def describe(self) -> str:
        text = " + ".join(f"{format_bytes(b)} for the {name} ({how})" for name, b, how in self.parts if b)
        return f"{text}, x {self.batch} starts" if self.batch != 1 else text


def format_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1, one decimal ("37.3 GiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    i = min(len(units) - 1, max(0, int(math.log(max(n, 1), 1024))))
    return f"{n / 1024**i:.1f} {units[i]}" if i else f"{n} B"


def _state_bytes(spec, opts, n: int, dtype) -> int:
    z = jax.ShapeDtypeStruct((n,), dtype)
    leaves = jax.tree_util.tree_leaves(jax.eval_shape(lambda x: spec.init(x, opts), z))
    return sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize for leaf in leaves)


def estimate(spec, opts, n: int, dtype, max_iter: int | None, record_path: bool = False,
             batch: int = 1) -> MemoryEstimate:
    """:class:`MemoryEstimate` for a method record ``spec`` and validated options ``opts``;
    ``max_iter=None``: no trace buffer (the optax transforms)."""
    dtype = np.dtype(dtype)
    parts = []
    if max_iter is not None:
        cols = 5 + (n if record_path else 0)
        how = f"max_iter + 1 = {max_iter + 1} rows x {cols} columns of {dtype.name}"
        parts.append(("trace buffer", (max_iter + 1) * cols * dtype.itemsize, how))
    sizes = ", ".join([f"n = {n}"] + [f"{k} = {v}" for k, v in opts.items()
                                      if isinstance(v, int) and not isinstance(v, bool)])
    parts.append((f"{spec.name} state", _state_bytes(spec, opts, n, dtype), sizes))
    if spec.workspace is not None:
        floats = spec.workspace(n, opts)
        parts.append((f"{spec.name} step", floats * dtype.itemsize, f"{floats} floats, {sizes}"))
    return MemoryEstimate(tuple(parts), batch)


def available_memory(device=None) -> int | None:
    """Bytes the device can hold: ``memory_stats()["bytes_limit"]`` where reported (GPU,
    TPU), the host's physical memory for a CPU device, None when unknown. Default: the
    first device of the default backend."""
    device = jax.devices()[0] if device is None else device
    try:
        stats = device.memory_stats()
    except Exception:  # not implemented on every backend
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    if device.platform == "cpu":
        try:
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def check(est: MemoryEstimate, where: str, device=None) -> MemoryEstimate:
    """Raise ValueError when ``est`` is over :func:`available_memory`; else return it."""
    limit = available_memory(device)
    if limit is not None and est.total > limit:
        device = jax.devices()[0] if device is None else device
        largest = max(est.parts, key=lambda p: p[1])[0]
        hint = ("lower max_iter (or record_path=False)" if largest == "trace buffer" else
                "lower the size options shown, or use a method with O(n) memory (newton-cg, "
                "trust-ncg, lbfgs with a small memory_size)")
        raise ValueError(
            f"{where} would need {est.describe()} = {format_bytes(est.total)}, more than the "
            f"{format_bytes(limit)} of memory of device {device}; {hint}"
        )
    return est


def checked_ints(n, max_iter, batch):
    for name, value, low in (("n", n, 1), ("max_iter", max_iter, 0), ("batch", batch, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(n), int(max_iter), int(batch)

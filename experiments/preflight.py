"""Sizes checked before anything is allocated: a pair's memory from its shapes.

A config with ``starts = 1e9``, ``max_iter = 1e9`` or an L-BFGS memory of ``1e9`` used to
abort inside XLA (or hang writing a 37 GiB trace). Every (problem instance, optimizer) pair
is sized here when the config is validated, from shapes alone: the device side is what
``optimizers.memory`` estimates for one start of the method (trace buffer, method state)
times the number of starts; the host side is the runner's copy of the trace and the rows
it writes (about 20 numbers and the CSV text per start and iteration). A pair that needs
more than the machine has is refused with the figures, naming the key to change.
"""

from __future__ import annotations

from optimizers import memory

__all__ = ["HOST_BYTES_PER_ROW", "pair_bytes", "check_pair"]

# Per start and iteration on the host: the fetched trace row, 18 float64 trace columns,
# and the CSV text of the row (about 300 characters).
HOST_BYTES_PER_ROW = 8 * (5 + 18) + 300


def pair_bytes(method: str, options: dict, *, dim: int, starts: int, max_iter: int, record_path: bool,
               dtype: str) -> dict:
    """Bytes one pair needs: ``{"device": ..., "host": ..., "total": ...}``."""
    per_start = memory.minimize_bytes(method, dim, max_iter=max_iter, record_path=record_path,
                                      dtype=dtype, options=options)
    device = starts * per_start
    rows = starts * (max_iter + 1)
    host = rows * (HOST_BYTES_PER_ROW + (8 * dim if record_path else 0))
    return {"device": device, "host": host, "total": device + host}


def check_pair(method: str, options: dict, *, dim: int, starts: int, max_iter: int, record_path: bool,
               dtype: str) -> None:
    """ValueError when the pair cannot fit in memory, with what it would need."""
    need = pair_bytes(method, options, dim=dim, starts=starts, max_iter=max_iter, record_path=record_path,
                      dtype=dtype)
    memory.check_fits(need["total"], f"{starts} start(s) of {method!r} on dim = {dim} with max_iter = "
                                     f"{max_iter} (device {memory.gib(need['device'])}, host records "
                                     f"{memory.gib(need['host'])})")

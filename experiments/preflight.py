"""Sizes checked before anything is allocated: a pair's memory from its shapes.

A config with ``starts = 1e9``, ``max_iter = 1e9`` or an L-BFGS memory of ``1e9`` used to
abort inside XLA (or hang writing a 37 GiB trace). Every (problem instance, optimizer) pair
is sized here when the config is validated, from shapes alone: the device side is
:func:`optimizers.estimate_memory` (trace buffer, method state, step workspace) for
the pair's starts; the host side is the runner's copy of the trace and the rows it writes
(about 20 numbers and the CSV text per start and iteration). A pair that needs more than the
device (or the host) has is refused with the figures.
"""

from __future__ import annotations

from optimizers import available_memory, estimate_memory, format_bytes

__all__ = ["HOST_BYTES_PER_ROW", "check_bytes", "check_pair"]

# Per start and iteration on the host: the fetched trace row, 18 float64 trace columns,
# and the CSV text of the row (about 300 characters).
HOST_BYTES_PER_ROW = 8 * (5 + 18) + 300


def check_bytes(nbytes: int, what: str, device=None) -> None:
    """ValueError when ``nbytes`` exceed the memory of ``device`` (default: the first one)."""
    limit = available_memory(device)
    if limit is not None and nbytes > limit:
        raise ValueError(f"{what} would need {format_bytes(nbytes)}, more than the {format_bytes(limit)} of "
                         "memory here")


def check_pair(method: str, options: dict, *, dim: int, starts: int, max_iter: int, record_path: bool,
               dtype: str, device=None) -> None:
    """ValueError when the pair cannot fit in memory, with what each part would need."""
    try:
        est = estimate_memory(method, dim, dtype, max_iter=max_iter, record_path=record_path, batch=starts,
                              **options)
    except (TypeError, ValueError):
        return  # a bad option: the method's own check reports it, with its own message
    host = starts * (max_iter + 1) * (HOST_BYTES_PER_ROW + (8 * dim if record_path else 0))
    limit = available_memory(device)
    if limit is not None and max(est.total, host) > limit:
        raise ValueError(
            f"{starts} start(s) would need {est.describe()} = {format_bytes(est.total)} on the device and "
            f"{format_bytes(host)} of host records ({max_iter + 1} rows per start), more than the "
            f"{format_bytes(limit)} of memory here"
        )

"""The host side of ``minimize(..., callback=cb)``: its signature check and its error path.

``cb(iteration, f, grad_norm)`` runs on the host through ``jax.debug.callback``. An
exception raised there would surface as a long ``JaxRuntimeError`` carrying XLA's
traceback. So the callback is wrapped: when ``minimize`` runs eagerly the wrapper stores
the first exception, skips the later calls, and ``minimize`` re-raises that exception (the
user's own type and message) once the run is done. When ``minimize`` is itself traced (under
``jit`` or ``vmap``) nothing can be raised after the run, so the wrapper raises a
``RuntimeError`` whose message names the callback and the original error; it ends JAX's
``JaxRuntimeError`` message.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import jax

__all__ = ["check_callback", "host_callback", "running_eagerly"]


def running_eagerly(*trees) -> bool:
    """True when the caller is not being traced: no tracer among ``trees`` and (where this
    JAX exposes it) no trace active at all, since a jit over a closure traces without making
    a tracer of x0. A traced run must not capture errors: nothing would re-raise them."""
    if any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(trees)):
        return False
    try:
        from jax._src.core import trace_state_clean  # private; present in jax 0.4.30 - 0.10
    except ImportError:
        return True
    return bool(trace_state_clean())


def check_callback(callback) -> None:
    """TypeError naming ``callback`` unless it is None or a hashable function that can be
    called as ``callback(iteration, f, grad_norm)`` (skipped when the signature cannot be
    inspected, e.g. some builtins)."""
    if callback is None:
        return
    if not callable(callback):
        raise TypeError(f"callback must be a function callback(iteration, f, grad_norm) or None, "
                        f"got {type(callback).__name__}")
    try:
        hash(callback)
    except TypeError:
        raise TypeError("callback must be hashable (it is a static argument of the compiled "
                        f"loop), got an unhashable {type(callback).__name__}") from None
    try:
        sig = inspect.signature(callback)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(0, 0.0, 0.0)
    except TypeError as err:
        raise TypeError(f"callback is called as callback(iteration, f, grad_norm), but "
                        f"{_name(callback)}{sig} cannot take those 3 arguments: {err}") from None


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class HostCallback:
    """``fn`` as called on the host; ``capture``: store the first exception in ``error``
    (eager runs) instead of raising a RuntimeError that names the callback (traced runs)."""

    def __init__(self, fn: Callable, capture: bool):
        self.fn, self.capture, self.error = fn, capture, None

    def __call__(self, iteration, f, grad_norm):
        if self.error is not None:
            return
        try:
            self.fn(iteration, f, grad_norm)
        except Exception as err:
            if self.capture:
                self.error = err
                return
            raise RuntimeError(f"minimize: callback {_name(self.fn)} raised "
                               f"{type(err).__name__}: {err}") from None

    def pop_error(self):
        err, self.error = self.error, None
        return err


@functools.lru_cache(maxsize=256)
def host_callback(fn: Callable, capture: bool) -> HostCallback:
    """One wrapper per (callback, mode), so the compiled loop (which holds the wrapper as a
    static argument) is reused across calls and its errors land where minimize reads them."""
    return HostCallback(fn, capture)

"""The host side of ``minimize(..., callback=cb)``: its signature check and its error path.

Two forms, told apart by the signature: a function that can take three positional
arguments is called ``cb(iteration, f, grad_norm)`` (the original form; the current x is
not sent to the host for it); otherwise it must take one, and is called ``cb(info)`` with a
:class:`CallbackInfo` ``(iteration, f, grad_norm, x)``, x the current point as a pytree like
x0. It runs on the host through ``jax.debug.callback``. An
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
from typing import Any, Callable, NamedTuple

import jax

__all__ = ["CallbackInfo", "check_callback", "host_callback", "running_eagerly"]


class CallbackInfo(NamedTuple):
    """What a one-argument callback receives after each iteration (and at x0, iteration 0).

    iteration: the iteration count; f: f(x); grad_norm: infinity norm of the gradient at x;
    x: the current point, a pytree like x0. Host (numpy) arrays, batched under vmap.
    """

    iteration: Any
    f: Any
    grad_norm: Any
    x: Any


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


_FORMS = "callback(iteration, f, grad_norm) or callback(info) (an optimizers.CallbackInfo)"


def check_callback(callback) -> bool:
    """TypeError naming ``callback`` unless it is None or a hashable function of one of the
    two forms (module docstring). Returns whether it takes the :class:`CallbackInfo` record:
    False for the three-argument form, and when the signature cannot be inspected (some
    builtins)."""
    if callback is None:
        return False
    if not callable(callback):
        raise TypeError(f"callback must be a function {_FORMS} or None, got {type(callback).__name__}")
    try:
        hash(callback)
    except TypeError:
        raise TypeError("callback must be hashable (it is a static argument of the compiled "
                        f"loop), got an unhashable {type(callback).__name__}") from None
    try:
        sig = inspect.signature(callback)
    except (TypeError, ValueError):
        return False
    try:
        sig.bind(0, 0.0, 0.0)
        return False
    except TypeError as err:
        three = err
    try:
        sig.bind(None)
        return True
    except TypeError:
        raise TypeError(f"callback is called as {_FORMS}, but {_name(callback)}{sig} can take "
                        f"neither 3 arguments nor 1: {three}") from None


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class HostCallback:
    """``fn`` as called on the host; ``capture``: store the first exception in ``error``
    (eager runs) instead of raising a RuntimeError that names the callback (traced runs).
    ``wants_x``: ``fn`` takes a :class:`CallbackInfo`, so the driver must send x."""

    def __init__(self, fn: Callable, capture: bool):
        self.fn, self.capture, self.error = fn, capture, None
        self.wants_x = check_callback(fn)

    def __call__(self, iteration, f, grad_norm, x=None):
        if self.error is not None:
            return
        try:
            if self.wants_x:
                self.fn(CallbackInfo(iteration, f, grad_norm, x))
            else:
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

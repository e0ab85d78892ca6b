"""Stop requests from signals (Ctrl-C, SIGTERM, SIGHUP), honoured at safe points.

Python runs a signal handler at the next bytecode of the main thread, wherever that is:
inside a garbage-collection callback (which swallows an exception raised there: the run
went on after a Ctrl-C in its first second), inside an extension's import (an ImportError,
or with SIGTERM a segmentation fault in jaxlib's initialization). So the handler only
records the request, and the CLI and the runner call :func:`check` at their safe points
(after the imports and the config check, between pairs and their phases, every 0.2 s while
waiting for a compile), which raises :class:`Stopped`. A second Ctrl-C raises at once (the
user insists). ``Stopped`` is a ``KeyboardInterrupt``: every path that keeps the finished
pairs on Ctrl-C keeps them on SIGTERM too.
"""

from __future__ import annotations

import signal
import sys

__all__ = ["Stopped", "check", "install", "pending"]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_pending: list[int] = []


class Stopped(KeyboardInterrupt):
    """The run was asked to stop by signal ``signum``; exit status 128 + signum."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        return "Ctrl-C" if self.signum == signal.SIGINT else signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def _handler(signum, _frame):
    again = signal.SIGINT in _pending and signum == signal.SIGINT
    _pending.append(signum)
    if again:  # a second Ctrl-C: stop now, wherever this is
        raise Stopped(signum)


def install():
    """Handle the stop signals (a signal the parent process ignores stays ignored); returns
    a function that restores the previous handlers. Outside the main thread: does nothing."""
    previous = {}
    try:
        for sig in _SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, _handler)
    except ValueError:  # not the main thread
        pass
    _pending.clear()
    hook = sys.unraisablehook

    def quiet(unraisable):  # a Stopped swallowed by a gc callback: check() raises it again
        if not isinstance(unraisable.exc_value, Stopped):
            hook(unraisable)

    sys.unraisablehook = quiet

    def restore():
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = hook

    return restore


def pending() -> int | None:
    """The first stop signal received since :func:`install`, or None."""
    return _pending[0] if _pending else None


def check() -> None:
    """Raise :class:`Stopped` if a stop signal has arrived (and was swallowed somewhere)."""
    if _pending:
        raise Stopped(_pending[0])


def as_stop(err: BaseException) -> Stopped | None:
    """The stop request behind ``err``: a KeyboardInterrupt, or an ImportError raised while a
    signal was pending (an extension interrupted during its import); else None."""
    if isinstance(err, Stopped):
        return err
    if isinstance(err, KeyboardInterrupt):
        return Stopped(pending() or signal.SIGINT)
    if pending() is not None:
        return Stopped(pending())
    return None

"""One writer per run folder: a lock file holding the owner's pid and host.

``curvax run`` and ``curvax resume`` take ``RUN_DIR/.curvax.lock`` (created with
``O_CREAT | O_EXCL``, so of two processes racing for it exactly one wins) before writing
anything and remove it when they end, however they end short of being killed outright. A
lock left by a killed process on this host (its pid no longer exists) is taken over; a
live owner, or an owner on another host (whose pid cannot be checked from here), makes the
second process refuse with :class:`RunLocked`.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from experiments.files import RecordError

__all__ = ["LOCK_NAME", "RunLock", "RunLocked", "lock_owner"]

LOCK_NAME = ".curvax.lock"


class RunLocked(RuntimeError):
    """Another process is writing to the run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def lock_owner(run_dir) -> tuple[int, str] | None:
    """(pid, host) of the lock's holder, or None when the folder holds no readable lock."""
    try:
        text = (Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8").split()
        return int(text[0]), text[1] if len(text) > 1 else ""
    except (OSError, ValueError, IndexError):
        return None


class RunLock:
    """Context manager: hold ``run_dir/.curvax.lock`` for the duration of the block."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def acquire(self) -> None:
        me = f"{os.getpid()} {socket.gethostname()}\n".encode()
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                owner = lock_owner(self.path.parent)
                if owner is not None and owner[1] == socket.gethostname() and not _alive(owner[0]):
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()  # stale: its process is gone
                    continue
                who = f"pid {owner[0]} on {owner[1] or 'an unknown host'}" if owner else "another process"
                raise RunLocked(
                    f"{self.path.parent}: another curvax run ({who}) is writing to this folder; wait for "
                    f"it to end, or delete {self.path} if that process no longer exists"
                ) from None
            except OSError as err:  # a read-only folder, a full disk
                raise RecordError(self.path, err, "create") from None
            try:
                os.write(fd, me)
            except OSError as err:  # a full disk: no lock without its owner in it
                os.close(fd)
                with contextlib.suppress(OSError):
                    self.path.unlink()
                raise RecordError(self.path, err) from None
            os.close(fd)
            self.held = True
            return
        raise RunLocked(f"{self.path.parent}: could not take the lock {self.path}")

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.held = False

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

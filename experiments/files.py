"""Durable file writes for run folders: whole-file replacement, appends, and clean-up.

- :func:`atomic_write` writes a temporary file in the same folder, syncs it and moves it
  into place with ``os.replace`` (atomic on POSIX and Windows): a reader sees the old file
  or the new one, never half of one.
- :func:`append` adds text to the end of a file and syncs it; if the write fails part way
  (a full disk), the file is cut back to its old length, so it never ends in a torn row.
- Files are created with mode 0666 less the user's umask, like any other program's files.
- Every ``OSError`` becomes a :class:`RecordError` naming the path and the reason in one
  line (``cannot write runs/x/results.json: No space left on device``).
- :func:`remove_temporaries` deletes what an interrupted :func:`atomic_write` (or figure
  save) left behind; the runner calls it when it starts or resumes a run folder.

All writes go through ``os.open``/``os.write``, so a test can inject a fault (ENOSPC, EROFS)
by patching those two functions.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["RecordError", "append", "atomic_write", "remove_temporaries", "TEMP_SUFFIX"]

TEMP_SUFFIX = ".tmp"
_MODE = 0o666  # the umask applies


class RecordError(OSError):
    """A run-folder file that cannot be written: ``cannot write PATH: reason``."""

    def __init__(self, path, err: OSError | str, action: str = "write"):
        reason = err if isinstance(err, str) else (err.strerror or str(err))
        errno_ = None if isinstance(err, str) else err.errno
        super().__init__(errno_, f"cannot {action} {path}: {reason}")
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return self.strerror


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _encode(data) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8")


def temp_name(path: Path) -> Path:
    """A fresh hidden temporary name beside ``path`` (``.results.json.<random>.tmp``)."""
    return path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def atomic_write(path, data) -> None:
    """Replace ``path`` by ``data`` (str as UTF-8, or bytes) through a synced temporary file."""
    path = Path(path)
    payload = _encode(data)
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _MODE)
    except OSError as err:
        raise RecordError(path, err) from None
    try:
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, RecordError):
            raise RecordError(path, err) from None
        raise


def append(path, data) -> None:
    """Append ``data`` to ``path`` (created if missing) and sync it; all or nothing."""
    path = Path(path)
    payload = _encode(data)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _MODE)
    except OSError as err:
        raise RecordError(path, err) from None
    try:
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # freeing space cannot run out of it
            raise
    except OSError as err:
        raise RecordError(path, err) from None
    finally:
        os.close(fd)


def remove_temporaries(folder) -> list[Path]:
    """Delete the hidden ``.*.tmp`` files (and ``.*.tmp.<ext>`` figure temporaries) in
    ``folder`` and its ``plots/`` subfolder; returns what was removed."""
    removed = []
    for where in (Path(folder), Path(folder) / "plots"):
        if not where.is_dir():
            continue
        for p in where.iterdir():
            name = p.name
            if name.startswith(".") and (name.endswith(TEMP_SUFFIX) or f"{TEMP_SUFFIX}." in name) and p.is_file():
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed

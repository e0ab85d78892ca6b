"""The CLI's persistent compilation cache: JAX's own, in the user's cache folder.

A second ``curvax run`` of the same config then loads every executable from disk instead of
compiling it again (JAX keys an entry on the lowered program, the jax/jaxlib versions, the
XLA flags and the device, so an entry from another version or machine is never used, and
never fails the run). The traced programs themselves are kept beside them, in
``programs/`` (:mod:`experiments.program_cache`), so the warm run does not trace either.

Where: ``$CURVAX_CACHE_DIR`` if set, else the platform's user cache folder
(``$XDG_CACHE_HOME/curvax/jax`` or ``~/.cache/curvax/jax`` on Linux,
``~/Library/Caches/curvax/jax`` on macOS, ``%LOCALAPPDATA%\\curvax\\cache\\jax`` on Windows).
The folder is tagged with a ``CACHEDIR.TAG`` (so backup tools skip it) and ``clear`` removes
only a folder that carries that tag.

``CURVAX_CACHE=0`` in the environment turns it off like ``--no-cache`` (the test suite does).
Only the CLI turns the cache on (:func:`enable`); the libraries never do. JAX's default
thresholds (cache only compiles over 1 s) would skip almost every program of a run, so
:func:`enable` caches every executable. Hits and misses are counted per thread from JAX's
monitoring events (:func:`counting`), so the runner can say which pair was loaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CacheState", "NotACache", "cache_dir", "clear", "counting", "disabled", "enable", "info",
           "note_program", "off_by_environment", "state"]

TAG_NAME = "CACHEDIR.TAG"
_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This folder is curvax's compilation cache (JAX executables); `curvax cache clear` empties it.\n")
_HIT, _MISS = "/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses"


def off_by_environment() -> bool:
    """Whether ``$CURVAX_CACHE`` turns the cache off (``0``, ``false``, ``no``, ``off``)."""
    return os.environ.get("CURVAX_CACHE", "").strip().lower() in ("0", "false", "no", "off")


def cache_dir() -> Path:
    """The cache folder: ``$CURVAX_CACHE_DIR``, else the platform's user cache folder."""
    override = os.environ.get("CURVAX_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "curvax" / "cache" / "jax"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "curvax" / "jax"


@dataclass
class CacheState:
    """What a run records about the cache: where it is, and hits/misses counted so far."""

    dir: str | None
    enabled: bool
    reason: str = ""  # why it is off, when it is
    hits: int = 0
    misses: int = 0
    programs_reused: int = 0  # traced programs loaded by experiments.program_cache
    programs_traced: int = 0  # ... traced and stored by it

    def record(self) -> dict:
        out = {"enabled": self.enabled, "dir": self.dir, "hits": self.hits, "misses": self.misses,
               "programs_reused": self.programs_reused, "programs_traced": self.programs_traced}
        if self.reason:
            out["reason"] = self.reason
        return out


_LOCK = threading.Lock()
_STATE: CacheState | None = None
_LOCAL = threading.local()


def _writable(path: Path) -> str:
    """'' when ``path`` (created if missing) takes a new file, else the reason it does not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".curvax-probe-"):
            pass
        tag = path / TAG_NAME
        if not tag.exists():
            tag.write_text(_TAG)
    except OSError as err:
        return err.strerror or str(err)
    return ""


def _listener(event: str, **_kwargs) -> None:
    if event not in (_HIT, _MISS):
        return
    state = _STATE
    if state is not None:
        with _LOCK:
            if event == _HIT:
                state.hits += 1
            else:
                state.misses += 1
    counts = getattr(_LOCAL, "counts", None)
    if counts is not None:
        counts[0 if event == _HIT else 1] += 1


def enable(path: Path | None = None, *, warn=None) -> CacheState:
    """Turn JAX's persistent compilation cache on in ``path`` (default :func:`cache_dir`).

    A folder that cannot be written: ``warn(message)`` once (default: a line on stderr)
    and the cache stays off; the run goes on without it. Call before the first compile.
    """
    global _STATE
    path = Path(path) if path is not None else cache_dir()
    reason = _writable(path)
    if reason:
        message = f"the compilation cache {path} cannot be written ({reason}); running without it"
        (warn or (lambda m: print(f"curvax: warning: {m}", file=sys.stderr)))(message)
        _STATE = CacheState(str(path), False, reason)
        return _STATE
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    for name, value in (("jax_persistent_cache_min_compile_time_secs", 0.0),
                        ("jax_persistent_cache_min_entry_size_bytes", 0)):
        with contextlib.suppress(AttributeError, ValueError):  # an older jax without the option
            jax.config.update(name, value)
    _register_listener()
    _STATE = CacheState(str(path), True)
    return _STATE


def disabled(reason: str) -> CacheState:
    """The state of a run with the cache turned off (``--no-cache``, the config key)."""
    global _STATE
    _STATE = CacheState(None, False, reason)
    return _STATE


_REGISTERED = False


def _register_listener() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    from jax import monitoring

    monitoring.register_event_listener(_listener)
    _REGISTERED = True


def note_program(reused: bool) -> None:
    """Count one pair's traced program as reused from, or stored into, the program cache."""
    state = _STATE
    if state is not None:
        with _LOCK:
            if reused:
                state.programs_reused += 1
            else:
                state.programs_traced += 1


def state() -> CacheState | None:
    """The cache state of this process (None when neither :func:`enable` nor :func:`disabled` ran)."""
    return _STATE


@contextlib.contextmanager
def counting():
    """Count the cache hits and misses of the compiles made in this thread inside the block:
    yields a list ``[hits, misses]`` filled in as they happen."""
    counts = [0, 0]
    before = getattr(_LOCAL, "counts", None)
    _LOCAL.counts = counts
    try:
        yield counts
    finally:
        _LOCAL.counts = before


def _entries(path: Path):
    if not path.is_dir():
        return []
    return [p for p in path.rglob("*")
            if p.is_file() and p.name != TAG_NAME and not p.name.startswith(".curvax-probe-")]


def info(path: Path | None = None) -> dict:
    """``{"dir", "exists", "entries", "bytes", "programs"}`` of the cache folder (programs:
    the traced programs of :mod:`experiments.program_cache`, counted in entries too)."""
    path = Path(path) if path is not None else cache_dir()
    files = _entries(path)
    size = 0
    for f in files:
        with contextlib.suppress(OSError):
            size += f.stat().st_size
    programs = sum(1 for f in files if f.parent.name == "programs" and f.suffix == ".jaxexport")
    return {"dir": str(path), "exists": path.is_dir(), "entries": len(files), "bytes": size, "programs": programs}


class NotACache(ValueError):
    """``clear`` was pointed at a folder that is not a curvax cache (no CACHEDIR.TAG)."""


def clear(path: Path | None = None) -> int:
    """Remove every entry of the cache folder; returns how many files were removed.

    Only a folder that carries curvax's ``CACHEDIR.TAG`` is emptied (so a mistyped
    ``CURVAX_CACHE_DIR`` cannot delete anything else); a missing folder is empty already.
    """
    path = Path(path) if path is not None else cache_dir()
    if not path.exists():
        return 0
    tag = path / TAG_NAME
    if not tag.is_file() or "curvax" not in tag.read_text(errors="replace"):
        raise NotACache(f"{path} does not look like curvax's compilation cache (no {TAG_NAME} written by "
                        "curvax in it); nothing removed")
    removed = 0
    for entry in path.iterdir():
        if entry.name == TAG_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            removed += sum(1 for p in entry.rglob("*") if p.is_file())
            shutil.rmtree(entry)
        else:
            entry.unlink()
            removed += 1
    return removed

"""XLA flags that are set only when the installed jaxlib knows them.

XLA reads ``XLA_FLAGS`` once, when JAX creates its first backend, and aborts the process on
a flag it does not register (``Unknown flags in XLA_FLAGS: ...``). Flags come and go between
jaxlib releases (``--xla_cpu_use_fusion_emitters`` first exists in jaxlib 0.5.3), so a flag
we add on the user's behalf (the test suite's conftest, the CLI's :func:`set_cli_flags`) goes through
``with_flag``, which adds it only where ``known_xla_flag`` finds it.

``known_xla_flag`` looks for the flag's name as a NUL-terminated C string in jaxlib's
top-level shared libraries, where XLA's flag table keeps it (``xla_extension.so`` up to
jaxlib 0.4.x, ``libjax_common.so`` later). It never imports jaxlib or starts a backend, so
it can run before ``XLA_FLAGS`` is set; it costs one scan of those files (about 0.1 s with
them in the page cache). The name as a protobuf field of ``DebugOptions`` or inside a mangled
C++ symbol does not count: those outlive a flag's registration and are not NUL-terminated
right after the name.

Only scripts set flags: the library packages ``curvature`` and ``optimizers`` never do.
This module uses the standard library only.
"""

from __future__ import annotations

import functools
import importlib.util
import mmap
import os

__all__ = ["CLI_FLAGS", "known_xla_flag", "set_cli_flags", "with_flag"]

_LIB_SUFFIXES = (".so", ".dylib", ".pyd", ".dll")
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _jaxlib_libraries() -> list[str]:
    """jaxlib's top-level shared libraries, largest first; [] when jaxlib is not installed."""
    try:
        spec = importlib.util.find_spec("jaxlib")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    found = []
    for folder in spec.submodule_search_locations:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if entry.is_file() and (name.endswith(_LIB_SUFFIXES) or ".so." in name):
                found.append((entry.stat().st_size, entry.path))
    return [path for _, path in sorted(found, reverse=True)]


def _has_c_string(path: str, needle: bytes) -> bool:
    """Whether ``needle`` occurs in the file NUL-terminated and not preceded by a name character."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            target = needle + b"\0"
            at = data.find(target)
            while at >= 0:
                if at == 0 or data[at - 1] not in _NAME_BYTES:
                    return True
                at = data.find(target, at + 1)
    except (OSError, ValueError):  # unreadable, or empty (mmap of length 0)
        return False
    return False


@functools.lru_cache(maxsize=None)
def known_xla_flag(name: str) -> bool:
    """Whether the installed jaxlib's XLA registers the flag ``name`` (``--`` and ``=value`` optional)."""
    flag = name.lstrip("-").split("=", 1)[0]
    if not flag:
        raise ValueError(f"not an XLA flag name: {name!r}")
    needle = flag.encode("ascii")
    return any(_has_c_string(path, needle) for path in _jaxlib_libraries())


def with_flag(xla_flags: str, name: str, value: str | bool | int | float) -> str:
    """``xla_flags`` with ``--name=value`` appended, unchanged if it already mentions ``name``
    (the caller's setting wins) or if the installed jaxlib does not know the flag."""
    flag = name.lstrip("-")
    if flag in xla_flags or not known_xla_flag(flag):
        return xla_flags
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{xla_flags} --{flag}={text}".strip()


#: The XLA options the ``curvax`` command sets for its own process when the user has not set
#: ``XLA_FLAGS``. XLA:CPU's fusion emitters (on by default since jaxlib 0.5) spend about twice
#: the compile time on the small while-loops of a run for no gain in run time: the quickstart
#: config's 18 programs took 17.8 s of compile CPU time with them and 7.7 s without, with the
#: same run times (docs/benchmarks.md, "The main job").
CLI_FLAGS = (("xla_cpu_use_fusion_emitters", False),)


def set_cli_flags(environ=None) -> str | None:
    """Set ``XLA_FLAGS`` in ``environ`` (default ``os.environ``) to :data:`CLI_FLAGS`, each
    only where the installed jaxlib knows it, unless ``XLA_FLAGS`` is set already (the
    user's choice wins, even an empty one). Returns what it set, or None. It takes effect
    only before JAX starts its CPU backend, so the CLI calls it first thing."""
    environ = os.environ if environ is None else environ
    if "XLA_FLAGS" in environ:
        return None
    flags = ""
    for name, value in CLI_FLAGS:
        flags = with_flag(flags, name, value)
    if not flags:
        return None
    environ["XLA_FLAGS"] = flags
    return flags

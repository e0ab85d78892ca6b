"""The CLI's cache of traced programs: a warm ``curvax run`` skips tracing and lowering.

JAX's persistent cache (:mod:`experiments.compile_cache`) keys an executable on the lowered
program, so a warm run still traces and lowers every pair before it can look the executable
up: 0.3-0.9 s of single-threaded Python a pair, most of a warm quickstart. This cache keeps
the lowered program itself (``jax.export``, serialized) under a key made of what the program
is built from, so a warm pair deserializes it (milliseconds) and only compiles it, which
JAX's cache then answers from disk.

The key: the config's problem (registry name and parameters, the config's seed, which
seeds synthetic data), the method with its options and ``max_iter``, whether the path is
recorded, the batch's shape, dtype and sharding, the platform and device kind, x64, the
versions of jax, jaxlib and sif2jax, and a digest of every source file of curvax's packages
and of the module that registered the problem. Change any of them and the program is traced
afresh. The entries live in ``programs/`` inside the compilation cache folder, so ``curvax
cache info`` counts them and ``curvax cache clear`` removes them.

It is on exactly when JAX's cache is (the CLI, unless ``--no-cache``); where ``jax.export``
cannot serialize (an older jax, no ``flatbuffers``, a primitive without a stable
serialization) the pair is traced and compiled as before. A corrupt or unreadable entry is a
miss, never a failure.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

__all__ = ["compiled", "key", "program_dir", "usable"]

_PACKAGES = ("curvature", "optimizers", "experiments")


def program_dir() -> Optional[Path]:
    """The folder of the traced programs, or None where the compilation cache is off."""
    from experiments import compile_cache

    state = compile_cache.state()
    if state is None or not state.enabled or not state.dir:
        return None
    return Path(state.dir) / "programs"


@functools.lru_cache(maxsize=1)
def usable() -> bool:
    """Whether this jax can serialize programs (``jax.export`` with flatbuffers and named
    tuple serialization); registers the result types once."""
    try:
        import flatbuffers  # noqa: F401  (jax.export's serialization needs it)
        from jax import export
    except ImportError:
        return False
    if not hasattr(export, "register_namedtuple_serialization"):
        return False
    from optimizers._result import OptimizeResult, Trace

    for cls in (OptimizeResult, Trace):
        with contextlib.suppress(ValueError):  # registered already
            export.register_namedtuple_serialization(cls, serialized_name=f"curvax.{cls.__name__}")
    return True


def _digest_files(paths) -> str:
    h = hashlib.sha256()
    for path in sorted(set(paths)):
        h.update(str(path).encode())
        with contextlib.suppress(OSError):
            h.update(Path(path).read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """A digest of every ``.py`` file of curvax's packages, as installed or checked out."""
    import importlib

    files = []
    for name in _PACKAGES:
        root = Path(importlib.import_module(name).__file__).parent
        files.extend(root.rglob("*.py"))
    return _digest_files(files)


@functools.lru_cache(maxsize=1)
def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for dist in ("jax", "jaxlib", "sif2jax", "optax"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def key(parts: dict, sources=()) -> str:
    """The entry name for a program built from ``parts`` (JSON-able; anything else by its
    ``repr``) and the extra source files ``sources``."""
    import jax

    material = {"parts": parts, "versions": _versions(), "x64": bool(jax.config.jax_enable_x64),
                "curvax": _source_digest(), "sources": _digest_files(sources) if sources else ""}
    text = json.dumps(material, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _load(path: Path):
    from jax import export

    try:
        return export.deserialize(bytearray(path.read_bytes()))
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001  (a corrupt or foreign entry is a miss)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def _store(path: Path, exported) -> None:
    """Write atomically (several processes may share the folder); a failed write is ignored."""
    tmp = None
    try:
        blob = exported.serialize()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001  (a full disk or an unserializable program: no entry)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def compiled(jitted: Callable, args: tuple, entry: Optional[str]) -> tuple[Any, Optional[bool]]:
    """``(executable, reused)`` for ``jitted(*args)``: the program from the cache when
    ``entry`` names a stored one (reused True), else traced, stored (reused False) and
    compiled; with no usable cache (``entry`` None, or a program that cannot be exported)
    the plain ``jitted.lower(*args).compile()`` (reused None)."""
    import jax

    folder = program_dir()
    if entry is None or folder is None or not usable():
        return jitted.lower(*args).compile(), None
    from jax import export

    path = folder / f"{entry}.jaxexport"
    exported = _load(path)
    reused = exported is not None
    if not reused:
        try:
            exported = export.export(jitted)(*args)
        except Exception:  # noqa: BLE001  (not exportable: trace and compile as before)
            return jitted.lower(*args).compile(), None
        _store(path, exported)
    from experiments import compile_cache

    compile_cache.note_program(reused)
    return jax.jit(exported.call).lower(*args).compile(), reused

"""Numeric precision and device selection for a run.

``precision("float64")`` turns on ``jax_enable_x64`` for the duration of a block and restores
the previous setting after it, so a float32 config does not switch float64 off for the rest of
the process. ``select_device("cpu" | "gpu" | "auto")`` returns the JAX device the run uses.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys

import jax

__all__ = ["DeviceError", "environment", "precision", "select_device", "select_devices"]


class DeviceError(RuntimeError):
    """The requested backend is not available to JAX."""


@contextlib.contextmanager
def precision(dtype: str):
    """Enable (``"float64"``) or disable (``"float32"``) x64 inside the block."""
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", dtype == "float64")
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def _backend_devices(backend: str):
    """This process's devices of ``backend`` (in a distributed run, ``jax.devices`` lists
    every process's)."""
    try:
        return jax.local_devices(backend=backend)
    except RuntimeError:
        return []


def select_device(name: str):
    """The first device of the backend ``name``: ``cpu``, ``gpu`` or ``auto`` (a GPU when JAX sees one)."""
    if name == "cpu":
        return jax.local_devices(backend="cpu")[0]
    if name in ("gpu", "auto"):
        gpus = _backend_devices("gpu")
        if gpus:
            return gpus[0]
        if name == "auto":
            return jax.local_devices(backend="cpu")[0]
        seen = sorted({d.platform for d in jax.devices()})
        raise DeviceError(
            "device = 'gpu' but JAX sees no GPU (devices seen: " + ", ".join(seen)
            + "); install a CUDA-enabled jaxlib, or set device = 'cpu' or 'auto'"
        )
    raise ValueError(f"device must be 'cpu', 'gpu' or 'auto', got {name!r}")


def select_devices(name: str, count: int = 0) -> list:
    """The devices a run uses: every device of the platform :func:`select_device` picks for
    ``name``, or its first ``count`` (``count = 0``: all). DeviceError when fewer exist."""
    first = select_device(name)
    devices = _backend_devices(first.platform)
    if count < 0:
        raise ValueError(f"devices must be >= 1 (or 0 for all), got {count}")
    if count > len(devices):
        hint = ("; on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N host devices"
                if first.platform == "cpu" else "")
        raise DeviceError(f"devices = {count} but the {first.platform} platform has {len(devices)} device(s) "
                          f"here ({', '.join(str(d) for d in devices)}){hint}")
    return devices[:count] if count else devices


def environment(device) -> dict:
    """What produced the numbers: versions, backend and device, machine."""
    import importlib.metadata as md

    import numpy

    def version(dist):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    return {
        "jax": jax.__version__,
        "jaxlib": version("jaxlib"),
        "optax": version("optax"),
        "numpy": numpy.__version__,
        "matplotlib": version("matplotlib"),
        "curvax": version("curvax"),
        "backend": device.platform,
        "device": str(device),
        "device_kind": getattr(device, "device_kind", None),
        "x64": bool(jax.config.jax_enable_x64),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "xla_flags": os.environ.get("XLA_FLAGS"),
    }

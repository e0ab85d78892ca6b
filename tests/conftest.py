"""Test-wide settings: float64 everywhere (the project's convention for tests), and a
faster-compiling XLA CPU pipeline.

The suite is dominated by compiling small while-loops. XLA:CPU's fusion emitters make
those compiles about 35% slower here (the quickstart config: 67 s -> 44 s of CPU time with
them off), and no test measures run time, so they are switched off unless the caller has
set XLA_FLAGS already. This must happen before JAX creates its CPU backend. The flag is set
only where the installed jaxlib knows it (0.5.3 and later): older ones abort at backend
start on an unknown flag (experiments/xla_flags.py; importing it starts no backend).

The CLI's persistent compilation cache is off (``CURVAX_CACHE=0``) unless the caller set
CURVAX_CACHE: tests that run ``curvax run`` in-process must neither write into the user's
cache folder nor leave JAX's cache on for the rest of the session; the cache's own tests
turn it on in subprocesses with a temporary folder.
"""

import os

os.environ.setdefault("CURVAX_CACHE", "0")

from experiments.xla_flags import with_flag

_flags = with_flag(os.environ.get("XLA_FLAGS", ""), "xla_cpu_use_fusion_emitters", False)
if _flags:
    os.environ["XLA_FLAGS"] = _flags

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

"""experiments.xla_flags: a flag is added to XLA_FLAGS only where the installed jaxlib knows it.

Truth used here: flags every jaxlib since 0.4 registers (``xla_dump_to``,
``xla_force_host_platform_device_count``), a made-up name, the release that first accepts
``--xla_cpu_use_fusion_emitters`` (jaxlib 0.5.3; 0.5.1 aborts on it, checked by installing
both), and a fresh interpreter that must start its CPU backend with what ``with_flag`` built.
"""

import importlib.metadata
import os
import subprocess
import sys

import pytest

from experiments.xla_flags import known_xla_flag, with_flag


def _jaxlib_version():
    return tuple(int(p) for p in importlib.metadata.version("jaxlib").split(".")[:3] if p.isdigit())


def test_known_flags_are_found_and_made_up_ones_are_not():
    assert known_xla_flag("xla_dump_to")
    assert known_xla_flag("--xla_force_host_platform_device_count=2")
    assert not known_xla_flag("xla_cpu_no_such_flag_for_curvax")
    # A prefix or suffix of a real flag is not a flag.
    assert not known_xla_flag("xla_dump")
    assert not known_xla_flag("dump_to")
    with pytest.raises(ValueError):
        known_xla_flag("--")


def test_fusion_emitters_flag_is_known_exactly_from_jaxlib_0_5_3():
    assert known_xla_flag("xla_cpu_use_fusion_emitters") == (_jaxlib_version() >= (0, 5, 3))


def test_with_flag_appends_known_flags_and_keeps_the_callers_setting():
    assert with_flag("", "xla_dump_to", "/tmp/x") == "--xla_dump_to=/tmp/x"
    assert with_flag("--a=1", "xla_force_host_platform_device_count", 2) == (
        "--a=1 --xla_force_host_platform_device_count=2"
    )
    assert with_flag("", "--xla_cpu_use_fusion_emitters", True) in ("", "--xla_cpu_use_fusion_emitters=true")
    # The caller's own setting wins, known flag or not.
    assert with_flag("--xla_dump_to=/a", "xla_dump_to", "/b") == "--xla_dump_to=/a"
    # An unknown flag is left out rather than aborting the backend start.
    assert with_flag("--a=1", "xla_cpu_no_such_flag_for_curvax", False) == "--a=1"


def test_a_backend_starts_with_the_flags_with_flag_builds():
    flags = with_flag("", "xla_cpu_use_fusion_emitters", False)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if flags:
        env["XLA_FLAGS"] = flags
    out = subprocess.run(
        [sys.executable, "-c", "import jax.numpy as jnp; print(float(jnp.arange(4.0).sum()))"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "6.0"

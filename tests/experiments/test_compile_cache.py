"""The CLI's persistent compilation cache, the XLA options it sets, and what it imports.

Each run is a fresh ``curvax`` process (JAX decides once per process whether the cache is
used) with the cache in a temporary folder. Hits and misses are JAX's own cache events as
the run records them; nothing here is timed.
"""

import json
import os
import subprocess
import sys

import pytest

from experiments import compile_cache
from experiments.xla_flags import set_cli_flags, with_flag

CONFIG = """
name = "cached"
device = "cpu"

[budget]
max_iter = 30

[[problems]]
name = "booth"

[[optimizers]]
method = "gd"
learning_rate = 1e-2

[[optimizers]]
method = "lbfgs"
"""


def curvax(args, env_extra, cwd):
    env = {**os.environ, "CURVAX_CACHE": "1", **env_extra}
    return subprocess.run([sys.executable, "-m", "experiments", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def environment(run_dir):
    return json.loads((run_dir / "environment.json").read_text())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same config run twice with one cache folder, then once with --no-cache."""
    root = tmp_path_factory.mktemp("cache")
    config = root / "cached.toml"
    config.write_text(CONFIG)
    env = {"CURVAX_CACHE_DIR": str(root / "jax-cache")}
    procs = [curvax(["run", config, "--out", root / name, "--no-plots", *extra], env, root)
             for name, extra in (("first", []), ("second", []), ("off", ["--no-cache"]))]
    return root, procs


def test_the_second_run_loads_every_program_from_the_cache(two_runs):
    root, (first, second, _) = two_runs
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    cold, warm = environment(root / "first")["compilation_cache"], environment(root / "second")["compilation_cache"]
    assert cold["enabled"] and cold["dir"] == str(root / "jax-cache")
    assert cold["misses"] >= 2  # one program per pair at least (a program compiled twice in one run hits)
    assert warm["misses"] == 0 and warm["hits"] >= cold["misses"]
    pairs = json.loads((root / "second" / "results.json").read_text())["pairs"]
    assert [p["compile_cache"] for p in pairs] == ["hit", "hit"]
    first_pairs = json.loads((root / "first" / "results.json").read_text())["pairs"]
    assert [p["compile_cache"] for p in first_pairs] == ["miss", "miss"]
    # the traced programs too: stored by the first run, reused (not traced) by the second
    assert [p["program_reused"] for p in first_pairs] == [False, False]
    assert [p["program_reused"] for p in pairs] == [True, True]
    assert (cold["programs_traced"], warm["programs_reused"], warm["programs_traced"]) == (2, 2, 0)
    # the same numbers from a loaded program
    runs = [json.loads((root / name / "results.json").read_text())["runs"] for name in ("first", "second")]
    assert [r["f"] for r in runs[0]] == [r["f"] for r in runs[1]]


def test_no_cache_neither_reads_nor_writes_it(two_runs):
    root, (_, _, off) = two_runs
    assert off.returncode == 0, off.stderr
    record = environment(root / "off")["compilation_cache"]
    assert record["enabled"] is False and record["reason"] == "--no-cache"
    assert record["hits"] == record["misses"] == 0
    pairs = json.loads((root / "off" / "results.json").read_text())["pairs"]
    assert [p["compile_cache"] for p in pairs] == [None, None]
    assert [p["program_reused"] for p in pairs] == [None, None]


def test_an_unwritable_cache_folder_warns_once_and_the_run_succeeds(tmp_path):
    config = tmp_path / "cached.toml"
    config.write_text(CONFIG.replace('method = "lbfgs"', 'method = "gd"\nlabel = "GD2"'))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a folder below a file cannot be created, even by root
    proc = curvax(["run", config, "--out", tmp_path / "run", "--no-plots"],
                  {"CURVAX_CACHE_DIR": str(blocker / "cache")}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "cannot be written" in warnings[0] and "running without it" in warnings[0]
    record = environment(tmp_path / "run")["compilation_cache"]
    assert record["enabled"] is False and record["misses"] == 0


def test_the_config_key_turns_the_cache_off(tmp_path, monkeypatch):
    from experiments.config import loads

    spec = loads("compilation_cache = false\n" + CONFIG, check_options=False)
    assert spec.compilation_cache is False
    assert loads(CONFIG, check_options=False).compilation_cache is True
    with pytest.raises(ValueError, match="compilation_cache"):
        loads('compilation_cache = "no"\n' + CONFIG, check_options=False)


def test_cache_info_and_clear(tmp_path, monkeypatch):
    from experiments import cli

    folder = tmp_path / "c"
    monkeypatch.setenv("CURVAX_CACHE_DIR", str(folder))
    assert compile_cache.cache_dir() == folder
    assert compile_cache.info() == {"dir": str(folder), "exists": False, "entries": 0, "bytes": 0, "programs": 0}
    assert compile_cache.clear() == 0
    assert compile_cache._writable(folder) == ""  # creates it, with its tag
    (folder / "jit_solve-0123").write_bytes(b"x" * 10)
    (folder / "jit_solve-0123-atime").write_bytes(b"y" * 4)
    (folder / "programs").mkdir()
    (folder / "programs" / "0abc.jaxexport").write_bytes(b"z" * 6)
    assert compile_cache.info()["entries"] == 3 and compile_cache.info()["bytes"] == 20
    assert compile_cache.info()["programs"] == 1
    assert cli.main(["cache", "info"]) == 0
    assert cli.main(["cache", "clear"]) == 0
    assert compile_cache.info()["entries"] == 0 and (folder / compile_cache.TAG_NAME).is_file()
    # a folder curvax did not tag is never emptied
    other = tmp_path / "not-a-cache"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    monkeypatch.setenv("CURVAX_CACHE_DIR", str(other))
    assert cli.main(["cache", "clear"]) == 2
    assert (other / "precious.txt").read_text() == "keep me"


def test_the_cli_sets_its_xla_options_only_when_the_user_did_not():
    env = {}
    expected = with_flag("", "xla_cpu_use_fusion_emitters", False)
    assert set_cli_flags(env) == (expected or None)
    assert env.get("XLA_FLAGS", "") == expected
    mine = {"XLA_FLAGS": ""}  # set, even empty: the user's choice
    assert set_cli_flags(mine) is None and mine == {"XLA_FLAGS": ""}


def test_the_libraries_and_the_cli_start_do_not_import_matplotlib():
    code = ("import sys, curvature, optimizers, experiments, experiments.cli; "
            "assert 'matplotlib' not in sys.modules, sorted(m for m in sys.modules if 'matplotlib' in m)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

"""The CUTEst problems from sif2jax (optional extra ``cutest``).

Truth used here: the objective values at the SIF starts worked out by hand (ROSENBR, BEALE),
sif2jax's own ``objective(y0, args)`` and ``expected_objective_value``, and, without the
package, the install hint. The tests that need sif2jax are skipped when it is absent; they
never ``import sif2jax`` itself (``pytest.importorskip`` would: the whole package builds
every constrained problem at import, a minute or more), only the unconstrained subpackage
the registry loads.
"""

import contextlib
import csv
import importlib.util
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import cli, problems
from experiments.config import ConfigError, loads
from experiments.problems import cutest, registry

HAS_SIF2JAX = importlib.util.find_spec("sif2jax") is not None
needs_sif2jax = pytest.mark.skipif(not HAS_SIF2JAX, reason='sif2jax is not installed (pip install -e ".[cutest]")')
HINT = 'pip install -e ".[cutest]"'
ROOT = Path(__file__).resolve().parents[2]

# (registry name, sif2jax problem.name, f at the SIF start where known by hand)
CASES = [
    ("cutest_rosenbr", "ROSENBR", 24.2),           # 100 (1 - 1.44)^2 + 2.2^2 at (-1.2, 1)
    ("cutest_beale", "BEALE", 14.203125),          # 1.5^2 + 2.25^2 + 2.625^2 at (1, 1)
    ("cutest_palmer1c", "PALMER1C", None),         # data passed through args
    ("cutest_10foldtrls", "10FOLDTRLS", None),     # the class is TENFOLDTRLS (a Python name); n = 1000
]


@pytest.fixture(scope="module")
def package():
    """sif2jax's unconstrained problem instances by their SIF name (the registry's own load)."""
    problems.names("cutest")
    return {p.name: p for p in cutest.unconstrained_problems()}


# ---------------------------------------------------------------------------- without sif2jax


@pytest.fixture
def absent(monkeypatch):
    """The registry as it is where sif2jax is not installed: no CUTEst problem registered,
    the source reporting the install hint."""
    kept = {n: e for n, e in registry._REGISTRY.items() if not n.startswith(cutest.PREFIX)}
    source = registry._Deferred(cutest.PREFIX, cutest.TAGS, load=lambda: pytest.fail("loaded without sif2jax"),
                                missing=lambda: cutest.INSTALL_HINT, what="the CUTEst problems")
    monkeypatch.setattr(registry, "_REGISTRY", kept)
    monkeypatch.setattr(registry, "_DEFERRED", [source])


def call(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def test_without_sif2jax_the_problems_are_absent_and_the_hint_is_given(absent):
    assert problems.names("cutest") == [] and problems.names("cutest-small") == []
    assert not any(n.startswith("cutest_") for n in problems.names())
    assert "cutest" not in problems.tags()
    assert "rosenbrock" in problems.names() and problems.get("rosenbrock").dim == 2
    hint = r"unknown problem 'cutest_rosenbr': .*sif2jax.*" + r'pip install -e "\.\[cutest\]"'
    with pytest.raises(ValueError, match=hint):
        problems.get("cutest_rosenbr")
    with pytest.raises(ConfigError, match=r"problems\[0\]\.tag.*no problem has the tag 'cutest-small'.*cutest\]"):
        loads('name = "t"\n[[problems]]\ntag = "cutest-small"\n[[optimizers]]\nmethod = "bfgs"\n')
    with pytest.raises(ConfigError, match=r"problems\[0\]\.name.*unknown problem 'cutest_beale'.*cutest\]"):
        loads('name = "t"\n[[problems]]\nname = "cutest_beale"\n[[optimizers]]\nmethod = "bfgs"\n')
    status, _, err = call(["list", "problems", "--tag", "cutest"])
    assert status == 2 and "no problem has the tag 'cutest'" in err and HINT in err
    # other unknown names keep the plain message, with no hint they do not need
    with pytest.raises(ValueError, match="known problems: ackley") as info:
        problems.get("rosenbrok")
    assert "cutest" not in str(info.value)


def test_an_installed_package_that_fails_to_import_is_named(absent, monkeypatch):
    def broken():
        raise ImportError("sif2jax needs jax >= 0.7.2")

    source = registry._Deferred(cutest.PREFIX, cutest.TAGS, load=broken, missing=lambda: None,
                                what="the CUTEst problems")
    monkeypatch.setattr(registry, "_DEFERRED", [source])
    assert problems.names("cutest") == [] and "rosenbrock" in problems.names()
    with pytest.raises(ValueError, match=r"cutest_rosenbr': the CUTEst problems could not be loaded "
                                         r"\(ImportError: sif2jax needs jax >= 0.7.2\)"):
        problems.get("cutest_rosenbr")


def test_importing_the_registry_loads_nothing_of_sif2jax():
    code = ("import sys, experiments.problems as p; p.names('mgh'); p.get('rosenbrock'); "
            "print(sorted(m for m in sys.modules if 'sif2jax' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- with sif2jax


@needs_sif2jax
@pytest.mark.parametrize("name, cls, f0", CASES, ids=[c[0] for c in CASES])
def test_problem_matches_the_package(package, name, cls, f0):
    source = package[cls]
    p = problems.get(name)
    assert p.name == name and "cutest" in p.tags
    assert p.description.startswith(f"CUTEst {cls} (sif2jax), n = {p.dim}")
    y0 = np.asarray(source.y0, dtype=np.float64)
    assert p.dim == y0.size and p.x0.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(p.x0), y0)
    value = float(jax.jit(p.fun)(p.x0))
    np.testing.assert_allclose(value, float(source.objective(source.y0, source.args)), rtol=1e-14)
    if f0 is not None:
        np.testing.assert_allclose(value, f0, rtol=1e-14)
    expected = source.expected_objective_value
    assert p.f_star == (None if expected is None else float(expected))
    assert p.x_star is None  # sif2jax's expected_result is not always a minimizer (HIMMELBCLS)
    assert (p.dim <= 100) == ("cutest-small" in p.tags)


@needs_sif2jax
def test_tags_split_by_size(package):
    every = problems.names("cutest")
    assert len(every) == len(package) >= 150 and set(every) <= set(problems.names())
    small, medium, large = (set(problems.names(t)) for t in ("cutest-small", "cutest-medium", "cutest-large"))
    assert small | medium | large == set(every) and not (small & medium or small & large or medium & large)
    dims = {cutest.registry_name(p): math.prod(jax.eval_shape(lambda p=p: p.y0).shape) for p in package.values()}
    assert small == {n for n, d in dims.items() if d <= 100}
    assert medium == {n for n, d in dims.items() if 100 < d <= 1000}
    assert {"cutest_rosenbr", "cutest_beale"} <= small and "cutest_10foldtrls" in medium
    assert {"cutest", "cutest-small"} <= set(problems.tags())


@needs_sif2jax
def test_every_small_problem_builds_in_float64_and_keeps_float32(package):
    for name in problems.names("cutest-small"):
        p = problems.get(name)
        assert p.dim <= 100 and p.x0.shape == (p.dim,) and p.x0.dtype == jnp.float64, name
        assert np.all(np.isfinite(np.asarray(p.x0))), name
        value = jax.eval_shape(p.fun, jax.ShapeDtypeStruct((p.dim,), jnp.float32))  # traced, not compiled
        assert value.shape == () and value.dtype == jnp.float32, name


@needs_sif2jax
def test_a_tiny_cutest_config_runs_through_the_cli(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("""
name = "tiny_cutest"
dtype = "float64"
device = "cpu"
[budget]
max_iter = 100
gtol = 1e-8
[[problems]]
name = "cutest_rosenbr"
[[problems]]
name = "cutest_beale"
[[optimizers]]
method = "trust-ncg"
label = "Trust-NCG"
[plots]
x_axis = ["iteration"]
trajectories = false
curvature = false
""")
    status, out, err = call(["run", config, "--out", tmp_path / "run", "--no-plots"])
    assert status == 0, err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    runs = {r["problem"]: r for r in results["runs"]}
    assert set(runs) == {"cutest_rosenbr", "cutest_beale"}
    for name, run in runs.items():
        assert run["success"] and run["f_star"] == 0.0 and abs(run["f"]) < 1e-12, name
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("cutest_")] == [
        ["cutest_rosenbr", "Trust-NCG"], ["cutest_beale", "Trust-NCG"]]
    with open(tmp_path / "run" / "solved.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["label"], r["solved"], r["total"]) for r in rows] == [("Trust-NCG", "2", "2")]

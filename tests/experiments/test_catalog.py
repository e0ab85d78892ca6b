"""``curvax list`` reads a committed catalog instead of importing JAX; the catalog must equal
what the live registries say, and listing must not import JAX."""

import json
import subprocess
import sys

from experiments import catalog


def test_the_committed_catalog_matches_the_registries():
    live = catalog.build()
    stored = catalog.load()
    assert stored == json.loads(json.dumps(live)), (
        "experiments/catalog.json is stale: regenerate it with `python -m experiments.catalog`")
    names = {p["name"] for p in stored["problems"]}
    assert {"rosenbrock", "himmelblau", "booth"} <= names
    rosenbrock = next(p for p in stored["problems"] if p["name"] == "rosenbrock")
    assert rosenbrock["dim"] == 2 and "2d" in rosenbrock["tags"] and rosenbrock["description"]
    assert [m["name"] for m in stored["methods"]][:3] == ["gd", "momentum", "adam"]
    assert all(m["doc"] for m in stored["methods"])


def _listing(args):
    code = ("import sys; from experiments import cli; status = cli.main(%r); "
            "assert 'jax' not in sys.modules and 'numpy' not in sys.modules, 'imported jax'; "
            "sys.exit(status)" % (args,))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_listing_problems_and_methods_does_not_import_jax():
    problems = _listing(["list"])
    assert problems.returncode == 0, problems.stderr
    lines = problems.stdout.splitlines()
    assert lines[0].split() == ["name", "dim", "tags", "description"]
    row = next(line for line in lines if line.startswith("rosenbrock "))
    assert row.split()[1] == "2" and "Rosenbrock" in row
    methods = _listing(["list", "methods", "--long"])
    assert methods.returncode == 0, methods.stderr
    assert methods.stdout.splitlines()[0].startswith("gd ") and "options: learning_rate=" in methods.stdout
    tagged = _listing(["list", "--tag", "2d"])
    assert tagged.returncode == 0 and "himmelblau" in tagged.stdout and "bard " not in tagged.stdout
    unknown = _listing(["list", "--tag", "no-such-tag"])
    assert unknown.returncode == 2 and "no problem has the tag 'no-such-tag'" in unknown.stderr


def test_version_and_help_of_every_command():
    out = subprocess.run([sys.executable, "-m", "experiments", "--version"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("curvax ")
    for command in ("run", "resume", "plot", "list", "cache"):
        proc = subprocess.run([sys.executable, "-m", "experiments", command, "--help"], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0 and len(proc.stdout.split()) > 40, command  # a description, not just usage

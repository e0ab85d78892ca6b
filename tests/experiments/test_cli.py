"""End to end through the command line: a tiny config is run, interrupted with Ctrl-C after
three of its four pairs, resumed, and its records, summary table and plots are checked
against analytic values (f at the start, Hessian eigenvalues, known minimizers)."""

import contextlib
import csv
import io
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import optimizers
from experiments import cli, problems, runner
from experiments.records import RESULT_FIELDS, TRACE_COLUMNS

TINY = """
name = "tiny"
seed = 3
dtype = "float64"
device = "cpu"

[budget]
max_iter = 20
gtol = 1e-10

[[problems]]
name = "booth"            # (x + 2y - 7)^2 + (2x + y - 5)^2: Hessian [[10, 8], [8, 10]], minimum (1, 3)
starts = 3

[[problems]]
name = "rosenbrock"       # standard start (-1.2, 1), f = 24.2

[[optimizers]]
method = "gd"
label = "GD"
learning_rate = 1e-3

[[optimizers]]
method = "trust-ncg"
label = "Trust-NCG"

[plots]
x_axis = ["iteration", "time"]
"""
PNG = b"\x89PNG\r\n\x1a\n"


def call(argv):
    """Run the CLI in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Run TINY, Ctrl-C at the 4th pair, snapshot the run folder, then resume it."""
    root = tmp_path_factory.mktemp("tiny")
    config = root / "tiny.toml"
    config.write_text(TINY)
    run_dir = root / "run"
    real = runner.run_pair
    calls = []

    def interrupting(*args, **kwargs):
        calls.append(args[1].label)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "run_pair", interrupting)
        interrupted = call(["run", config, "--out", run_dir, "--no-plots"])
    snapshot = {
        "results": json.loads((run_dir / "results.json").read_text()),
        "trace": (run_dir / "trace.csv").read_text(),
    }
    resumed_calls = []

    def counting(*args, **kwargs):
        resumed_calls.append(args[1].label)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "run_pair", counting)
        resumed = call(["resume", run_dir])
    return {"config": config, "dir": run_dir, "interrupted": interrupted, "snapshot": snapshot,
            "resumed": resumed, "resumed_calls": resumed_calls}


def read_trace(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows


def test_ctrl_c_keeps_the_finished_pairs(stored):
    status, _, err = stored["interrupted"]
    assert status == 130
    assert "interrupted" in err and "curvax resume" in err
    results = stored["snapshot"]["results"]
    assert results["status"] == "interrupted" and results["finished"]
    pairs = [(p["problem"], p["label"]) for p in results["pairs"]]
    assert pairs == [("booth", "GD"), ("booth", "Trust-NCG"), ("rosenbrock", "GD")]
    assert len(results["runs"]) == 3 + 3 + 1
    rows = list(csv.DictReader(io.StringIO(stored["snapshot"]["trace"])))
    assert {int(r["run"]) for r in rows} == {r["run"] for r in results["runs"]}
    assert not list(stored["dir"].glob(".*.tmp"))  # no temporary file left behind


def test_resume_runs_only_the_missing_pair(stored):
    status, out, _ = stored["resumed"]
    assert status == 0
    assert stored["resumed_calls"] == ["rosenbrock"]
    results = json.loads((stored["dir"] / "results.json").read_text())
    assert results["status"] == "complete" and len(results["resumed"]) == 1
    assert len(results["pairs"]) == 4 and len(results["runs"]) == 8
    ids = [r["run"] for r in results["runs"]]
    assert len(set(ids)) == len(ids)
    assert "rosenbrock" in out and "Trust-NCG" in out


def test_record_files(stored):
    run_dir = stored["dir"]
    assert (run_dir / "config.toml").read_text() == stored["config"].read_text()
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["jax"] == jax.__version__ and env["backend"] == "cpu" and env["x64"] is True
    for key in ("python", "platform", "device", "jaxlib"):
        assert env[key]
    results = json.loads((run_dir / "results.json").read_text())
    for run in results["runs"]:
        assert set(RESULT_FIELDS) <= set(run)
        assert run["evaluations"] == run["nfev"] + run["ngev"] + 2 * run["nhvp"]
        assert run["gap"] == pytest.approx(run["f"] - 0.0)  # both problems have f* = 0
        assert run["message"] == optimizers.STATUS_MESSAGES[run["status"]]
        assert run["success"] == (run["status"] == 0)
        assert run["compile_seconds"] > 0 and run["run_seconds"] > 0
    booth = [r for r in results["runs"] if r["problem"] == "booth"]
    assert [r["start"] for r in booth] == [0, 1, 2, 0, 1, 2] and all(r["batch"] == 3 for r in booth)
    newton_like = [r for r in booth if r["label"] == "Trust-NCG"]
    assert all(r["success"] and r["f"] < 1e-16 for r in newton_like)


def test_tidy_trace_columns_and_rows(stored):
    run_dir = stored["dir"]
    with open(run_dir / "trace.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == TRACE_COLUMNS
    rows = read_trace(run_dir / "trace.csv")
    results = json.loads((run_dir / "results.json").read_text())
    for run in results["runs"]:
        mine = [r for r in rows if int(r["run"]) == run["run"]]
        assert [int(r["iteration"]) for r in mine] == list(range(run["nit"] + 1))
        assert {(r["problem"], r["label"], r["method"], int(r["start"])) for r in mine} == {
            (run["problem"], run["label"], run["method"], run["start"])}
        last = mine[-1]
        assert float(last["f"]) == pytest.approx(run["f"], rel=1e-12, abs=1e-300)
        assert float(last["evaluations"]) == run["evaluations"]
        for r in mine:
            assert float(r["evaluations"]) == float(r["nfev"]) + float(r["ngev"]) + 2 * float(r["nhvp"])
        times = np.array([float(r["time"]) for r in mine])
        assert np.all(np.isfinite(times)) and np.all(np.diff(times) >= 0) and times[0] >= 0
        x, y = float(mine[0]["x"]), float(mine[0]["y"])
        if run["problem"] == "rosenbrock":
            assert (x, y) == (-1.2, 1.0)
            assert float(mine[0]["f"]) == pytest.approx(24.2, rel=1e-14)
            # Hessian of Rosenbrock at (-1.2, 1): [[1200 x^2 - 400 y + 2, -400 x], [-400 x, 200]]
            h = np.array([[1200 * x * x - 400 * y + 2, -400 * x], [-400 * x, 200.0]])
            lo, hi = np.linalg.eigvalsh(h)
        else:
            assert float(mine[0]["f"]) == pytest.approx((x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2, rel=1e-13)
            lo, hi = 2.0, 18.0  # eigenvalues of [[10, 8], [8, 10]] at every iterate
            for r in mine:
                assert float(r["eig_min"]) == pytest.approx(2.0, rel=1e-10)
                assert float(r["eig_max"]) == pytest.approx(18.0, rel=1e-10)
            if run["label"] == "Trust-NCG":
                assert (float(last["x"]), float(last["y"])) == pytest.approx((1.0, 3.0), abs=1e-8)
        assert float(mine[0]["eig_min"]) == pytest.approx(lo, rel=1e-10)
        assert float(mine[0]["eig_max"]) == pytest.approx(hi, rel=1e-10)


def test_starts_are_shared_by_every_method(stored):
    rows = read_trace(stored["dir"] / "trace.csv")
    starts = {}
    for r in rows:
        if r["problem"] == "booth" and r["iteration"] == "0":
            starts.setdefault(r["label"], {})[int(r["start"])] = (float(r["x"]), float(r["y"]))
    assert starts["GD"] == starts["Trust-NCG"]
    box_lo, box_hi = problems.get("booth").box
    assert all(box_lo <= c <= box_hi for xy in starts["GD"].values() for c in xy)


def test_summary_table(stored):
    _, out, _ = stored["resumed"]
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["problem", "method", "starts", "f"]
    body = [line for line in lines[2:] if line.startswith(("booth", "rosenbrock"))]
    assert [line.split()[:3] for line in body] == [
        ["booth", "GD", "3"], ["booth", "Trust-NCG", "3"], ["rosenbrock", "GD", "1"], ["rosenbrock", "Trust-NCG", "1"]]
    assert body[1].split()[-1] == "3/3" and body[2].split()[-1] == "0/1"
    assert max(len(line) for line in out.splitlines()) <= 100
    reasons = lines[lines.index("not converged:") + 1:]
    assert any(line.startswith("  maximum number of iterations reached:") and "GD" in line for line in reasons)


def test_run_writes_the_plots(stored):
    names = sorted(p.name for p in (stored["dir"] / "plots").iterdir())
    assert names == ["convergence_iteration.png", "convergence_time.png", "curvature.png", "profile.png",
                     "trajectories_booth.png", "trajectories_rosenbrock.png"]
    for name in names:
        assert (stored["dir"] / "plots" / name).read_bytes()[:8] == PNG


def test_plot_redraws_a_stored_run(stored, tmp_path):
    status, out, _ = call(["plot", stored["dir"], "--out", tmp_path])
    assert status == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in (stored["dir"] / "plots").iterdir())
    assert len(out.splitlines()) == len(written)


def test_plot_and_resume_refuse_what_they_cannot_use(stored, tmp_path):
    status, _, err = call(["plot", tmp_path])
    assert status == 2 and "no results.json" in err
    status, _, err = call(["resume", stored["dir"]])
    assert status == 2 and "complete" in err


def test_bad_config_exits_2_and_writes_nothing(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(TINY.replace('method = "gd"', 'method = "gradient-ascent"'))
    out = tmp_path / "out"
    status, stdout, err = call(["run", config, "--out", out])
    assert status == 2 and stdout == ""
    assert f"{config}: optimizers[0].method (the 1st [[optimizers]] table): unknown method" in err
    assert not out.exists()
    status, _, _ = call(["run", config, "--runs-dir", tmp_path / "runs"])
    assert status == 2 and not (tmp_path / "runs").exists()


def test_out_must_be_new_or_empty(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    status, _, err = call(["run", config, "--out", tmp_path / "full"])
    assert status == 2 and "not an empty folder" in err
    assert (tmp_path / "full" / "x").read_text() == "keep me"


@pytest.mark.skipif(any(d.platform == "gpu" for d in jax.devices()), reason="a GPU is present")
def test_gpu_requested_without_one(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    status, _, err = call(["run", config, "--out", tmp_path / "o", "--device", "gpu"])
    assert status == 2 and "JAX sees no GPU" in err
    assert not (tmp_path / "o").exists()


def test_list_names_every_method_and_problem():
    status, out, _ = call(["list", "methods"])
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == optimizers.method_names()
    status, out, _ = call(["list", "problems", "--tag", "2d"])
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["name", "dim", "tags", "description"]
    assert [line.split()[0] for line in lines[1:]] == problems.names("2d")
    assert all(line.split()[1] == "2" for line in lines[1:])  # the dimension column
    status, _, err = call(["list", "problems", "--tag", "nonesuch"])
    assert status == 2 and "nonesuch" in err


def test_python_dash_m_is_the_same_command():
    proc = subprocess.run([sys.executable, "-m", "experiments", "list", "methods"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.split()[0] == optimizers.method_names()[0]


def test_a_pair_that_minimize_refuses_fails_the_run_cleanly(tmp_path, monkeypatch):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)

    def refuse(spec, problem, opt, x0s, device=None, placement=None, ps=None):
        raise ValueError(f"method {opt.method!r}: cannot run this problem")

    monkeypatch.setattr(runner, "compile_pair", refuse)
    status, out, err = call(["run", config, "--out", tmp_path / "o"])
    assert status == 1 and out == ""
    assert "problems[0] (booth) with optimizers[0] (GD): method 'gd': cannot run this problem" in err
    assert json.loads((tmp_path / "o" / "results.json").read_text())["status"] == "failed"

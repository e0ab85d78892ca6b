"""Faults and signals never lose a finished pair or end in a traceback: a full disk, a
read-only folder, SIGTERM and Ctrl-C (real subprocesses), two runs into one folder, damaged
records, an edited config on resume, colliding figure names, the user's umask.

Every case runs the same cheap config (gradient descent, a few iterations, no time axis or
curvature, so a run compiles two small programs)."""

import contextlib
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments import cli, files
from experiments.records import load_run, read_trace
from experiments.run_lock import LOCK_NAME, RunLock

CHEAP = """
name = "cheap"
seed = 1
device = "cpu"

[budget]
max_iter = 8

[[problems]]
name = "booth"
starts = 2

[[problems]]
name = "rosenbrock"

[[optimizers]]
method = "gd"
label = "GD"
learning_rate = 1e-3

[plots]
x_axis = ["iteration"]
trajectories = false
curvature = false
"""
ROOT = Path(__file__).resolve().parents[2]


def call(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def one_line_error(err):
    errors = [line for line in err.splitlines() if line.startswith("curvax: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.fixture()
def config(tmp_path):
    path = tmp_path / "cheap.toml"
    path.write_text(CHEAP)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One complete run of CHEAP, copied by the tests that damage it."""
    root = tmp_path_factory.mktemp("finished")
    (root / "cheap.toml").write_text(CHEAP)
    status, _, err = call(["run", root / "cheap.toml", "--out", root / "run", "--no-plots"])
    assert status == 0, err
    return root / "run"


def assert_consistent(run_dir):
    """Every run results.json lists has its rows in trace.csv; no temporary file is left."""
    results = json.loads((run_dir / "results.json").read_text())
    ids = set(read_trace(run_dir / "trace.csv")["run"].tolist())
    assert {r["run"] for r in results["runs"]} <= ids
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(files.TEMP_SUFFIX)]
    return results


# --------------------------------------------------------------- a full disk, a read-only folder


class Fault:
    """os.write / os.open failing with ``code`` from the ``after``-th call on (in files.py)."""

    def __init__(self, code, after, call_name):
        self.code, self.after, self.name, self.calls = code, after, call_name, 0
        self.real = getattr(os, call_name)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.after:
            raise OSError(self.code, os.strerror(self.code))
        return self.real(*args, **kwargs)


@pytest.mark.parametrize("code, call_name, after, reason", [
    # the k-th write on: the lock, the config copy, the first results.json, the first pair's
    # trace rows and its results, the second pair; EROFS: nothing can be created
    (errno.ENOSPC, "write", 0, "No space left on device"),
    (errno.ENOSPC, "write", 2, "No space left on device"),
    (errno.ENOSPC, "write", 4, "No space left on device"),
    (errno.ENOSPC, "write", 5, "No space left on device"),
    (errno.ENOSPC, "write", 6, "No space left on device"),
    (errno.ENOSPC, "write", 7, "No space left on device"),
    (errno.EROFS, "open", 0, "Read-only file system"),
])
def test_a_write_fault_stops_the_run_with_one_line_and_resume_finishes_it(config, tmp_path, monkeypatch, code,
                                                                         call_name, after, reason):
    run_dir = tmp_path / "run"
    fault = Fault(code, after, call_name)
    with monkeypatch.context() as mp:
        mp.setattr(files.os, call_name, fault)
        status, _, err = call(["run", config, "--out", run_dir, "--no-plots"])
    assert status == 1
    line = one_line_error(err)
    assert reason in line and str(run_dir) in line
    if not (run_dir / "results.json").exists():
        return  # nothing was recorded: there is nothing to resume
    kept = assert_consistent(run_dir)
    assert kept["status"] in ("failed", "running")
    status, _, err = call(["resume", run_dir, "--no-plots"])
    assert status == 0, err
    results = assert_consistent(run_dir)
    assert results["status"] == "complete" and len(results["runs"]) == 3
    done = {(r["problem"], r["label"], r["start"]) for r in kept["runs"]}
    assert done <= {(r["problem"], r["label"], r["start"]) for r in results["runs"]}


def test_unwritable_figures_leave_complete_records(finished, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    (run_dir / "plots").write_text("a file where the figures go")
    status, _, err = call(["plot", run_dir])
    assert status == 1
    assert "plots" in one_line_error(err) and "not a folder" in err


# --------------------------------------------------------------- signals, in real subprocesses


def _spawn(config, out):
    code = ("import sys; from experiments import cli; sys.stderr.write('ready\\n'); sys.stderr.flush(); "
            "sys.exit(cli.main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", code, "run", str(config), "--out", str(out), "--no-plots"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)


def _wait_for(proc, text, timeout=120):
    seen, t0 = [], time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}: {''.join(seen)}")


FOUR_PAIRS = CHEAP + """
[[optimizers]]
method = "momentum"
label = "Momentum"
learning_rate = 1e-3
"""


@pytest.mark.parametrize("sig, when, expected", [
    (signal.SIGINT, "ready", 130),      # Ctrl-C while JAX is still being imported
    (signal.SIGTERM, "ready", 143),
    (signal.SIGTERM, "2/4", 143),       # a scheduler's kill while the 3rd and 4th pairs compile
])
def test_a_signal_stops_the_run_and_keeps_what_finished(tmp_path, sig, when, expected):
    config = tmp_path / "four.toml"
    config.write_text(FOUR_PAIRS)
    out = tmp_path / "run"
    proc = _spawn(config, out)
    try:
        _wait_for(proc, when)
        if when == "ready":
            time.sleep(0.2)  # past main()'s first line, inside the imports of JAX (a second or more)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == expected, err
    assert "Traceback" not in err and "interrupted (" in err
    if (out / "results.json").exists():
        results = assert_consistent(out)
        assert results["status"] == "interrupted"
        assert len(results["pairs"]) < 4
        if when == "2/4":
            assert len(results["pairs"]) == 2
            status, _, err = call(["resume", out, "--no-plots"])
            assert status == 0, err
            assert assert_consistent(out)["status"] == "complete"
    assert not (out / LOCK_NAME).exists()


# --------------------------------------------------------------- one writer per folder


def test_two_runs_into_one_folder_at_once_one_refuses(config, tmp_path):
    out = tmp_path / "run"
    procs = [_spawn(config, out) for _ in range(2)]
    errs = []
    for p in procs:
        try:
            errs.append(p.communicate(timeout=180)[1])
        finally:
            p.kill()
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], errs
    loser = errs[[p.returncode for p in procs].index(2)]
    assert "another curvax run" in loser or "not an empty folder" in loser
    assert json.loads((out / "results.json").read_text())["status"] == "complete"


def test_a_live_lock_refuses_and_a_stale_one_is_taken_over(finished, config, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    results["status"] = "interrupted"
    (run_dir / "results.json").write_text(json.dumps(results))
    with RunLock(run_dir):  # this test process: alive
        status, _, err = call(["resume", run_dir, "--no-plots"])
        assert status == 2 and f"pid {os.getpid()}" in one_line_error(err)
        status, _, err = call(["run", config, "--out", run_dir])
        assert status == 2
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (run_dir / LOCK_NAME).write_text(f"{dead.pid} {socket.gethostname()}\n")
    status, _, err = call(["resume", run_dir, "--no-plots"])
    assert status == 0, err
    assert not (run_dir / LOCK_NAME).exists()


# --------------------------------------------------------------- what resume and plot read


def _interrupted_run(config, run_dir, monkeypatch):
    from experiments import runner

    real, calls = runner.run_pair, []

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(runner, "run_pair", interrupting)
        status, _, _ = call(["run", config, "--out", run_dir, "--no-plots"])
    assert status == 130


def test_resume_refuses_an_edited_config_and_cleans_temporaries(config, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _interrupted_run(config, run_dir, monkeypatch)
    stored = run_dir / "config.toml"
    original = stored.read_text()
    stored.write_text(original.replace("max_iter = 8", "max_iter = 80"))
    status, _, err = call(["resume", run_dir, "--no-plots"])
    assert status == 2 and "edited after the run started" in one_line_error(err)
    stored.write_text(original)
    (run_dir / ".results.json.dead.tmp").write_text("left by a kill")
    status, _, err = call(["resume", run_dir, "--no-plots"])
    assert status == 0, err
    assert assert_consistent(run_dir)["status"] == "complete"


def _damage(run_dir, name, how):
    path = run_dir / name
    text = path.read_text()
    if how == "delete":
        path.unlink()
    elif how == "empty":
        path.write_text("")
    elif how == "truncate":
        path.write_text(text[: len(text) // 2] + "\n")
    elif how == "binary":
        path.write_bytes(b"\xff\xfe\x00garbage")
    elif how == "list":
        path.write_text("[1, 2, 3]")
    elif how == "no runs":
        data = json.loads(text)
        del data["runs"]
        path.write_text(json.dumps(data))
    elif how == "run lacks nit":
        data = json.loads(text)
        del data["runs"][1]["nit"]
        path.write_text(json.dumps(data))
    elif how == "header":
        path.write_text("a,b,c\n1,2,3\n")
    elif how == "bad number":
        lines = text.splitlines(keepends=True)
        fields = lines[2].split(",")
        fields[6] = "twelve"
        lines[2] = ",".join(fields)
        path.write_text("".join(lines))
    elif how == "short row":
        lines = text.splitlines(keepends=True)
        lines[3] = "0,booth\n"
        path.write_text("".join(lines))


@pytest.mark.parametrize("name, how, says", [
    ("results.json", "empty", "is empty"),
    ("results.json", "truncate", "not valid JSON"),
    ("results.json", "binary", "not UTF-8"),
    ("results.json", "list", "expected a JSON object"),
    ("results.json", "no runs", "'runs' is missing"),
    ("results.json", "run lacks nit", "runs[1] lacks the field(s) nit"),
    ("trace.csv", "delete", "missing"),
    ("trace.csv", "header", "unexpected columns"),
    ("trace.csv", "bad number", "line 3, column 'f'"),
    ("trace.csv", "short row", "line 4 has 2 fields"),
    ("trace.csv", "binary", "not UTF-8"),
])
def test_plot_names_the_damaged_file_and_the_fault(finished, tmp_path, name, how, says):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    _damage(run_dir, name, how)
    status, out, err = call(["plot", run_dir])
    assert status == 2 and out == ""
    line = one_line_error(err)
    assert name in line and says in line
    assert not (run_dir / "plots").exists()


def test_a_torn_last_trace_row_is_dropped_not_fatal(finished, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    whole = read_trace(run_dir / "trace.csv")["run"].size
    with open(run_dir / "trace.csv", "a") as fh:
        fh.write("2,rosenbrock,GD,gd,0,9,1.5")  # a kill in the middle of an append
    assert read_trace(run_dir / "trace.csv")["run"].size == whole
    assert len(load_run(run_dir).results["runs"]) == 3


# --------------------------------------------------------------- bad arguments and config files


@pytest.mark.parametrize("case, says", [
    ("binary config", "not a text file"),
    ("latin-1 config", "not UTF-8 text"),
    ("--out under a file", "Not a directory"),
    ("--out is a file", "exists and is not a folder"),
    ("--runs-dir is a file", "--runs-dir"),
])
def test_bad_paths_and_config_files_get_one_line(config, tmp_path, case, says):
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file")
    argv = ["run", config, "--no-plots"]
    if case == "binary config":
        config.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(64))
    elif case == "latin-1 config":
        config.write_bytes(CHEAP.replace('label = "GD"', 'label = "Gradient d\xe9scent"').encode("latin-1"))
    elif case == "--out under a file":
        argv += ["--out", blocker / "run"]
    elif case == "--out is a file":
        argv += ["--out", blocker]
    elif case == "--runs-dir is a file":
        argv += ["--runs-dir", blocker]
    status, _, err = call(argv)
    assert status in (1, 2)
    assert says in one_line_error(err)
    assert blocker.read_text() == "a regular file"


def test_a_config_with_a_byte_order_mark_runs(config, tmp_path):
    config.write_bytes(b"\xef\xbb\xbf" + CHEAP.encode())
    status, _, err = call(["run", config, "--out", tmp_path / "run", "--no-plots"])
    assert status == 0, err
    assert (tmp_path / "run" / "config.toml").read_text() == CHEAP


# --------------------------------------------------------------- names and modes of what is written


def test_figures_of_labels_that_slug_alike_do_not_overwrite(tmp_path):
    config = tmp_path / "two.toml"
    config.write_text(CHEAP.replace('name = "rosenbrock"', 'name = "booth"\nlabel = "booth-a"')
                      .replace('name = "booth"\nstarts = 2', 'name = "booth"\nlabel = "Booth A"\nstarts = 2')
                      .replace("trajectories = false", "trajectories = true"))
    old = os.umask(0o027)
    try:
        status, _, err = call(["run", config, "--out", tmp_path / "run"])
    finally:
        os.umask(old)
    assert status == 0, err
    figures = sorted(p.name for p in (tmp_path / "run" / "plots").glob("trajectories_*.png"))
    assert figures == ["trajectories_booth_a.png", "trajectories_booth_a_2.png"]
    written = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert len(written) >= 6
    for p in written:
        assert p.stat().st_mode & 0o777 == 0o640, p  # 0666 less the umask, like any program's files


# --------------------------------------------------------------- sizes, seeds, the summary


@pytest.mark.parametrize("edit, key", [
    (('name = "booth"\nstarts = 2', 'name = "extended_rosenbrock"\ndim = 1e12'), "problems[0]"),
    (("starts = 2", "starts = 1000000000"), "optimizers[0]"),
    (("max_iter = 8", "max_iter = 1000000000"), "optimizers[0]"),
    (('method = "gd"\nlabel = "GD"\nlearning_rate = 1e-3', 'method = "lbfgs"\nlabel = "GD"\nmemory_size = 1000000000'),
     "optimizers[0]"),
])
def test_absurd_sizes_are_refused_before_allocating_with_the_memory_they_need(config, tmp_path, edit, key):
    config.write_text(CHEAP.replace(*edit))
    t0 = time.monotonic()
    status, out, err = call(["run", config, "--out", tmp_path / "run"])
    assert status == 2 and out == ""
    line = one_line_error(err)
    assert key in line and "GiB" in line and "would need" in line
    assert not (tmp_path / "run").exists()
    assert time.monotonic() - t0 < 60  # refused up front, not after filling the memory


def test_seeds_are_used_whole():
    import jax

    from experiments.starts import seed_key

    assert seed_key(7).tolist() == jax.random.PRNGKey(7).tolist()  # the same key below 2**32
    assert seed_key(2**32 + 7).tolist() != seed_key(7).tolist()
    assert seed_key(2**63 - 1).tolist() == [2**31 - 1, 2**32 - 1]
    with pytest.raises(ValueError, match="seed"):
        seed_key(-1)


def test_float32_runs_tell_seeds_apart_above_32_bits(config, tmp_path):
    firsts = []
    for seed in (5, 2**32 + 5):
        config.write_text(CHEAP.replace("seed = 1", f'seed = {seed}\ndtype = "float32"'))
        status, _, err = call(["run", config, "--out", tmp_path / str(seed), "--no-plots"])
        assert status == 0, err
        trace = read_trace(tmp_path / str(seed) / "trace.csv")
        firsts.append(float(trace["f"][0]))
    assert firsts[0] != firsts[1]


def test_summary_counts_each_failure_reason():
    from experiments.report import summary_rows

    messages = ["converged: ...", "maximum number of iterations reached", "no further progress: ...",
                "maximum number of iterations reached", "f or its gradient is not finite at x0"]
    runs = [{"problem": "p", "label": "A", "f": 1.0, "f_star": None, "gap": None, "nit": 1, "evaluations": 2,
             "status": i, "success": m.startswith("converged"), "message": m} for i, m in enumerate(messages)]
    status = summary_rows({"runs": runs, "pairs": []})[0]["status"]
    assert status == ("converged 1/5, maximum number of iterations reached 2, no further progress 1, "
                      "f or its gradient is not finite at x0 1")

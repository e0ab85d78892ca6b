"""Two processes on JAX's distributed runtime (127.0.0.1, subprocesses bounded in time and
killed at the end): one run across both records every pair once, identical to the
one-process run but for the timings; a killed worker fails the run with a message naming
it, keeping the finished pairs for resume; an unreachable coordinator is one line."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = """
name = "two_processes"
[budget]
max_iter = 40
[[problems]]
name = "himmelblau"
starts = 3
[[problems]]
name = "rosenbrock"
starts = 2
[[optimizers]]
method = "lbfgs"
[[optimizers]]
method = "gd"
learning_rate = 0.001
[plots]
x_axis = ["iteration"]
curvature = false
"""
TIMINGS = {"run_seconds", "compile_seconds"}
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]), "CURVAX_CACHE": "0"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _curvax(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "experiments", *args], cwd=kw.pop("cwd"), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _finish(procs, timeout=240):
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=timeout)
            out.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return out


def _flags(port, pid):
    return ["--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(pid),
            "--init-timeout", "60", "--heartbeat-timeout", "4"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("distributed")
    (path / "c.toml").write_text(CONFIG)
    return path


def _records(run):
    results = json.loads((run / "results.json").read_text())
    with open(run / "trace.csv") as f:
        trace = list(csv.reader(f))
    return results, trace


def test_one_run_across_two_processes_is_the_one_process_run(folder):
    port = _port()
    main = _curvax("run", "c.toml", "--out", "two", "--no-plots", *_flags(port, 0), cwd=folder)
    worker = _curvax("run", "c.toml", *_flags(port, 1), cwd=folder)
    (rc0, _, err0), (rc1, _, err1) = _finish([main, worker])
    assert rc0 == 0 and rc1 == 0, (err0[-2000:], err1[-2000:])
    assert "2 pair(s) sent to process 0; the run is complete" in err1
    assert not (folder / "runs").exists()  # the worker wrote no folder of its own
    one = _finish([_curvax("run", "c.toml", "--out", "one", "--no-plots", cwd=folder)])[0]
    assert one[0] == 0, one[2][-2000:]

    (a, ta), (b, tb) = _records(folder / "one"), _records(folder / "two")
    assert b["status"] == "complete" and len(b["runs"]) == len(a["runs"]) == 10
    assert [p["label"] for p in b["pairs"]] == [p["label"] for p in a["pairs"]]
    for x, y in zip(a["runs"], b["runs"]):  # the same records, start for start, bit for bit
        assert {k: v for k, v in x.items() if k not in TIMINGS} == {k: v for k, v in y.items() if k not in TIMINGS}
    time_col = ta[0].index("time")
    assert len(ta) == len(tb) and all([c for i, c in enumerate(r) if i != time_col] ==
                                      [c for i, c in enumerate(q) if i != time_col] for r, q in zip(ta, tb))
    assert json.loads((folder / "two" / "environment.json").read_text())["processes"] == 2


def test_a_killed_worker_fails_the_run_naming_it_and_resume_finishes_it(folder):
    port = _port()
    main = _curvax("run", "c.toml", "--out", "killed", "--no-plots", *_flags(port, 0), cwd=folder)
    worker = _curvax("run", "c.toml", *_flags(port, 1), cwd=folder)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "killed" / "results.json").exists():  # connected: process 0 has started the run
            assert time.monotonic() < deadline and main.poll() is None, main.communicate()[1][-2000:]
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        (rc0, _, err0), _ = _finish([main, worker])
    finally:
        for p in (main, worker):
            if p.poll() is None:
                p.kill()
    assert rc0 == 1, err0[-2000:]
    line = [ln for ln in err0.splitlines() if ln.startswith("curvax: error:")]
    assert len(line) == 1 and "process 1 of 2 stopped" in line[0] and "curvax resume" in line[0], err0[-2000:]
    results, _ = _records(folder / "killed")
    assert results["status"] == "failed" and 1 <= len(results["pairs"]) < 4  # process 0's own pairs kept
    kept = len(results["pairs"])
    rc, _, err = _finish([_curvax("resume", "killed", "--no-plots", cwd=folder)])[0]
    assert rc == 0, err[-2000:]
    results, _ = _records(folder / "killed")
    assert results["status"] == "complete" and len(results["pairs"]) == 4 and kept < 4


def test_an_unreachable_coordinator_is_one_line_naming_it(folder):
    port = _port()  # nothing listens there
    rc, _, err = _finish([_curvax("run", "c.toml", "--distributed", "--coordinator", f"127.0.0.1:{port}",
                                  "--num-processes", "2", "--process-id", "1", "--init-timeout", "1",
                                  cwd=folder)])[0]
    assert rc == 2
    assert err.strip() == (f"curvax: error: cannot reach the coordinator at 127.0.0.1:{port} within 1 s "
                           f"(Connection refused); start process 0 there first, or check --coordinator")


def test_half_given_coordinator_flags_are_refused(folder):
    rc, _, err = _finish([_curvax("run", "c.toml", "--distributed", "--num-processes", "2", cwd=folder)])[0]
    assert rc == 2 and "--coordinator, --num-processes and --process-id together" in err

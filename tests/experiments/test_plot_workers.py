"""Figures drawn in two processes: the same files, byte for byte, as one process draws;
a helper that is gone changes nothing but the time; when the CLI starts one."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import experiments.plots
from experiments import plot_workers
from experiments.config import loads
from experiments.plots import figure_jobs, plot_run
from experiments.spec import ConfigError

from .test_plots import synthetic_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("synthetic"))


def test_two_processes_draw_the_files_one_draws(data, tmp_path, monkeypatch):
    alone = plot_run(data, out_dir=tmp_path / "alone")
    draw_here = experiments.plots.draw_job

    def slow_here(*args):  # this process only (the helper imports its own copy): it must share
        time.sleep(0.3)
        return draw_here(*args)

    monkeypatch.setattr(experiments.plots, "draw_job", slow_here)
    with plot_workers.PlotWorkers() as workers:
        assert workers.wait_ready(120), "the helper did not start"
        shared = plot_run(data, out_dir=tmp_path / "shared", workers=workers)
        assert workers.helper_jobs >= 1
        assert workers.helper_jobs < len(figure_jobs(data, experiments.plots._plot_spec(data)))
    assert [p.name for p in shared] == [p.name for p in alone]  # in job order, whoever drew them
    for a, b in zip(alone, shared):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert not list((tmp_path / "shared").glob(".*"))


def test_without_the_helper_everything_is_drawn_here(data, tmp_path):
    alone = plot_run(data, out_dir=tmp_path / "alone")
    workers = plot_workers.PlotWorkers()
    try:
        assert workers.wait_ready(120), "the helper did not start"
        workers._proc.kill()
        workers._proc.wait(30)
        assert not workers.alive
        files = plot_run(data, out_dir=tmp_path / "after", workers=workers)
        assert workers.helper_jobs == 0
    finally:
        workers.close()
    assert [p.name for p in files] == [p.name for p in alone]


def test_a_helper_killed_while_drawing_loses_no_figure(data, tmp_path, monkeypatch):
    alone = plot_run(data, out_dir=tmp_path / "alone")
    draw_here = experiments.plots.draw_job
    monkeypatch.setattr(experiments.plots, "draw_job", lambda *a: (time.sleep(0.5), draw_here(*a))[1])
    with plot_workers.PlotWorkers() as workers:
        assert workers.wait_ready(120), "the helper did not start"
        threading.Timer(0.8, workers._proc.kill).start()  # while both draw
        files = plot_run(data, out_dir=tmp_path / "killed", workers=workers)
        assert not workers.alive
    assert [p.name for p in files] == [p.name for p in alone]
    assert all(p.is_file() for p in files)


def test_a_module_named_experiments_in_the_working_folder_does_not_shadow_curvax(tmp_path, monkeypatch):
    (tmp_path / "experiments.py").write_text("raise SystemExit('the user\'s own module')\n")
    monkeypatch.chdir(tmp_path)
    with plot_workers.PlotWorkers() as workers:
        assert workers.wait_ready(120)


def test_a_helper_that_dies_while_starting_is_not_waited_for(monkeypatch):
    monkeypatch.setattr(sys, "executable", shutil.which("false") or "/bin/false")
    polled = []
    with plot_workers.PlotWorkers() as workers:
        t0 = time.monotonic()
        assert not workers.wait_ready(60, poll=lambda: polled.append(1))
        assert time.monotonic() - t0 < 10  # not the 60 s timeout


def test_an_error_reads_as_without_the_helper(data, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with plot_workers.PlotWorkers() as workers, pytest.raises(NotADirectoryError, match="not a folder"):
        plot_run(data, out_dir=not_a_folder, workers=workers)


CONFIG = """
name = "w"
[[problems]]
name = "booth"
[[problems]]
name = "himmelblau"
[[optimizers]]
method = "gd"
[[optimizers]]
method = "lbfgs"
"""


def test_when_the_cli_starts_a_helper(monkeypatch):
    spec = loads(CONFIG, source="w.toml", check_options=False)
    monkeypatch.setattr(plot_workers, "usable_cpus", lambda: 2)
    assert plot_workers.wanted(spec)  # 3 convergence axes, 2 trajectories, a profile, curvature
    monkeypatch.setattr(plot_workers, "usable_cpus", lambda: 1)
    assert not plot_workers.wanted(spec)
    two = loads(CONFIG + "[plots]\nprocesses = 2\n", source="w.toml", check_options=False)
    assert plot_workers.wanted(two)
    monkeypatch.setattr(plot_workers, "usable_cpus", lambda: 2)
    one = loads(CONFIG + "[plots]\nprocesses = 1\n", source="w.toml", check_options=False)
    assert not plot_workers.wanted(one)
    few = loads(CONFIG + "[plots]\nx_axis = ['iteration']\ntrajectories = false\n", source="w.toml",
                check_options=False)
    assert not plot_workers.wanted(few)  # 3 figures: not worth a process


@pytest.mark.parametrize("value", ["3", "0", "true", '"two"'])
def test_processes_must_be_auto_1_or_2(value):
    with pytest.raises(ConfigError, match=r"plots\.processes.*\"auto\", 1 or 2"):
        loads(CONFIG + f"[plots]\nprocesses = {value}\n", source="w.toml", check_options=False)


def _tagged(tag: str) -> list:
    """Live processes whose environment holds ``CURVAX_TEST_TAG=tag`` (Linux's /proc)."""
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"CURVAX_TEST_TAG={tag}".encode() in env.read_bytes().split(b"\0"):
                found.append(int(env.parent.name))
        except OSError:
            pass
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists() or not hasattr(os, "killpg"), reason="needs Linux's /proc")
def test_ctrl_c_at_the_terminal_stops_both_processes_quietly(tmp_path):
    """SIGINT to the terminal's process group during a run that draws with a helper: the run
    stops as it does alone (exit 130, no traceback from either process) and no helper is
    left behind."""
    config = tmp_path / "w.toml"
    config.write_text(CONFIG + "[plots]\nprocesses = 2\n")
    tag = uuid.uuid4().hex
    code = ("import sys; from experiments import cli; sys.stderr.write('ready\\n'); sys.stderr.flush(); "
            "sys.exit(cli.main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT), CURVAX_TEST_TAG=tag)
    proc = subprocess.Popen([sys.executable, "-c", code, "run", str(config), "--out", str(tmp_path / "run")],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT,
                            start_new_session=True)
    try:
        assert proc.stderr.readline().strip() == "ready"
        time.sleep(0.5)  # the helper has started and is importing; the run imports JAX
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted (" in err
    deadline = time.monotonic() + 10
    while _tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _tagged(tag) == []

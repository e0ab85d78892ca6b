"""Drawing a run's figures in two processes at once.

Drawing is one-threaded (matplotlib's Agg) and the run leaves the other cores idle, so the
CLI starts a helper process *before* the run (``python -m experiments.plot_workers``, a
plain subprocess: nothing of the caller's script is re-run in it). It imports matplotlib,
JAX and the plotting code while the run validates and loads its programs, then waits; the
runner holds its timed calls until the helper is ready (:meth:`PlotWorkers.wait_ready`),
so no timed call shares the CPU with it. After the run both processes take figure jobs
(:func:`experiments.plots.figure_jobs`) from one list until it is empty: a thread here
hands the helper its next job whenever it finishes one. The helper decides nothing the
main process relies on: a job it fails on, or was drawing when it died, is drawn again
here, so an error reaches the user as without the helper. It computes on the CPU
(``JAX_PLATFORMS=cpu``), taking no accelerator memory from the run.

The main process sends the order as soon as the run is recorded (:meth:`PlotWorkers.begin`),
so the helper loads the records while this process prints its summary.

Protocol (one line each, on the helper's own copy of its stdout; its prints and warnings
go to stderr): helper ``ready``; main the order as JSON (run folder, output folder,
formats, compilation cache); helper ``next KEY`` (a digest of the jobs it listed: a
mismatch with this process's list gets ``stop``); main a job index or ``stop``; helper
``done I PATHS-JSON`` or ``fail I`` (each also asks for the next job).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

# Fewer expected figures than this: drawing them here is as quick as starting a helper.
MIN_JOBS = 4
# Relative cost of a figure job, by kind (others: 1), for the order jobs are handed out in.
_WEIGHT = {"animation": 4, "trajectories": 2}
# A helper that reports nothing for this long is stopped, and its job is drawn here.
STALL_S = 300.0


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def wanted(spec) -> bool:
    """Whether a run of ``spec`` should draw with a helper process: the config's
    ``[plots] processes`` (``"auto"``, 1 or 2); "auto" means two usable CPUs and at least
    :data:`MIN_JOBS` figures to draw."""
    plots = spec.plots
    if plots.processes != "auto":
        return plots.processes >= 2
    two_d = sum(1 for p in spec.problems if p.dim in (0, 2))
    expected = (len(plots.x_axis) + two_d * (int(plots.trajectories) + int(plots.animate))
                + (1 if len(spec.problems) >= 2 else 0) + int(plots.curvature) + int(plots.spectrum))
    return usable_cpus() >= 2 and expected >= MIN_JOBS


class PlotWorkers:
    """A started helper process; :meth:`draw` shares a run's figure jobs with it once.

    Use as a context manager (or call :meth:`close`): the helper is stopped on leaving,
    whether or not :meth:`draw` ran.
    """

    def __init__(self):
        root = str(Path(__file__).resolve().parents[1])  # where `experiments` is importable from
        env = dict(os.environ, JAX_PLATFORMS="cpu",
                   PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        # -P: the working directory is not put on sys.path, so a user's own `experiments`
        # module there cannot shadow curvax's
        argv = [sys.executable, "-P", "-m", "experiments.plot_workers"]
        # its own process group: a Ctrl-C at the terminal reaches the run, which stops the
        # helper; the helper never prints a KeyboardInterrupt of its own. (Not a session of
        # its own: with Linux's autogroup scheduling that would void its lower priority.)
        detach = ({"process_group": 0} if os.name == "posix"
                  else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)})
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                      text=True, bufsize=1, **detach)
        self._ready = threading.Event()
        self._settled = threading.Event()  # the helper's first line read (or its end)
        self._drawn = False
        self._stopped = False  # told to stop
        self._server = None  # the thread that hands the helper its jobs, once begun
        self._lock = threading.Lock()
        self._listed = threading.Event()  # this process has listed the jobs
        self._todo: list = []
        self._key = ""
        self._theirs: dict = {}  # job index -> files, drawn by the helper
        threading.Thread(target=self._await_ready, daemon=True).start()
        self.helper_jobs = 0  # how many of the last draw's jobs the helper drew

    def _await_ready(self) -> None:
        try:
            if self._proc.stdout.readline().strip() == "ready":
                self._ready.set()
        finally:
            self._settled.set()  # ready, or it will never be (it died while starting)

    def wait_ready(self, timeout: float, poll=None) -> bool:
        """Wait until the helper has imported what it draws with, at most ``timeout`` seconds,
        calling ``poll()`` every 0.2 s (a stop request raises there); False at once if it
        died while starting. :meth:`draw` never waits."""
        deadline = time.monotonic() + timeout
        while not self._settled.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
            if poll is not None:
                poll()
            if time.monotonic() >= deadline:
                break
        return self._ready.is_set()

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def begin(self, run_dir, out=None, formats=None) -> None:
        """Tell the helper that the run is recorded: it loads the records and lists the figure
        jobs while this process does the same (``out``/``formats`` None: the run's defaults,
        as :func:`experiments.plots.plot_run` takes them). Nothing happens if it is not ready."""
        from experiments import compile_cache

        if self._server is not None or not (self._ready.is_set() and self.alive):
            return
        cache = compile_cache.state()
        order = {"run_dir": str(run_dir), "out": None if out is None else str(out),
                 "formats": None if formats is None else list(formats),
                 "cache": cache.dir if cache is not None and cache.enabled else None}
        if self._send(json.dumps(order)):
            self._server = threading.Thread(target=self._serve, daemon=True, name="curvax-plot-jobs")
            self._server.start()

    def draw(self, data, spec, jobs, out: Path, formats) -> list[Path]:
        """Draw ``jobs`` here and in the helper (if it is ready: this never waits for it);
        returns the files in job order. One run per helper: a second call is an error."""
        if self._drawn:
            raise RuntimeError("PlotWorkers.draw: this helper has drawn a run already; start another")
        self._drawn = True
        self.begin(data.run_dir, out, formats)
        from experiments.plots import draw_job

        with self._lock:
            # the longest first (a contour map per problem), so that neither process is left
            # with a long one at the end while the other has nothing to do
            self._todo = sorted(range(len(jobs)), key=lambda i: -_WEIGHT.get(jobs[i][0], 1))
            self._key = jobs_key(jobs, out, formats)
        self._listed.set()
        files: dict[int, list] = {}
        try:
            while True:
                with self._lock:
                    if not self._todo:
                        break
                    i = self._todo.pop(0)
                files[i] = draw_job(data, spec, jobs[i], out, formats)
        except BaseException:
            with self._lock:  # the helper gets no further job; close() lets it finish its own
                self._todo.clear()
            raise
        if self._server is not None:
            self._server.join()
        theirs = self._theirs
        self.helper_jobs = len(theirs)
        for i in sorted(set(range(len(jobs))) - set(files) - set(theirs)):
            files[i] = draw_job(data, spec, jobs[i], out, formats)  # failed or lost there: here, as itself
        files.update(theirs)
        return [Path(p) for i in sorted(files) for p in files[i]]

    def _send(self, line: str) -> bool:
        try:
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
            return True
        except (OSError, ValueError):  # the helper is gone
            return False

    def _serve(self) -> None:
        """Hand the helper a job whenever it asks, until none is left or it stops answering;
        its first request carries its job list's key, which must be this process's."""
        watchdog = _Watchdog(self._proc, STALL_S)
        try:
            for line in self._proc.stdout:
                watchdog.touch()
                word, _, rest = line.strip().partition(" ")
                if word == "next":
                    if not self._listed.wait(STALL_S) or rest != self._key:  # other jobs: not ours to share
                        self._stopped = self._send("stop")
                        return
                elif word == "done":
                    i, _, paths = rest.partition(" ")
                    self._theirs[int(i)] = json.loads(paths)
                elif word != "fail":
                    continue
                with self._lock:
                    i = self._todo.pop(0) if self._todo else None
                if i is None:
                    self._stopped = self._send("stop")
                    return
                if not self._send(str(i)):
                    with self._lock:
                        self._todo.insert(0, i)
                    return
        finally:
            watchdog.cancel()

    def close(self) -> None:
        """Stop the helper (it may not have drawn anything): killed while it still imports,
        else told to stop, which it does at once."""
        self._listed.set()  # a server still waiting for the job list: it stops the helper
        if self.alive and not self._ready.is_set():
            self._proc.kill()
            self._proc.wait()
        elif self.alive and not self._stopped:
            self._stopped = self._send("stop")
        if self._stopped:  # it leaves at once (no interpreter teardown); reaped, its CPU time counts
            try:
                self._proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def jobs_key(jobs, out, formats) -> str:
    """A short digest of what is to be drawn where: both processes must list the same."""
    text = json.dumps([[list(j) for j in jobs], str(out), list(formats)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Watchdog:
    """Kills the helper when it has said nothing for ``limit`` seconds (its reader then
    sees the end of the stream)."""

    def __init__(self, proc, limit: float):
        self._proc, self._limit = proc, limit
        self._last = time.monotonic()
        self._done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def touch(self) -> None:
        self._last = time.monotonic()

    def cancel(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(1.0):
            if time.monotonic() - self._last > self._limit:
                self._proc.kill()
                return


def _helper() -> None:
    """The helper's side of the protocol (module docstring); it leaves with ``os._exit``
    (told to stop, or its input ended): what it wrote is closed, and tearing down matplotlib
    and JAX would only keep the run waiting."""
    status = 0
    try:
        _serve_orders()
    except BaseException as err:  # noqa: BLE001  (the run's process draws what is left, as itself)
        print(f"curvax: the figure helper stopped ({type(err).__name__}: {err}); "
              "the figures are drawn by the run's process", file=sys.stderr)
        status = 1
    sys.stderr.flush()
    os._exit(status)


def _serve_orders() -> None:
    if hasattr(os, "nice"):
        os.nice(10)  # where the run and the helper compete for a core, the run goes first
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed while drawing goes to stderr, not into the protocol
    import matplotlib

    matplotlib.use("Agg")
    import experiments.problems  # noqa: F401  (JAX, for the contour maps)
    from experiments import compile_cache
    from experiments.plots import _plot_spec, destination, draw_job, figure_jobs
    from experiments.records import load_run

    print("ready", file=proto)
    line = sys.stdin.readline()
    if not line.strip() or line.strip() == "stop":
        return
    order = json.loads(line)
    if order["cache"] is not None:  # the run's compilation cache, for the contour maps' programs
        compile_cache.enable(Path(order["cache"]), warn=lambda _message: None)
    data = load_run(order["run_dir"], trace_required=False)
    spec = _plot_spec(data)
    out, formats = destination(data, spec, order["out"], order["formats"])
    jobs = figure_jobs(data, spec)
    print(f"next {jobs_key(jobs, out, formats)}", file=proto)
    for line in sys.stdin:
        if line.strip() == "stop":
            return
        i = int(line)
        try:
            paths = [str(p) for p in draw_job(data, spec, jobs[i], out, formats)]
        except Exception:  # drawn again by the main process, which reports the error
            print(f"fail {i}", file=proto)
        else:
            print(f"done {i} {json.dumps(paths)}", file=proto)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run's process decides when it stops
    _helper()

"""Drawing a run's figures in two processes at once.

Drawing is one-threaded (matplotlib's Agg) and the run leaves the other cores idle, so the
CLI starts a helper process *before* the run: it imports matplotlib, JAX and the plotting
code while the pairs run, then waits. After the run both processes take figure jobs
(:func:`experiments.plots.figure_jobs`) from one queue until it is empty, each drawing
from the records on disk. The helper never decides anything the main process relies on:
a job it fails on, or was drawing when it died, is drawn again by the main process, so an
error reaches the user exactly as without the helper. The helper computes on the CPU
(``JAX_PLATFORMS=cpu``), so it takes no accelerator memory from the run.

The helper is worth its start-up (about 1.5 s of CPU on its own core) only when there are
several figures and a second core: :func:`wanted` says when.
"""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path

# Fewer expected figures than this: drawing them here is as quick as starting a helper.
MIN_JOBS = 4
# A helper that reports nothing for this long is stopped, and its jobs are drawn here.
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
    two_d = sum(1 for p in spec.problems if p.dim in (0, 2)) if plots.trajectories else 0
    expected = len(plots.x_axis) + two_d + (1 if len(spec.problems) >= 2 else 0) + int(plots.curvature)
    return usable_cpus() >= 2 and expected >= MIN_JOBS


class PlotWorkers:
    """A started helper process; :meth:`draw` shares a run's figure jobs with it once.

    Use as a context manager (or call :meth:`close`): the helper is stopped on leaving,
    whether or not :meth:`draw` ran.
    """

    def __init__(self, cache_dir=None):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs JAX
        self._jobs = ctx.Queue()
        self._done = ctx.Queue()
        self._orders, orders = ctx.Pipe()
        self._ready = ctx.Event()
        self._proc = ctx.Process(target=_serve, args=(orders, self._jobs, self._done, self._ready, cache_dir),
                                 name="curvax-plots", daemon=True)
        self._proc.start()
        orders.close()
        self.helper_jobs = 0  # how many of the last draw's jobs the helper drew

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the helper has imported what it draws with (:meth:`draw` never waits)."""
        return self._ready.wait(timeout)

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def draw(self, data, spec, jobs, out: Path, formats) -> list[Path]:
        """Draw ``jobs`` here and in the helper; returns the files in job order."""
        from experiments.plots import draw_job

        try:
            self._orders.send((str(data.run_dir), spec, list(jobs), str(out), tuple(formats)))
        except (OSError, EOFError):  # the helper is gone: draw everything here
            return [p for job in jobs for p in draw_job(data, spec, job, out, formats)]
        for i in range(len(jobs)):
            self._jobs.put(i)
        for _ in range(2):  # one stop mark for each taker
            self._jobs.put(None)
        files: dict[int, list] = {}
        while (i := self._jobs.get()) is not None:
            files[i] = draw_job(data, spec, jobs[i], out, formats)
        theirs = self._collect(set(range(len(jobs))) - set(files))
        self.helper_jobs = len(theirs)
        for i in sorted(set(range(len(jobs))) - set(files) - set(theirs)):
            files[i] = draw_job(data, spec, jobs[i], out, formats)  # failed or lost there: here, as itself
        files.update(theirs)
        return [Path(p) for i in sorted(files) for p in files[i]]

    def _collect(self, pending: set) -> dict:
        """The helper's answers for ``pending`` jobs, until all came, it died or it stalled."""
        got: dict[int, list] = {}
        last = time.monotonic()
        while pending:
            try:
                i, paths = self._done.get(timeout=0.1)
            except queue.Empty:
                if not self._proc.is_alive() or time.monotonic() - last > STALL_S:
                    try:
                        while True:  # what it sent before it went
                            i, paths = self._done.get_nowait()
                            pending.discard(i)
                            if paths is not None:
                                got[i] = paths
                    except queue.Empty:
                        pass
                    return got
                continue
            last = time.monotonic()
            pending.discard(i)
            if paths is not None:
                got[i] = paths
        return got

    def close(self) -> None:
        """Stop the helper (it may not have drawn anything)."""
        if self._proc.is_alive():
            try:
                self._orders.send(None)
            except (OSError, EOFError):
                pass
            self._proc.join(timeout=2.0)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(timeout=2.0)
        self._orders.close()
        for q in (self._jobs, self._done):
            q.close()
            q.cancel_join_thread()


def _serve(orders, jobs, done, ready, cache_dir) -> None:
    """The helper: import what drawing needs, wait for the run, draw jobs until the stop mark."""
    os.environ["JAX_PLATFORMS"] = "cpu"
    import matplotlib

    matplotlib.use("Agg")
    import experiments.plots  # noqa: F401  (matplotlib and the figure code)
    import experiments.problems  # noqa: F401  (JAX, for the contour maps)
    from experiments import compile_cache
    from experiments.plots import draw_job
    from experiments.records import load_run

    if cache_dir is not None:
        compile_cache.enable(Path(cache_dir), warn=lambda _message: None)
    ready.set()
    try:
        order = orders.recv()
    except EOFError:
        return
    if order is None:
        return
    run_dir, spec, job_list, out, formats = order
    data = load_run(run_dir, trace_required=False)
    while (i := jobs.get()) is not None:
        try:
            paths = [str(p) for p in draw_job(data, spec, job_list[i], Path(out), formats)]
        except Exception:  # drawn again by the main process, which reports the error
            paths = None
        done.put((i, paths))

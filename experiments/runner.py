"""The runner: every (problem, optimizer, start) of a validated config, with timings and records.

The starts of one (problem, optimizer) pair run as ONE call of ``jax.jit(minimize_batch)``
(the iterates of ``jax.jit(jax.vmap(minimize))``, with the trace written in place),
compiled ahead of time (``lower(...).compile()``, timed as the compile time; two pairs at
a time in threads, never while a call is being timed) and then timed with
``block_until_ready`` (the run time; the best of ``budget.repeats`` calls). Nothing syncs
with the host inside that call. When the time axis is plotted, the same executable is timed
again up to a few checkpoint iterations (see :mod:`experiments.timing`); with ``[plots]
spectrum`` the Hessian spectral densities at start 0's first and last iterate are computed
after the timing (see :mod:`experiments.spectra`). Results are recorded after every pair,
so Ctrl-C keeps what has finished.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from experiments import compile_cache, program_cache, stop
from experiments.backend import environment, precision, select_devices
from experiments.distributed import ClusterError
from experiments.path_curvature import curvature_along_path
from experiments.problems import build_problem
from experiments.records import RecordError, RunData, RunWriter, pair_rows, problem_record
from experiments.sharding import Placement
from experiments.spec import ExperimentSpec, OptimizerSpec, ProblemSpec
from experiments.spectra import has_spectrum, pair_spectra
from experiments.starts import seed_key, starting_points
from experiments.timing import measured_time_axis, timed_call

__all__ = [
    "PairError",
    "CompiledPair",
    "compile_pair",
    "run_experiment",
    "run_pair",
]


def _solver(problem, opt: OptimizerSpec, *, record_path: bool):
    """``jit(minimize_batch)`` over (starts, per-start gtol); gtol is traced (see timing).
    The same iterates as ``jit(vmap(minimize))``, with each trace row written in place."""
    import optimizers

    extra = optimizers.split_functions(optimizers.method_options(opt.method), model_fn=problem.model_fn,
                                       loss_fn=problem.loss_fn, residual=problem.residual)

    def solve(x0s, gtols):
        return optimizers.minimize_batch(problem.fun, x0s, opt.method, gtol=gtols, max_iter=opt.max_iter,
                                         record_path=record_path, **opt.options, **extra)

    return jax.jit(solve)


class CompiledPair(NamedTuple):
    """One pair compiled ahead of time.

    executable: the program that is run and timed; seconds: wall time to trace, lower and
    compile it; record_path: whether it also records the iterates (``trace.x``);
    cache_hits, cache_misses: executables loaded from and written to the persistent
    compilation cache by this compile (0, 0 when the cache is off); reused: whether the
    traced program came from :mod:`experiments.program_cache` (None: not used).
    """

    executable: Any
    seconds: float
    record_path: bool
    cache_hits: int = 0
    cache_misses: int = 0
    reused: Optional[bool] = None

    @property
    def cache(self) -> Optional[str]:
        """"hit" (every program loaded from the cache), "miss", "partial", or None (cache off)."""
        if not self.cache_hits and not self.cache_misses:
            return None
        return "hit" if not self.cache_misses else "miss" if not self.cache_hits else "partial"


def _where(x0s, device=None) -> Placement:
    """The one-device placement of a batch that was not placed by the runner (a direct call
    of :func:`compile_pair` or :func:`run_pair`): ``device``, else where ``x0s`` lives."""
    return Placement([device or min(x0s.devices(), key=lambda d: d.id)])


def _program_entry(spec: ExperimentSpec, ps: Optional[ProblemSpec], opt: OptimizerSpec, x0s,
                   record_path: bool) -> Optional[str]:
    """The :mod:`experiments.program_cache` entry of a pair (None: no cache to use)."""
    if ps is None or program_cache.program_dir() is None:
        return None
    from experiments.problems.registry import source_file

    device = min(x0s.devices(), key=lambda d: d.id)
    parts = {"problem": ps.name, "params": ps.params, "seed": spec.seed, "dtype": spec.dtype,
             "method": opt.method, "options": opt.options, "max_iter": opt.max_iter, "record_path": record_path,
             "shape": x0s.shape, "x_dtype": str(x0s.dtype), "sharding": repr(x0s.sharding),
             "platform": device.platform, "device_kind": device.device_kind}
    return program_cache.key(parts, [f for f in (source_file(ps.name),) if f])


def compile_pair(spec: ExperimentSpec, problem, opt: OptimizerSpec, x0s, device=None,
                 placement: Optional[Placement] = None, ps: Optional[ProblemSpec] = None) -> CompiledPair:
    """Lower and compile one pair ahead of time: one program per pair, which records the
    iterates (``trace.x``) itself when a plot needs them (a second program for the path
    would double the compile time). With the config's problem ``ps`` and the CLI's cache
    on, the traced program is kept and reused (:mod:`experiments.program_cache`)."""
    record_path = spec.record_path and problem.dim <= spec.plots.path_max_dim
    gtols = jnp.full((x0s.shape[0],), opt.gtol, dtype=x0s.dtype)
    placement = placement or _where(x0s, device)  # x0s is placed already; its per-start gtol goes alike
    gtols = placement.put(gtols)
    with precision(spec.dtype), jax.default_device(placement.devices[0]), \
            compile_cache.counting() as counts:
        t0 = time.perf_counter()
        entry = _program_entry(spec, ps, opt, x0s, record_path)
        executable, reused = program_cache.compiled(_solver(problem, opt, record_path=record_path),
                                                    (x0s, gtols), entry)
        seconds = time.perf_counter() - t0
    return CompiledPair(executable, seconds, record_path, counts[0], counts[1], reused)


class PairError(RuntimeError):
    """A (problem, optimizer) pair that ``minimize`` refuses, e.g. Gauss-Newton curvature
    asked for on a problem without a residual or model/loss split."""


@dataclass
class PairOutcome:
    """One finished pair: what goes into results.json and trace.csv."""

    pair: dict
    runs: list
    trace: dict
    spectra: Optional[list] = None  # spectra.json entries ([plots] spectrum)


def run_pair(spec: ExperimentSpec, ps: ProblemSpec, problem, opt: OptimizerSpec, x0s, first_run_id: int,
             compiled=None, on_phase: Optional[Callable[[str], None]] = None,
             placement: Optional[Placement] = None, starts: Optional[int] = None) -> PairOutcome:
    """Run (and time) one pair over all its starts; ``compiled`` from :func:`compile_pair`.

    With a ``placement``, ``x0s`` is the placed batch (padded to a multiple of the devices)
    and ``starts`` the number of real starts: the padding is dropped before anything is
    recorded."""
    def phase(text):
        stop.check()
        if on_phase is not None:
            on_phase(text)

    batch = int(starts if starts is not None else x0s.shape[0])
    placement = placement or _where(x0s)
    place = placement.put
    if compiled is None:
        phase("compiling")
        compiled = compile_pair(spec, problem, opt, x0s, placement=placement, ps=ps)
    compile_s, record_path = compiled.seconds, compiled.record_path
    phase("running")
    gtols = place(jnp.full((x0s.shape[0],), opt.gtol, dtype=x0s.dtype))
    out, run_s = timed_call(compiled.executable, x0s, gtols, spec.repeats)
    res = jax.device_get(out)

    time_axis = np.full(opt.max_iter + 1, np.nan)
    if spec.measure_time:
        phase("timing checkpoints")
        time_axis, run_s = measured_time_axis(compiled.executable, x0s, res, opt, run_s, spec.repeats, place)
    res = jax.tree_util.tree_map(lambda leaf: leaf[:batch], res)  # the padding's copies dropped
    nit = np.asarray(res.nit, dtype=np.int64)

    path = np.asarray(res.trace.x, dtype=np.float64) if record_path else None
    eig = None
    if path is not None and spec.plots.curvature:
        phase("curvature")
        eig = curvature_along_path(problem.fun, path, nit)

    spectra = None
    if spec.plots.spectrum and has_spectrum(problem.dim):
        phase("spectrum")
        spectra = pair_spectra(problem.fun, ps.label, opt.label, spec.seed, x0s[0], res.x[0], int(nit[0]))

    runs, trace = pair_rows(res, problem={"label": ps.label, "name": ps.name, "f_star": problem.f_star,
                                          "dim": problem.dim},
                            optimizer={"label": opt.label, "method": opt.method}, first_run_id=first_run_id,
                            seconds={"run": run_s, "compile": compile_s}, time_axis=time_axis, path=path, eig=eig)
    pair = {"problem": ps.label, "label": opt.label, "method": opt.method, "starts": batch,
            "compile_seconds": compile_s, "run_seconds": run_s, "max_iter": opt.max_iter,
            "record_path": record_path, "time_axis": "measured" if spec.measure_time else None,
            "compile_cache": compiled.cache, "program_reused": compiled.reused}
    return PairOutcome(pair, runs, trace, spectra)


def _finished_pairs(results: dict) -> set:
    """Pairs of a stored run whose every start is recorded (in results.json and trace.csv)."""
    counts: dict = {}
    for r in results["runs"]:
        counts[(r["problem"], r["label"])] = counts.get((r["problem"], r["label"]), 0) + 1
    return {(p["problem"], p["label"]) for p in results["pairs"]
            if counts.get((p["problem"], p["label"])) == p["starts"]}


def _result(future):
    """``future.result()``, honouring a stop request every 0.2 s while the compile runs."""
    while True:
        try:
            return future.result(timeout=0.2)
        except FutureTimeout:
            stop.check()


def _finish_after(writer: RunWriter, status: str) -> None:
    """Mark the run ``status`` after an error, where the folder can still be written: the
    error that stopped the run is the one to report, not a second one from this write (a
    full disk fails both)."""
    try:
        writer.finish(status)
    except (RecordError, KeyboardInterrupt):
        pass


def default_compile_workers() -> int:
    """Compile threads: 2 when there are two cores or more (XLA compiles without the GIL)."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def _renumbered(outcome: PairOutcome, first_run_id: int) -> PairOutcome:
    """``outcome`` (computed with run ids from 0) with its run ids from ``first_run_id``."""
    if not first_run_id:
        return outcome
    runs = [{**r, "run": r["run"] + first_run_id} for r in outcome.runs]
    trace = dict(outcome.trace, run=np.asarray(outcome.trace["run"]) + first_run_id)
    return PairOutcome(outcome.pair, runs, trace, outcome.spectra)


def _pair_line(pair: dict) -> str:
    cached = " (cached)" if pair.get("compile_cache") == "hit" else ""
    return (f"{pair['problem']} x {pair['label']}: compile {pair['compile_seconds']:.2f} s{cached}, "
            f"run {pair['run_seconds']:.3g} s ({pair['starts']} starts)")


class _InOrder:
    """Process 0's recording: pairs go into the run folder in config order (so run ids and
    files are those of a one-process run), whichever process finished them."""

    def __init__(self, writer: RunWriter, todo: list, cluster, progress):
        self.writer, self.todo, self.cluster, self.progress = writer, todo, cluster, progress
        self.pending: dict = {}
        self.next = 0

    def _write(self, outcome: PairOutcome, sender: int) -> None:
        outcome = _renumbered(outcome, self.writer.next_run_id)
        self.writer.add(outcome.pair, outcome.runs, outcome.trace, outcome.spectra)
        if self.progress is not None:
            self.progress.step(_pair_line(outcome.pair) + (f" [process {sender}]" if sender else ""))

    def _owner(self, index: int) -> int:
        return 0 if self.cluster is None else self.cluster.owner(index)

    def add(self, index: int, outcome: PairOutcome) -> None:
        self.pending[index] = outcome
        self.flush()

    def _have(self, index: int) -> bool:
        """Whether pair ``index`` is finished: here already, or now fetched from its worker."""
        if index not in self.pending and self._owner(index) != 0:
            fields = self.cluster.try_pair(index)
            if fields is not None:
                self.pending[index] = PairOutcome(*fields)
        return index in self.pending

    def flush(self) -> None:
        """Record every pair that is next in order and finished (here or sent by a worker)."""
        while self.next < len(self.todo) and self._have(self.next):
            self._write(self.pending.pop(self.next), self._owner(self.next))
            self.next += 1

    def wait_rest(self) -> None:
        """Process 0 after its own pairs: the workers' remaining pairs, in order."""
        while self.next < len(self.todo):
            self.flush()
            if self.next < len(self.todo):
                self.cluster.check(self._owner(self.next))
                stop.check()
                time.sleep(0.05)

    def salvage(self) -> None:
        """After a failure: record every finished pair there is (out of order), so that
        resume keeps them."""
        for index in range(self.next, len(self.todo)):
            try:
                self._have(index)
            except ClusterError:  # the coordinator itself is gone
                break
        for index in sorted(self.pending):
            self._write(self.pending.pop(index), self._owner(index))


def _computed(spec, mine: list, placement, device, workers: int, progress, before_timing=None):
    """``(index, outcome)`` of each ``(index, job)`` in ``mine``: ``workers`` pairs compile at a
    time in threads; the batch's pairs then run and are timed with no compilation in flight,
    so compiles never share the CPU with a timed call (``before_timing()`` runs once before
    the first one). Run ids count from 0."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="curvax-compile")
    try:
        for first in range(0, len(mine), workers):
            stop.check()
            batch = mine[first:first + workers]
            futures = [pool.submit(compile_pair, spec, problem, opt, x0s, device, placement, ps)
                       for _, (ps, problem, x0s, opt) in batch]
            if progress is not None:
                progress.show("compiling " + ", ".join(f"{ps.label} x {opt.label}" for _, (ps, _, _, opt) in batch))
            compiled = []
            for (_, (ps, _, _, opt)), future in zip(batch, futures):
                try:
                    compiled.append(_result(future))
                except (ValueError, TypeError) as err:  # minimize refused this problem/method pair
                    raise PairError(f"{ps.key} ({ps.label}) with {opt.key} ({opt.label}): {err}") from err
            for (index, (ps, problem, x0s, opt)), executable in zip(batch, compiled):
                name = f"{ps.label} x {opt.label}"

                def phase(text, name=name):
                    if progress is not None:
                        progress.show(f"{name}: {text}")

                stop.check()
                if before_timing is not None:
                    before_timing()
                    before_timing = None
                yield index, run_pair(spec, ps, problem, opt, x0s, 0, executable, phase, placement, ps.starts)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def run_experiment(spec: ExperimentSpec, run_dir, *, progress=None, resume: Optional[RunData] = None,
                   compile_workers: Optional[int] = None, cluster=None, before_timing=None) -> dict:
    """Run every pair of ``spec`` into ``run_dir``; returns the final ``results.json`` content.

    Pairs compile ``compile_workers`` at a time in threads (default: 2 on a machine with two
    or more cores); each batch is then run, timed and recorded in config order with no
    compilation in flight.
    ``progress``: a :class:`experiments.report.ProgressBar` (or None). ``resume``: a stored,
    interrupted run of the same config whose finished pairs are kept and skipped.
    On Ctrl-C the finished pairs are written, the run is marked ``interrupted`` and the
    KeyboardInterrupt propagates. ``cluster``: an :class:`experiments.distributed.Cluster`
    (``--distributed``): the pairs are dealt out over its processes; process 0 records them
    all in ``run_dir``, a worker (``run_dir`` None) sends its pairs and returns ``{}``.
    ``before_timing()``: called once before the first timed call (the CLI waits there for
    its figure helper to finish importing, so that no timed call shares the CPU with it).
    """
    workers = compile_workers or default_compile_workers()
    main = cluster is None or cluster.is_main
    writer = RunWriter(run_dir) if main else None
    with precision(spec.dtype):
        devices = select_devices(spec.device, spec.devices)
        placement, device = Placement(devices), devices[0]
        with jax.default_device(device):
            instances = [build_problem(ps.name, ps.params, spec.seed) for ps in spec.problems]
            root = seed_key(spec.seed)
            starts = [starting_points(p, ps, jax.random.fold_in(root, i))
                      for i, (ps, p) in enumerate(zip(spec.problems, instances))]
            placed = [placement.put(x0s) for x0s in starts]  # sharded over the devices, padded
            jobs = [(ps, problem, x0s, opt) for ps, problem, x0s in zip(spec.problems, instances, placed)
                    for opt in spec.optimizers]
            if main:
                done = set()
                if resume is not None:
                    done = _finished_pairs(resume.results)
                    writer.resume(resume, done)
                else:
                    meta = [problem_record(ps, p, x) for ps, p, x in zip(spec.problems, instances, starts)]
                    env = environment(device)
                    env["devices"] = [str(d) for d in devices]
                    if cluster is not None:
                        env["processes"] = cluster.count
                    cache = compile_cache.state()
                    if cache is not None:
                        env["compilation_cache"] = cache.record()
                    writer.start(spec, env, problems=meta)
                if progress is not None:
                    for ps, _, _, opt in jobs:
                        if (ps.label, opt.label) in done:
                            progress.step(f"{ps.label} x {opt.label}: kept from the interrupted run", kept=True)
                plan = [i for i, j in enumerate(jobs) if (j[0].label, j[3].label) not in done]
                if cluster is not None:
                    cluster.publish("plan", json.dumps(plan))
            else:
                plan = json.loads(cluster.wait("plan", sender=0))
            todo = [jobs[i] for i in plan]
            mine = [(i, job) for i, job in enumerate(todo) if cluster is None or cluster.owner(i) == cluster.process_id]
            order = _InOrder(writer, todo, cluster, progress) if main else None
            try:
                for index, outcome in _computed(spec, mine, placement, device, workers, progress, before_timing):
                    if main:
                        order.add(index, outcome)
                    else:
                        cluster.send_pair(index, outcome)
                        if progress is not None:
                            progress.step(_pair_line(outcome.pair))
                if main and cluster is not None:
                    order.wait_rest()
            except BaseException as err:
                if not main:
                    cluster.report_error(f"{type(err).__name__}: {err}")
                    raise
                try:
                    order.salvage()
                except (RecordError, ClusterError):  # the error that stopped the run is the one to report
                    pass
                _finish_after(writer, "interrupted" if isinstance(err, KeyboardInterrupt) else "failed")
                raise
            if not main:
                return {}
            cache = compile_cache.state()
            if cache is not None:
                writer.update_environment(compilation_cache=cache.record())
            writer.finish("complete")
    return writer.results

"""The runner: every (problem, optimizer, start) of a validated config, with timings and records.

The starts of one (problem, optimizer) pair run as ONE call of ``jax.jit(minimize_batch)``
(the iterates of ``jax.jit(jax.vmap(minimize))``, with the trace written in place),
compiled ahead of time (``lower(...).compile()``, timed as the compile time; two pairs at
a time in threads, never while a call is being timed) and then timed with
``block_until_ready`` (the run time; the best of ``budget.repeats`` calls). Nothing syncs
with the host inside that call. When the time axis is plotted, the same executable is timed
again up to a few checkpoint iterations (see :mod:`experiments.timing`). Results are
recorded after every pair, so Ctrl-C keeps what has finished.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from experiments import compile_cache, stop
from experiments.backend import environment, precision, select_device
from experiments.config import ExperimentSpec, OptimizerSpec, ProblemSpec
from experiments.records import RecordError, RunData, RunWriter, json_number
from experiments.timing import checkpoint_thresholds, interpolate_axis

__all__ = [
    "PairError",
    "CompiledPair",
    "build_problem",
    "compile_pair",
    "curvature_along_path",
    "measured_time_axis",
    "problem_supplied_options",
    "run_experiment",
    "run_pair",
    "seed_key",
    "starting_points",
]

# Above this dimension the Hessian eigenvalues along a path come from Lanczos, not eigh.
_DENSE_EIG_MAX_DIM = 64
_META_MAX_DIM = 10  # x0, x_star and box are stored in results.json up to this dimension


def build_problem(name: str, params: dict, seed: int):
    """Registry problem ``name`` with ``params``; the config's ``seed`` goes to problems that
    take one (synthetic data) unless ``params`` sets it."""
    from experiments import problems as registry

    params = dict(params)
    if "seed" in registry.params(name) and "seed" not in params:
        params["seed"] = seed
    return registry.get(name, **params)


def seed_key(seed: int) -> jax.Array:
    """The PRNG key of a config's ``seed``, using all 64 bits of it whatever the precision.

    ``jax.random.PRNGKey(seed)`` keeps only the low 32 bits when x64 is off (a float32
    config), so seeds 1 and 2**32 + 1 would draw the same starts; the two words are set
    here directly, as ``PRNGKey`` does with x64 on (the same key for every seed < 2**32).
    """
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return jnp.asarray(np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32))


def starting_points(problem, ps: ProblemSpec, key) -> jax.Array:
    """(starts, dim): the explicit ``x0`` points, the default x0, or uniform draws in the box."""
    if ps.x0 is not None:
        return jnp.asarray(np.asarray(ps.x0, dtype=np.float64), dtype=problem.x0.dtype)
    if ps.starts == 1:
        return jnp.asarray(problem.x0)[None, :]
    return problem.sample_starts(key, ps.starts)


def _problem_meta(ps: ProblemSpec, problem, x0s) -> dict:
    small = problem.dim <= _META_MAX_DIM

    def listed(v):
        if v is None:
            return None
        arr = np.asarray(v, dtype=np.float64)
        return arr.tolist() if arr.ndim == 0 or small else None

    box = None
    if problem.box is not None and small:
        box = [np.broadcast_to(np.asarray(b, dtype=np.float64), (problem.dim,)).tolist() for b in problem.box]
    return {
        "label": ps.label,
        "name": ps.name,
        "params": ps.params,
        "dim": int(problem.dim),
        "f_star": json_number(problem.f_star),
        "x_star": listed(problem.x_star),
        "minima": [list(m) for m in problem.minima] if small else [],
        "box": box,
        "starts": int(x0s.shape[0]),
        "x0": np.asarray(x0s, dtype=np.float64).tolist() if small else None,
        "tags": list(problem.tags),
    }


def problem_supplied_options(problem, accepted) -> dict:
    """The model/loss split (preferred) or the residual of ``problem``, for methods that take
    them (Gauss-Newton curvature); never set from a config file."""
    if {"model_fn", "loss_fn"} <= set(accepted) and problem.model_fn is not None and problem.loss_fn is not None:
        return {"model_fn": problem.model_fn, "loss_fn": problem.loss_fn}
    if "residual" in accepted and problem.residual is not None:
        return {"residual": problem.residual}
    return {}


def _solver(problem, opt: OptimizerSpec, *, record_path: bool):
    """``jit(minimize_batch)`` over (starts, per-start gtol); gtol is traced (see timing).
    The same iterates as ``jit(vmap(minimize))``, with each trace row written in place."""
    import optimizers

    accepted = optimizers.method_options(opt.method)
    extra = problem_supplied_options(problem, accepted)

    def solve(x0s, gtols):
        return optimizers.minimize_batch(problem.fun, x0s, opt.method, gtol=gtols, max_iter=opt.max_iter,
                                         record_path=record_path, **opt.options, **extra)

    return jax.jit(solve)


class CompiledPair(NamedTuple):
    """One pair compiled ahead of time.

    executable: the program that is run and timed; seconds: wall time to trace, lower and
    compile it; record_path: whether it also records the iterates (``trace.x``);
    cache_hits, cache_misses: executables loaded from and written to the persistent
    compilation cache by this compile (0, 0 when the cache is off).
    """

    executable: Any
    seconds: float
    record_path: bool
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def cache(self) -> Optional[str]:
        """"hit" (every program loaded from the cache), "miss", "partial", or None (cache off)."""
        if not self.cache_hits and not self.cache_misses:
            return None
        return "hit" if not self.cache_misses else "miss" if not self.cache_hits else "partial"


def compile_pair(spec: ExperimentSpec, problem, opt: OptimizerSpec, x0s, device=None) -> CompiledPair:
    """Lower and compile one pair ahead of time (one program per pair: see the module
    docstring for why the path is recorded by the timed program itself)."""
    from experiments import compile_cache

    record_path = spec.record_path and problem.dim <= spec.plots.path_max_dim
    gtols = jnp.full((x0s.shape[0],), opt.gtol, dtype=x0s.dtype)
    with precision(spec.dtype), jax.default_device(device or x0s.devices().pop()), \
            compile_cache.counting() as counts:
        t0 = time.perf_counter()
        executable = _solver(problem, opt, record_path=record_path).lower(x0s, gtols).compile()
        seconds = time.perf_counter() - t0
    return CompiledPair(executable, seconds, record_path, counts[0], counts[1])


def _timed(compiled, x0s, gtols, repeats: int = 1):
    """Best wall time of the compiled call (``block_until_ready``) and the last output.

    ``repeats`` calls at least. The first call of a fresh executable carries one-time setup
    costs (tens of milliseconds on a CPU), so a first call under 0.5 s is always followed by
    another; a call under 20 ms is repeated up to 5 times within 60 ms, so that one
    scheduling hiccup does not become the measurement.
    """
    best, spent, calls = np.inf, 0.0, 0
    while True:
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(x0s, gtols))
        seconds = time.perf_counter() - t0
        calls += 1
        spent += seconds if calls > 1 else 0.0
        best = min(best, seconds)
        if calls < repeats or (calls == 1 and seconds < 0.5):
            continue
        if calls < 5 and spent < 0.06 and best < 0.02:
            continue
        return out, best


def measured_time_axis(compiled, x0s, res, opt: OptimizerSpec, run_s: float, repeats: int = 1):
    """Seconds at iterations 0..max_iter for the batch (NaN past its last iteration), and
    the run time refined by timing the full call once more (the faster of the two counts:
    timing noise only adds time).

    The compiled call timed at checkpoint iterations by per-start gtol thresholds (see
    :mod:`experiments.timing`); a checkpoint is kept only if the call stopped there after
    repeating the main run's iterates (gtol enters only the stopping test of ``minimize``).
    """
    nit = np.asarray(res.nit, dtype=np.int64)
    k_max = int(nit.max())
    grad_norm = np.asarray(res.trace.grad_norm, dtype=np.float64)
    dtype = x0s.dtype
    _, again = _timed(compiled, x0s, jnp.full(nit.shape, opt.gtol, dtype=x0s.dtype), repeats)
    run_s = min(run_s, again)
    points = [(k_max, run_s)]
    plans = [(0, np.full(nit.size, np.inf))] if k_max > 0 else []
    plans += checkpoint_thresholds(grad_norm, nit, opt.gtol)
    f_main = np.asarray(res.trace.f)
    for k, gtols in plans:
        out, seconds = _timed(compiled, x0s, jnp.asarray(gtols, dtype=dtype), repeats)
        stops = np.asarray(out.nit)
        f_short = np.asarray(out.trace.f)
        same_path = all(np.array_equal(f_short[b, : stops[b] + 1], f_main[b, : stops[b] + 1])
                        for b in range(stops.size))
        if int(stops.max()) == k and same_path:
            points.append((k, seconds))
    axis = np.full(opt.max_iter + 1, np.nan)
    axis[: k_max + 1] = interpolate_axis(points, k_max + 1)
    return axis, run_s


def curvature_along_path(fun, path: np.ndarray, nit: np.ndarray) -> np.ndarray:
    """(starts, max_iter + 1, 2): smallest and largest Hessian eigenvalue at each iterate.

    Dense ``curvature.hessian`` + ``numpy.linalg.eigvalsh`` up to dimension 64; above, the
    extreme eigenvalues of ``curvature.hessian_operator`` by Lanczos
    (``curvature.eigenvalues(op, 1, which="both")``). NaN after each run's last iterate.
    """
    import curvature

    starts, length, n = path.shape
    out = np.full((starts, length, 2), np.nan)
    valid = np.arange(length)[None, :] <= np.asarray(nit)[:, None]
    points = np.where(valid[..., None], path, np.nan)
    filled = np.where(np.isfinite(points), points, np.nan_to_num(path[:, :1, :]))
    flat = jnp.asarray(filled.reshape(-1, n), dtype=path.dtype)
    if n <= _DENSE_EIG_MAX_DIM:
        hessians = np.asarray(_dense_hessians(fun)(flat))
        eig = np.linalg.eigvalsh(hessians)
        pair = np.stack([eig[:, 0], eig[:, -1]], axis=-1)
    else:
        def extremes(x):
            values = curvature.eigenvalues(curvature.hessian_operator(fun, x), 1, which="both")
            values = jnp.sort(jnp.ravel(values))
            return jnp.stack([values[0], values[-1]])

        pair = np.asarray(jax.jit(jax.lax.map, static_argnums=0)(extremes, flat))
    out[:] = pair.reshape(starts, length, 2)
    out[~valid] = np.nan
    return out


_HESSIAN_FNS: dict = {}


def _dense_hessians(fun):
    """One jitted, vmapped dense Hessian per problem function (compiled once per shape)."""
    import curvature

    fn = _HESSIAN_FNS.get(fun)
    if fn is None:
        fn = _HESSIAN_FNS[fun] = jax.jit(jax.vmap(lambda x: curvature.hessian(fun, x)))
    return fn


class PairError(RuntimeError):
    """A (problem, optimizer) pair that ``minimize`` refuses, e.g. Gauss-Newton curvature
    asked for on a problem without a residual or model/loss split."""


@dataclass
class PairOutcome:
    """One finished pair: what goes into results.json and trace.csv."""

    pair: dict
    runs: list
    trace: dict


def run_pair(spec: ExperimentSpec, ps: ProblemSpec, problem, opt: OptimizerSpec, x0s, first_run_id: int,
             compiled=None, on_phase: Optional[Callable[[str], None]] = None) -> PairOutcome:
    """Run (and time) one pair over all its starts; ``compiled`` from :func:`compile_pair`."""
    import optimizers

    def phase(text):
        stop.check()
        if on_phase is not None:
            on_phase(text)

    batch = int(x0s.shape[0])
    if compiled is None:
        phase("compiling")
        compiled = compile_pair(spec, problem, opt, x0s)
    compile_s, record_path = compiled.seconds, compiled.record_path
    phase("running")
    gtols = jnp.full((batch,), opt.gtol, dtype=x0s.dtype)
    out, run_s = _timed(compiled.executable, x0s, gtols, spec.repeats)
    res = jax.device_get(out)
    nit = np.asarray(res.nit, dtype=np.int64)

    time_axis = np.full(opt.max_iter + 1, np.nan)
    if spec.measure_time:
        phase("timing checkpoints")
        time_axis, run_s = measured_time_axis(compiled.executable, x0s, res, opt, run_s, spec.repeats)

    path = np.asarray(res.trace.x, dtype=np.float64) if record_path else None
    eig = None
    if path is not None and spec.plots.curvature:
        phase("curvature")
        eig = curvature_along_path(problem.fun, path, nit)

    status = np.asarray(res.status, dtype=np.int64)
    messages = [optimizers.STATUS_MESSAGES.get(int(s), f"unknown status {int(s)}") for s in status]
    f_star = problem.f_star
    runs, cols = [], {k: [] for k in ("run", "problem", "label", "method", "start", "iteration")}
    num = {k: [] for k in ("f", "gap", "grad_norm", "nfev", "ngev", "nhvp", "evaluations", "time",
                           "x", "y", "eig_min", "eig_max")}
    tr = res.trace
    for b in range(batch):
        run_id = first_run_id + b
        k = int(nit[b]) + 1
        f = np.asarray(tr.f[b, :k], dtype=np.float64)
        nfev, ngev, nhvp = (np.asarray(a[b, :k], dtype=np.float64) for a in (tr.nfev, tr.ngev, tr.nhvp))
        evals = nfev + ngev + 2.0 * nhvp
        fb = float(res.fun[b])
        runs.append({
            "run": run_id, "problem": ps.label, "problem_name": ps.name, "label": opt.label,
            "method": opt.method, "start": b, "f": fb, "f_star": json_number(f_star),
            "gap": (fb - f_star) if f_star is not None else None,
            "grad_norm": float(res.grad_norm[b]), "nit": int(nit[b]), "nfev": int(res.nfev[b]),
            "ngev": int(res.ngev[b]), "nhvp": int(res.nhvp[b]),
            "evaluations": int(res.nfev[b]) + int(res.ngev[b]) + 2 * int(res.nhvp[b]),
            "run_seconds": run_s, "compile_seconds": compile_s, "batch": batch,
            "status": int(status[b]), "message": messages[b], "success": bool(status[b] == 0),
        })
        cols["run"].append(np.full(k, run_id))
        cols["problem"].append([ps.label] * k)
        cols["label"].append([opt.label] * k)
        cols["method"].append([opt.method] * k)
        cols["start"].append(np.full(k, b))
        cols["iteration"].append(np.arange(k))
        num["f"].append(f)
        num["gap"].append(f - f_star if f_star is not None else np.full(k, np.nan))
        num["grad_norm"].append(np.asarray(tr.grad_norm[b, :k], dtype=np.float64))
        num["nfev"].append(nfev)
        num["ngev"].append(ngev)
        num["nhvp"].append(nhvp)
        num["evaluations"].append(evals)
        num["time"].append(time_axis[:k])
        xy = path[b, :k] if (path is not None and problem.dim == 2) else None
        num["x"].append(xy[:, 0] if xy is not None else np.full(k, np.nan))
        num["y"].append(xy[:, 1] if xy is not None else np.full(k, np.nan))
        num["eig_min"].append(eig[b, :k, 0] if eig is not None else np.full(k, np.nan))
        num["eig_max"].append(eig[b, :k, 1] if eig is not None else np.full(k, np.nan))
    trace = {k: np.concatenate([np.asarray(c, dtype=object if k in ("problem", "label", "method") else None)
                                for c in v]) for k, v in cols.items()}
    trace.update({k: np.concatenate(v) for k, v in num.items()})
    pair = {"problem": ps.label, "label": opt.label, "method": opt.method, "starts": batch,
            "compile_seconds": compile_s, "run_seconds": run_s, "max_iter": opt.max_iter,
            "record_path": record_path, "time_axis": "measured" if spec.measure_time else None,
            "compile_cache": compiled.cache}
    return PairOutcome(pair, runs, trace)


def _finished_pairs(results: dict) -> set:
    """Pairs of a stored run whose every start is recorded (in results.json and trace.csv)."""
    counts: dict = {}
    for r in results["runs"]:
        counts[(r["problem"], r["label"])] = counts.get((r["problem"], r["label"]), 0) + 1
    return {(p["problem"], p["label"]) for p in results["pairs"] if counts.get((p["problem"], p["label"])) == p["starts"]}


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


def run_experiment(spec: ExperimentSpec, run_dir, *, progress=None, resume: Optional[RunData] = None,
                   compile_workers: Optional[int] = None) -> dict:
    """Run every pair of ``spec`` into ``run_dir``; returns the final ``results.json`` content.

    Pairs compile ``compile_workers`` at a time in threads (default: 2 on a machine with two
    or more cores); each batch is then run, timed and recorded in config order with no
    compilation in flight.
    ``progress``: a :class:`experiments.report.ProgressBar` (or None). ``resume``: a stored,
    interrupted run of the same config whose finished pairs are kept and skipped.
    On Ctrl-C the finished pairs are written, the run is marked ``interrupted`` and the
    KeyboardInterrupt propagates.
    """
    workers = compile_workers or default_compile_workers()
    writer = RunWriter(run_dir)
    with precision(spec.dtype):
        device = select_device(spec.device)
        with jax.default_device(device):
            instances = [build_problem(ps.name, ps.params, spec.seed) for ps in spec.problems]
            root = seed_key(spec.seed)
            starts = [jax.device_put(starting_points(p, ps, jax.random.fold_in(root, i)), device)
                      for i, (ps, p) in enumerate(zip(spec.problems, instances))]
            done = set()
            if resume is not None:
                done = _finished_pairs(resume.results)
                writer.resume(resume, done)
            else:
                meta = [_problem_meta(ps, p, x) for ps, p, x in zip(spec.problems, instances, starts)]
                env = environment(device)
                cache = compile_cache.state()
                if cache is not None:
                    env["compilation_cache"] = cache.record()
                writer.start(spec, env, problems=meta)
            jobs = [(ps, problem, x0s, opt) for ps, problem, x0s in zip(spec.problems, instances, starts)
                    for opt in spec.optimizers]
            if progress is not None:
                for ps, _, _, opt in jobs:
                    if (ps.label, opt.label) in done:
                        progress.step(f"{ps.label} x {opt.label}: kept from the interrupted run", kept=True)
            todo = [j for j in jobs if (j[0].label, j[3].label) not in done]
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="curvax-compile")
            try:
                # Batches of `workers` pairs compile in parallel; the batch's pairs are then run
                # and timed with no compilation in flight, so compiles never share the CPU
                # with a timed call.
                for first in range(0, len(todo), workers):
                    stop.check()
                    batch = todo[first:first + workers]
                    futures = [pool.submit(compile_pair, spec, problem, opt, x0s, device)
                               for _, problem, x0s, opt in batch]
                    if progress is not None:
                        progress.show("compiling " + ", ".join(f"{ps.label} x {opt.label}" for ps, _, _, opt in batch))
                    compiled = []
                    for (ps, _, _, opt), future in zip(batch, futures):
                        try:
                            compiled.append(_result(future))
                        except (ValueError, TypeError) as err:  # minimize refused this problem/method pair
                            raise PairError(f"{ps.key} ({ps.label}) with {opt.key} ({opt.label}): {err}") from err
                    for (ps, problem, x0s, opt), executable in zip(batch, compiled):
                        name = f"{ps.label} x {opt.label}"

                        def phase(text, name=name):
                            if progress is not None:
                                progress.show(f"{name}: {text}")

                        stop.check()
                        outcome = run_pair(spec, ps, problem, opt, x0s, writer.next_run_id, executable, phase)
                        writer.add(outcome.pair, outcome.runs, outcome.trace)
                        if progress is not None:
                            p = outcome.pair
                            cached = " (cached)" if p.get("compile_cache") == "hit" else ""
                            progress.step(f"{name}: compile {p['compile_seconds']:.2f} s{cached}, "
                                          f"run {p['run_seconds']:.3g} s ({p['starts']} starts)")
            except BaseException as err:
                pool.shutdown(wait=False, cancel_futures=True)
                _finish_after(writer, "interrupted" if isinstance(err, KeyboardInterrupt) else "failed")
                raise
            pool.shutdown(wait=True)
            cache = compile_cache.state()
            if cache is not None:
                writer.update_environment(compilation_cache=cache.record())
            writer.finish("complete")
    return writer.results

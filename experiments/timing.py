"""The measured wall-clock axis: the compiled call timed up to a few checkpoint iterations.

``optimizers.minimize`` stops at the first iterate with ``grad_norm <= gtol``, and ``gtol``
is a traced argument of the compiled call (one value per start under vmap). After the main
run the trace tells exactly where each start would stop for any threshold: with ``gtol``
set to the gradient norm of a *record* iterate r (a gradient norm below all earlier ones)
the same program, from the same start, stops exactly at iteration r. So the same compiled
executable, called again with per-start thresholds, runs exactly K iterations (K = the
largest stop of the batch, which runs in lock step) and its call is timed like the main
run, with ``block_until_ready``. That gives measured times T(K) at a few checkpoints
(geometrically spaced up to the last iteration) with no recompilation and no host
synchronization inside the loop; between checkpoints the axis is linear in the iteration.

Why not host timestamps from ``callback=``: each callback synchronizes with the host and
costs tens to hundreds of microseconds, more than a whole iteration of a 2-D problem, and a
second program with the callback compiled in doubles the compile time. Why not separate
iteration limits: ``max_iter`` is static (it sizes the trace), one compilation per limit.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["checkpoint_thresholds", "interpolate_axis", "measured_time_axis", "record_iterations", "timed_call"]


def record_iterations(grad_norm: np.ndarray, nit: int) -> np.ndarray:
    """Iterations k <= nit where the gradient norm is below every earlier one (0 included)."""
    g = np.asarray(grad_norm[: nit + 1], dtype=np.float64)
    if g.size == 0:
        return np.zeros(0, dtype=np.int64)
    prior = np.concatenate([[np.inf], np.minimum.accumulate(g)[:-1]])
    return np.flatnonzero(g < prior)


def checkpoint_thresholds(grad_norm: np.ndarray, nit: np.ndarray, gtol: float, points: int = 8):
    """Per-start ``gtol`` vectors that stop the batch at a few checkpoint iterations.

    ``grad_norm``: (starts, max_iter + 1) trace of the main run; ``nit``: (starts,).
    Returns a list of ``(K, gtols)``: the batch then runs exactly ``K`` loop iterations
    (each start stops at its last record iterate at or before the target, or at its own
    end). Targets are spaced geometrically from 1 to ``max(nit) - 1``; duplicates dropped.
    """
    nit = np.asarray(nit, dtype=np.int64)
    k_max = int(nit.max()) if nit.size else 0
    if k_max <= 1:
        return []
    records = [record_iterations(grad_norm[b], int(nit[b])) for b in range(nit.size)]
    targets = np.unique(np.round(np.geomspace(1, k_max - 1, num=max(points, 1))).astype(np.int64))
    seen, out = set(), []
    for target in targets.tolist():
        gtols = np.full(nit.size, float(gtol))
        stops = np.array(nit)
        for b in range(nit.size):
            if nit[b] > target:
                r = records[b][records[b] <= target][-1]
                gtols[b] = float(grad_norm[b, r])
                stops[b] = r
        k = int(stops.max())
        if k < k_max and k not in seen:
            seen.add(k)
            out.append((k, gtols))
    return out


def interpolate_axis(points, length: int) -> np.ndarray:
    """Seconds at iterations 0 .. length-1 from measured ``(K, seconds)`` points.

    Linear between measured points (the origin (0, 0) is added when iteration 0 was not
    measured), made nondecreasing by lowering a checkpoint that took longer than a later one
    (timing noise only ever adds time, and the last point is the main measurement).
    """
    pts = sorted(points)
    ks = np.array([k for k, _ in pts], dtype=np.float64)
    ts = np.array([t for _, t in pts], dtype=np.float64)
    if ks.size == 0 or ks[0] > 0:
        ks, ts = np.concatenate([[0.0], ks]), np.concatenate([[0.0], ts])
    ts = np.minimum.accumulate(ts[::-1])[::-1]
    return np.interp(np.arange(length, dtype=np.float64), ks, ts)


def timed_call(compiled, x0s, gtols, repeats: int = 1):
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


def measured_time_axis(compiled, x0s, res, opt, run_s: float, repeats: int = 1, place=None):
    """Seconds at iterations 0..max_iter for the batch (NaN past its last iteration), and
    the run time refined by timing the full call once more (the faster of the two counts:
    timing noise only adds time).

    ``compiled(x0s, gtols)``: the pair's executable; ``res``: its result on the host;
    ``opt``: the pair's :class:`~experiments.spec.OptimizerSpec` (its ``gtol`` and
    ``max_iter``); ``place``: puts a per-start vector where the executable expects it (the
    run's :class:`~experiments.sharding.Placement`; default: as given). The compiled call is
    timed at checkpoint iterations by per-start gtol thresholds (see the module docstring);
    a checkpoint is kept only if the call stopped there after repeating the main run's
    iterates (gtol enters only the stopping test of ``minimize``).
    """
    nit = np.asarray(res.nit, dtype=np.int64)
    k_max = int(nit.max())
    grad_norm = np.asarray(res.trace.grad_norm, dtype=np.float64)
    dtype = x0s.dtype
    place = place or (lambda a: a)
    _, again = timed_call(compiled, x0s, place(jnp.full(nit.shape, opt.gtol, dtype=dtype)), repeats)
    run_s = min(run_s, again)
    points = [(k_max, run_s)]
    plans = [(0, np.full(nit.size, np.inf))] if k_max > 0 else []
    plans += checkpoint_thresholds(grad_norm, nit, opt.gtol)
    f_main = np.asarray(res.trace.f)
    for k, gtols in plans:
        out, seconds = timed_call(compiled, x0s, place(jnp.asarray(gtols, dtype=dtype)), repeats)
        stops = np.asarray(out.nit)
        f_short = np.asarray(out.trace.f)
        same_path = all(np.array_equal(f_short[b, : stops[b] + 1], f_main[b, : stops[b] + 1])
                        for b in range(stops.size))
        if int(stops.max()) == k and same_path:
            points.append((k, seconds))
    axis = np.full(opt.max_iter + 1, np.nan)
    axis[: k_max + 1] = interpolate_axis(points, k_max + 1)
    return axis, run_s

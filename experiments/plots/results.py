"""Figures of ``optimizers.minimize`` results in memory, without a run folder (a notebook).

``plot_result({"L-BFGS": res, ...}, fun=f, box=...)`` draws f (or f - f*) and the gradient
norm against the iteration (or the evaluations) for each result, and, for 2-D results
recorded with ``record_path=True``, the paths over a contour map of ``fun``. A result may
be one run or a batch (``jax.vmap(minimize)`` or ``minimize_batch``: every field has a
leading axis of starts), drawn as the median over the starts with the interquartile band,
as in the run figures. The figure is a ``matplotlib.figure.Figure`` (no pyplot state):
a notebook shows it, ``fig.savefig(...)`` writes it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from matplotlib.figure import Figure

from experiments.plots.colors import label_colors
from experiments.plots.convergence import _draw_panel, _x_axis, median_band
from experiments.plots.layout import fit, legend_below, new_figure, title
from experiments.plots.trajectories import _plot_box, contour_map, critical_points, draw_map, draw_points, marker_key

__all__ = ["plot_result", "result_runs"]


def result_runs(res) -> list[dict]:
    """One dict per start of an :class:`optimizers.OptimizeResult` (batched or not), on
    the host: ``f``, ``grad_norm``, ``evaluations`` (``nfev + ngev + 2 nhvp``) per iterate
    (0 .. nit), ``path`` (``(nit + 1, n)`` flat iterates, or None without
    ``record_path``) and ``success``."""
    import jax

    res = jax.device_get(res)
    nit = np.atleast_1d(np.asarray(res.nit, dtype=np.int64))
    batched = np.ndim(res.nit) == 1
    tr = res.trace

    def rows(a):
        a = np.asarray(a, dtype=np.float64)
        return a if batched else a[None]

    f, g = rows(tr.f), rows(tr.grad_norm)
    evals = rows(tr.nfev) + rows(tr.ngev) + 2 * rows(tr.nhvp)
    path = rows(tr.x) if tr.x is not None else None
    success = np.atleast_1d(np.asarray(res.success, dtype=bool))
    out = []
    for b, n in enumerate(nit):
        k = int(n) + 1
        out.append({"f": f[b, :k], "grad_norm": g[b, :k], "evaluations": evals[b, :k],
                    "path": path[b, :k] if path is not None else None, "success": bool(success[b])})
    return out


def plot_result(results, fun=None, box=None, *, f_star: Optional[float] = None, x: str = "iteration",
                methods: Optional[dict] = None, band: str = "iqr", x_scale: str = "auto", minima=(), saddles=(),
                maxima=(), heading: Optional[str] = None) -> Figure:
    """A figure of one or more ``optimizers.minimize`` results.

    Args:
      results: an ``OptimizeResult``, or ``{label: OptimizeResult}`` (legend order); each
        one run or a batch of runs (leading axis of starts).
      fun: the objective, for the contour map under 2-D paths (optional: paths are drawn
        on white without it).
      box: the map's window ``((x_lo, y_lo), (x_hi, y_hi))``; default: around the paths.
      f_star: the optimal value, when known: the first panel shows f - f* (log axis).
      x: ``"iteration"`` or ``"evaluations"`` (``nfev + ngev + 2 nhvp``).
      methods: ``{label: method name}`` for the colours (a label that is a method name,
        ``"lbfgs"``, needs none): every method has its colour of the run figures.
      band: ``"iqr"``, ``"range"`` or ``"none"``, the spread over a batch's starts.
      x_scale: ``"auto"``, ``"linear"`` or ``"log"`` (as ``[plots] x_scale``).
      minima, saddles, maxima: points to mark on the map (a minimum is drawn as global
        when f there is within 1e-6 of ``f_star``, or of the lowest minimum).
      heading: the figure title (default: what is drawn).

    Returns:
      a ``matplotlib.figure.Figure``: the convergence panels, and a map of the paths when
      the results are 2-D with ``record_path=True``.
    """
    if x not in ("iteration", "evaluations"):
        raise ValueError(f"x must be 'iteration' or 'evaluations', got {x!r}")
    if band not in ("iqr", "range", "none"):
        raise ValueError(f"band must be 'iqr', 'range' or 'none', got {band!r}")
    if not isinstance(results, dict):
        results = {"result": results}
    if not results:
        raise ValueError("results is empty: pass an OptimizeResult or {label: OptimizeResult}")
    runs = {str(label): result_runs(res) for label, res in results.items()}
    methods = methods or {}
    color = label_colors((label, methods.get(label, label)) for label in runs)
    paths = {lab: [r["path"] for r in rs] for lab, rs in runs.items()
             if all(r["path"] is not None and r["path"].shape[1] == 2 for r in rs)}
    panels = 2 + bool(paths)
    fig = new_figure(1, panels, panel=(4.4, 3.6), legend_entries=len(runs))
    axes = fig.subplots(1, panels, squeeze=False)[0]
    handles = {}
    for ax, y in zip(axes, ("f", "grad_norm")):
        stats = {}
        for lab, rs in runs.items():
            curves = []
            for r in rs:
                xs = np.arange(len(r["f"]), dtype=np.float64) if x == "iteration" else r["evaluations"]
                ys = r[y] - f_star if (y == "f" and f_star is not None) else r[y]
                curves.append((xs, ys))
            stats[lab] = median_band(curves, band)
        log = y == "grad_norm" or f_star is not None or all(
            np.all(v[np.isfinite(v)] > 0) for s in stats.values() for v in s[1:])
        _draw_panel(ax, stats, color, handles, log=log, band=band)
        ax.set_xlabel(_x_axis(ax, x, [s[0][-1] for s in stats.values()], x_scale))
        ax.set_ylabel({"f": "f \u2212 f*" if f_star is not None else "f", "grad_norm": "\u2016\u2207f\u2016\u221e"}[y])
        ax.grid(True, which="major", alpha=0.3)
    names = list(handles)
    if paths:
        ax = axes[2]
        window = box if box is not None else _plot_box({}, [p for ps in paths.values() for p in ps])
        points = critical_points(fun, minima, saddles, maxima, f_star)
        if fun is not None:
            draw_map(ax, contour_map(fun, window, f_star))
        else:
            ax.set_xlim(window[0][0], window[1][0])
            ax.set_ylim(window[0][1], window[1][1])
        draw_points(ax, points)
        for lab, ps in paths.items():
            for p in ps:
                p = p[np.all(np.isfinite(p), axis=1)]
                ax.plot(p[:, 0], p[:, 1], "-", color=color[lab], lw=1.1, zorder=3)
                ax.plot(p[0, 0], p[0, 1], "o", color=color[lab], ms=3.5, mec="white", mew=0.5, zorder=4)
                ax.plot(p[-1, 0], p[-1, 1], "x", color="black", ms=5, mew=1.2, zorder=6)
        ax.set_xlabel("x\u2081")
        ax.set_ylabel("x\u2082")
        marks, mark_names = marker_key(points)
        handles = dict(zip(names + mark_names, list(handles.values()) + marks))
    starts = max(len(rs) for rs in runs.values())
    if heading is None:
        spread = {"iqr": "median and interquartile band", "range": "median and min-max band",
                  "none": "median"}[band]
        heading = (f"convergence against {x}" + (f" ({spread} over {starts} starts)" if starts > 1 else "")
                   + ("; paths over contours of f" if paths and fun is not None else "; paths" if paths else ""))
    title(fig, heading)
    legend_below(fig, list(handles.values()), list(handles))
    return fit(fig)

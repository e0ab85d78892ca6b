"""Convergence plots: f - f* (or f) and the gradient norm against iterations, evaluations, time.

One panel per problem and quantity, one line per method: the median over the starts, with
the interquartile range (or min-max range) as a band. Runs are step functions of the x
quantity, held at their final value after they stop, so a method whose starts finish early
is not averaged with nothing. Evaluations are ``nfev + ngev + 2 * nhvp``: one
Hessian-vector product costs about two gradient evaluations (forward-over-reverse).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from experiments.plots.layout import (
    CLIP,
    colors,
    count_x,
    grid,
    legend_below,
    log_y,
    new_figure,
    save,
    seconds_x,
    signed_log_scale,
    title,
    wants_log_x,
)

__all__ = ["X_LABELS", "convergence_figures", "median_band", "plot_convergence", "run_curves"]

X_LABELS = {
    "iteration": "iteration",
    "evaluations": "evaluations  (f + \u2207f; one Hv counted as 2 \u2207f)",
    "time": "measured wall time [s]",
}
_X_COLUMN = {"iteration": "iteration", "evaluations": "evaluations", "time": "time"}
_MAX_GRID = 600


def run_curves(data, problem: str, label: str, x: str, y: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x values, y values) per start of one pair; y is ``gap`` (or ``f``) or ``grad_norm``."""
    curves = []
    for run in data.results["runs"]:
        if run["problem"] != problem or run["label"] != label:
            continue
        tr = data.trace_of(run["run"])
        xs = tr[_X_COLUMN[x]].astype(np.float64)
        if y == "gap":
            ys = tr["gap"] if run["f_star"] is not None else tr["f"]
        else:
            ys = tr[y]
        ok = np.isfinite(xs)
        if ok.any():
            curves.append((xs[ok], np.asarray(ys, dtype=np.float64)[ok]))
    return curves


def median_band(curves, band: str = "iqr"):
    """Median and band (25-75 % or min-max) of step-function curves on a common x grid."""
    if not curves:
        return None
    grid_x = np.unique(np.concatenate([c[0] for c in curves]))
    if grid_x.size > _MAX_GRID:
        grid_x = np.unique(np.quantile(grid_x, np.linspace(0.0, 1.0, _MAX_GRID)))
    values = np.full((len(curves), grid_x.size), np.nan)
    for i, (xs, ys) in enumerate(curves):
        idx = np.searchsorted(xs, grid_x, side="right") - 1
        ok = idx >= 0
        values[i, ok] = ys[idx[ok]]
    if band == "range":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before a run starts
            lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        median = _nan_quantile(values, 0.5)
    else:
        lo, median, hi = (_nan_quantile(values, q) for q in (0.25, 0.5, 0.75))
    return grid_x, median, lo, hi


def _nan_quantile(values: np.ndarray, q: float) -> np.ndarray:
    """Column-wise quantile ignoring NaN (linear interpolation, as numpy's default)."""
    values = np.where(np.isfinite(values), values, np.nan)
    ordered = np.sort(values, axis=0)  # NaN sorts last
    count = np.sum(np.isfinite(values), axis=0)
    pos = q * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    cols = np.arange(values.shape[1])
    a, b = ordered[lo, cols], ordered[hi, cols]
    out = a + (pos - lo) * np.where(hi > lo, b - a, 0.0)
    return np.where(count > 0, out, np.nan)


def _y_label(y: str, has_f_star: bool) -> str:
    if y == "grad_norm":
        return "\u2016\u2207f\u2016\u221e"
    return "f \u2212 f*" if has_f_star else "f"


def plot_convergence(data, spec_plots, out_dir: Path, formats) -> list[Path]:
    """One figure per x axis of ``spec_plots.x_axis``: ``convergence_<axis>.png``."""
    paths = []
    for stem, fig in convergence_figures(data, spec_plots):
        paths += save(fig, out_dir, stem, formats)
    return paths


def convergence_figures(data, spec_plots, x_axes=None) -> list[tuple[str, Figure]]:
    """``(file stem, figure)`` per x axis of ``spec_plots.x_axis`` (or of ``x_axes``), not yet saved."""
    problems = [p for p in data.results["problems"]
                if any(r["problem"] == p["label"] for r in data.results["runs"])]
    labels = [o["label"] for o in data.results["optimizers"]]
    color = colors(data.results["optimizers"])
    figures = []
    if not problems:
        return figures
    ys = list(spec_plots.y_axis)
    for x in spec_plots.x_axis if x_axes is None else x_axes:
        if x == "time" and not np.isfinite(data.trace["time"]).any():
            continue  # time axis not measured in this run
        rows, cols = grid(len(problems))
        fig = new_figure(rows * len(ys), cols, legend_entries=len(labels))
        axes = fig.subplots(rows * len(ys), cols, squeeze=False)
        for i in range(len(problems), rows * cols):
            for k in range(len(ys)):
                axes[(i // cols) * len(ys) + k, i % cols].set_visible(False)
        handles = {}
        for i, p in enumerate(problems):
            has_f_star = p["f_star"] is not None
            for k, y in enumerate(ys):
                ax = axes[(i // cols) * len(ys) + k, i % cols]
                stats = {}
                for label in labels:
                    res = median_band(run_curves(data, p["label"], label, x, y), spec_plots.band)
                    if res is not None:
                        stats[label] = res
                log = y == "grad_norm" or has_f_star or all(
                    np.all(v[np.isfinite(v)] > 0) for s in stats.values() for v in s[1:])
                _draw_panel(ax, stats, color, handles, log=log, band=spec_plots.band)
                x_label = _x_axis(ax, x, [s[0][-1] for s in stats.values()], spec_plots.x_scale,
                                  [s[0][0] for s in stats.values()])
                ax.set_ylabel(_y_label(y, has_f_star))
                if k == 0:
                    heading = p["label"] + (f"   (f* = {p['f_star']:.6g})" if has_f_star else "   (f* unknown)")
                    ax.set_title(heading, fontsize=10)
                ax.set_xlabel(x_label if k == len(ys) - 1 else "")
                ax.grid(True, which="major", alpha=0.3)
        starts = sorted({p["starts"] for p in problems})
        spread = {"iqr": "median and interquartile band over starts",
                  "range": "median and min-max band over starts", "none": "median over starts"}[spec_plots.band]
        title(fig, f"{data.results['name']}: convergence against {x}  ({spread}; "
                   f"{'/'.join(map(str, starts))} start{'s' if max(starts) > 1 else ''} per problem)")
        legend_below(fig, list(handles.values()), list(handles))
        figures.append((f"convergence_{x}", fig))
    return figures


def _x_axis(ax, x: str, ends, mode: str, starts=()) -> str:
    """Scale and ticks of a panel's x axis (log where a linear one would squash the fast
    methods against x = 0); returns the axis label."""
    log = wants_log_x(ends, mode)
    top = max(ends) if ends else 1.0
    if x == "time":
        # time starts at the dispatch overhead, not at 0: a log axis over less than two
        # decades would carry a single labelled tick
        start = min((s for s in starts if s > 0), default=top)
        log = log and (mode == "log" or top / start >= 100.0)
        unit = seconds_x(ax, log, top)
        return f"measured wall time [{unit}]"
    count_x(ax, log, top, from_zero=x == "iteration")
    return X_LABELS[x]


def _draw_panel(ax, stats, color, handles, *, log: bool, band: str):
    floor = None
    if log:
        positives = [v[(v > 0) & np.isfinite(v)] for s in stats.values() for v in (s[1], s[2], s[3])]
        positives = np.concatenate(positives) if positives else np.zeros(0)
        floor = positives.min() / 10.0 if positives.size else 1e-16
    for label, (gx, med, lo, hi) in stats.items():
        med, lo, hi = (np.clip(v, -CLIP, CLIP) for v in (med, lo, hi))
        if floor is not None:
            med, lo, hi = (np.where(np.isfinite(v) & (v <= 0), floor, v) for v in (med, lo, hi))
        (line,) = ax.plot(gx, med, color=color[label], lw=1.6, drawstyle="steps-post", label=label)
        handles.setdefault(label, line)
        if band != "none" and np.any(np.isfinite(lo) & (lo != hi)):
            ax.fill_between(gx, lo, hi, color=color[label], alpha=0.18, step="post", lw=0)
    if log:
        log_y(ax)
    elif stats and any(np.any(s[1][np.isfinite(s[1])] <= 0) for s in stats.values()):
        signed_log_scale(ax, [s[1] for s in stats.values()])
    if not stats:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.5")

"""Performance profiles (Dolan & More, Math. Programming 91, 2002).

Every (problem instance, start) is one test problem p. Method s solves p at the first
iterate where ``f - f_ref <= tol * max(1, |f_ref|)``; ``f_ref`` is the published f* when
known, else the lowest f any method reached on p. Its cost t_{p,s} is the iteration count,
the evaluations (``nfev + ngev + 2 nhvp``) or the measured time at that iterate (infinite
when never solved). The profile is rho_s(tau) = |{p : t_{p,s} <= tau * min_s t_{p,s}}| / |P|,
drawn for tau >= 1 on a log2 axis: the value at tau = 1 is the share of problems on which
s is fastest, the limit the share it solves at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from experiments.plots.layout import colors, legend_below, new_figure, save, spread, title

__all__ = ["performance_profile", "plot_profiles", "profile_figure", "solve_costs"]

_LABEL_IN = 0.13  # height of a 7-point label, and a little air
_COST_COLUMN = {"iteration": "iteration", "evaluations": "evaluations", "time": "time"}
_COST_LABEL = {"iteration": "iterations", "evaluations": "evaluations (one Hv = 2 \u2207f)",
               "time": "measured wall time"}


def solve_costs(data, measure: str, tol: float):
    """(cases x methods) cost matrix (inf = not solved) and the method labels.

    Cases are the (problem, start) pairs that every method with runs has run.
    """
    ran = {r["label"] for r in data.results["runs"]}
    labels = [o["label"] for o in data.results["optimizers"] if o["label"] in ran]
    traces = {}
    for r in data.results["runs"]:
        traces[(r["problem"], r["start"], r["label"])] = (r, data.trace_of(r["run"]))
    # only cases every method ran (an interrupted run may lack some pairs)
    keys = sorted({(r["problem"], r["start"]) for r in data.results["runs"]
                   if all((r["problem"], r["start"], lab) in traces for lab in labels)})
    index = {k: i for i, k in enumerate(keys)}
    costs = np.full((len(keys), len(labels)), np.inf)
    for (problem, start), i in index.items():
        group = [traces.get((problem, start, lab)) for lab in labels]
        f_star = next((g[0]["f_star"] for g in group if g is not None), None)
        if f_star is None:
            finals = [np.nanmin(g[1]["f"]) for g in group if g is not None and np.isfinite(g[1]["f"]).any()]
            if not finals:
                continue
            f_ref = min(finals)
        else:
            f_ref = f_star
        target = tol * max(1.0, abs(f_ref))
        for j, g in enumerate(group):
            if g is None:
                continue
            tr = g[1]
            hit = np.flatnonzero(np.isfinite(tr["f"]) & (tr["f"] - f_ref <= target))
            if hit.size:
                cost = float(tr[_COST_COLUMN[measure]][hit[0]])
                if measure == "iteration":
                    cost += 1.0  # count x0 as one, so a start that is already optimal has cost 1
                if np.isfinite(cost):
                    costs[i, j] = max(cost, 1e-12)
    return costs, labels


def performance_profile(costs: np.ndarray):
    """(taus, rho) with rho[:, s] the fraction of problems s solves within tau x the best cost."""
    best = np.min(costs, axis=1, keepdims=True)
    solvable = np.isfinite(best[:, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(solvable[:, None], costs / best, np.inf)
    finite = ratios[np.isfinite(ratios)]
    tau_max = max(2.0, float(finite.max()) * 1.05) if finite.size else 2.0
    taus = np.unique(np.concatenate([[1.0], np.sort(finite), [tau_max]]))
    n = max(costs.shape[0], 1)
    rho = np.stack([(ratios[:, s][None, :] <= taus[:, None]).sum(axis=1) / n for s in range(costs.shape[1])],
                   axis=1)
    return taus, rho


def plot_profiles(data, spec_plots, out_dir: Path, formats) -> list[Path]:
    """``profile.png``: one panel per cost measure of ``spec_plots.x_axis``."""
    fig = profile_figure(data, spec_plots)
    return [] if fig is None else save(fig, out_dir, "profile", formats)


def profile_figure(data, spec_plots) -> Optional[Figure]:
    """The figure of :func:`plot_profiles`, not yet saved (None: nothing to profile)."""
    measures = [m for m in spec_plots.x_axis if m != "time" or np.isfinite(data.trace["time"]).any()]
    if not measures or not data.results["runs"]:
        return None
    color = colors(data.results["optimizers"])
    fig = new_figure(1, len(measures), panel=(4.8, 3.6), legend_entries=len(color))
    axes = fig.subplots(1, len(measures), squeeze=False)[0]
    handles = {}
    n_problems = 0
    for ax, measure in zip(axes, measures):
        costs, labels = solve_costs(data, measure, spec_plots.profile_tol)
        n_problems = costs.shape[0]
        taus, rho = performance_profile(costs)
        for j, lab in enumerate(labels):
            (line,) = ax.step(taus, rho[:, j], where="post", color=color[lab], lw=1.6,
                              label=f"{lab}")
            handles.setdefault(lab, line)
        # the share each method solves, at the right end of its line; labels of methods
        # that end at (nearly) the same height are stacked, not printed over each other
        solved = [np.isfinite(costs[:, j]).mean() if costs.size else 0.0 for j in range(len(labels))]
        axis_in = ax.get_position().height * fig.get_figheight()
        heights = spread([rho[-1, j] for j in range(len(labels))], gap=_LABEL_IN / axis_in * (1.04 + 0.02),
                         low=-0.02, high=1.04)
        for j, lab in enumerate(labels):
            ax.annotate(f"{solved[j]:.0%}", (taus[-1], heights[j]), xytext=(3, 0), textcoords="offset points",
                        fontsize=7, color=color[lab], va="center")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos=None: f"{v:g}"))  # 1, 2, 4: no mathtext
        ax.set_ylim(-0.02, 1.04)
        ax.set_xlim(1.0, taus[-1] * 1.3)
        ax.set_xlabel(f"\u03c4 (within \u03c4 \u00d7 the best {_COST_LABEL[measure]})", fontsize=9)
        ax.set_ylabel("fraction of problems solved")
        ax.set_title(f"cost: {_COST_LABEL[measure]}", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    title(fig, f"{data.results['name']}: performance profiles (Dolan & Mor\u00e9 2002), {n_problems} "
               f"problem\u00d7start cases; solved: f \u2212 f* \u2264 {spec_plots.profile_tol:g}\u00b7max(1, |f*|)")
    legend_below(fig, list(handles.values()), list(handles))
    return fig

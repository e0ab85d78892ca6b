"""Curvature along the path: the smallest and largest Hessian eigenvalue at each iterate.

A negative smallest eigenvalue means the iterate sits where f curves down in some direction
(near a saddle or a maximum); the iteration where it turns positive is where the method
enters a convex basin. The eigenvalues are computed by the runner (dense ``eigvalsh`` of
``curvature.hessian`` for small dimension, Lanczos above) and stored in ``trace.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from experiments.plots.layout import (
    CLIP,
    colors,
    count_x,
    legend_below,
    panel_figure,
    save,
    signed_log_scale,
    title,
    wants_log_x,
)

__all__ = ["curvature_figure", "plot_curvature"]


def plot_curvature(data, out_dir: Path, formats, start: int = 0, x_scale: str = "auto") -> list[Path]:
    """``curvature.png``: one panel per problem with eigenvalues stored, one colour per method;
    ``x_scale`` as ``[plots] x_scale``."""
    fig = curvature_figure(data, start, x_scale)
    return [] if fig is None else save(fig, out_dir, "curvature", formats)


def curvature_figure(data, start: int = 0, x_scale: str = "auto") -> Optional[Figure]:
    """The figure of :func:`plot_curvature`, not yet saved (None: no eigenvalues stored)."""
    labels = [o["label"] for o in data.results["optimizers"]]
    color = colors(data.results["optimizers"])
    panels = []
    for meta in data.results["problems"]:
        lines = {}
        for r in data.results["runs"]:
            if r["problem"] != meta["label"] or r["start"] != start:
                continue
            tr = data.trace_of(r["run"])
            if np.isfinite(tr["eig_min"]).any():
                lines[r["label"]] = (tr["iteration"], tr["eig_min"], tr["eig_max"])
        if lines:
            panels.append((meta, lines))
    if not panels:
        return None
    fig, axes = panel_figure(len(panels), 3, panel=(4.8, 3.4), legend_entries=len(labels) + 2)
    for ax, (meta, lines) in zip(axes, panels):
        magnitude = []
        for lab in labels:
            if lab not in lines:
                continue
            it, lo, hi = lines[lab]
            lo, hi = np.clip(lo, -CLIP, CLIP), np.clip(hi, -CLIP, CLIP)
            ax.plot(it, lo, "-", color=color[lab], lw=1.7, zorder=3)
            ax.plot(it, hi, "--", color=color[lab], lw=1.1, zorder=3)
            magnitude += [lo, hi]
        signed_log_scale(ax, magnitude)
        # zero is a dotted grey line over a faint tint of the negative-curvature side, so
        # that it never reads as a method's (solid) lambda_min, black for Newton included
        ax.axhline(0.0, color="0.45", lw=0.9, ls=(0, (1, 2)), zorder=2)
        low, high = ax.get_ylim()
        if low < 0:
            ax.axhspan(low, 0.0, color="#d62728", alpha=0.06, lw=0, zorder=0)
        ax.set_ylim(low, high)
        ends = [float(lines[lab][0][-1]) for lab in lines if len(lines[lab][0])]
        count_x(ax, wants_log_x(ends, x_scale), max(ends, default=1.0))
        ax.set_title(meta["label"], fontsize=10)
        ax.set_xlabel("iteration")
        ax.set_ylabel("Hessian eigenvalue")
        ax.grid(True, which="major", alpha=0.3)
    handles = [Line2D([], [], color=color[lab], lw=1.6) for lab in labels]
    handles += [Line2D([], [], color="0.3", ls="-", lw=1.7), Line2D([], [], color="0.3", ls="--", lw=1.1)]
    names = labels + ["\u03bb$_{min}$ (solid)", "\u03bb$_{max}$ (dashed)"]
    legend_below(fig, handles, names)
    title(fig, f"{data.results['name']}: curvature along the path of start {start} "
               "(symmetric log axis: linear near 0, logarithmic beyond; tinted below 0: negative curvature)")
    return fig

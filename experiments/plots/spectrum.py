"""Hessian spectral densities at the start and at the end of the runs (``spectrum.png``).

One panel per problem with densities in ``spectra.json`` (``[plots] spectrum = true``;
computed by the runner with ``curvature.spectral_density``, see :mod:`experiments.spectra`):
the density at start 0's x0 (dashed, grey) and at each method's last iterate of start 0
(solid, the method's colour), on a log density axis, so that the few large eigenvalues
(outliers) and a negative part (a saddle region) show next to the bulk near 0. The curves
of a panel are smoothed again from the stored quadrature nodes and weights on one grid with
one Gaussian width (1 % of the panel's eigenvalue range), so that they compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from experiments.plots.layout import colors, legend_below, log_y, panel_figure, save, title

__all__ = ["plot_spectrum", "smoothed_density", "spectrum_figure"]

_POINTS = 400
_FLOOR = 1e-6  # the log axis ends this far below a panel's highest density


def smoothed_density(nodes, weights, grid_points, sigma: float) -> np.ndarray:
    """The stochastic Lanczos quadrature density on ``grid_points``: the probe average of
    each probe's weighted nodes, each smoothed by a Gaussian of width ``sigma`` (the
    formula of ``curvature.spectral_density``)."""
    nodes, weights = np.asarray(nodes, np.float64), np.asarray(weights, np.float64)
    t = np.asarray(grid_points, np.float64)[:, None, None]
    kernel = np.exp(-0.5 * ((t - nodes[None]) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    return np.mean(np.sum(weights[None] * kernel, axis=2), axis=1)


def plot_spectrum(data, out_dir: Path, formats) -> list[Path]:
    """``spectrum.png`` when the run stored spectral densities."""
    fig = spectrum_figure(data)
    return [] if fig is None else save(fig, out_dir, "spectrum", formats)


def spectrum_figure(data) -> Optional[Figure]:
    """The figure of :func:`plot_spectrum`, not yet saved (None: no densities stored)."""
    from experiments.records import read_spectra

    stored = read_spectra(data.run_dir)
    if not stored:
        return None
    labels = [o["label"] for o in data.results["optimizers"]]
    color = colors(data.results["optimizers"])
    finished = {(r["problem"], r["label"]) for r in data.results["runs"]}
    panels = []
    for meta in data.results["problems"]:
        entries = [e for e in stored["entries"] if e["problem"] == meta["label"] and "nodes" in e
                   and (e["label"] is None or (meta["label"], e["label"]) in finished)]
        start = next((e for e in entries if e["point"] == "start"), None)
        ends = {e["label"]: e for e in entries if e["point"] == "end"}
        if start is not None or ends:
            panels.append((meta, start, ends))
    if not panels:
        return None
    fig, axes = panel_figure(len(panels), 3, panel=(4.8, 3.4), legend_entries=len(labels) + 1)
    for ax, (meta, start, ends) in zip(axes, panels):
        entries = ([start] if start is not None else []) + [ends[lab] for lab in labels if lab in ends]
        nodes = np.concatenate([np.ravel(e["nodes"]) for e in entries])
        nodes = nodes[np.isfinite(nodes)]
        lo, hi = float(nodes.min()), float(nodes.max())
        sigma = 0.01 * (hi - lo) if hi > lo else max(1e-3, 0.01 * abs(hi))
        t = np.linspace(lo - 5 * sigma, hi + 5 * sigma, _POINTS)
        top = 0.0
        if start is not None:
            d = smoothed_density(start["nodes"], start["weights"], t, sigma)
            ax.plot(t, d, "--", color="0.3", lw=1.5, zorder=4)
            top = max(top, d.max())
        for lab in labels:
            if lab in ends:
                d = smoothed_density(ends[lab]["nodes"], ends[lab]["weights"], t, sigma)
                ax.plot(t, d, "-", color=color[lab], lw=1.3, alpha=0.9, zorder=3)
                top = max(top, d.max())
        log_y(ax)
        if top > 0:
            ax.set_ylim(top * _FLOOR, top * 3)
        if lo < 0 < hi:
            ax.axvline(0.0, color="0.45", lw=0.9, ls=(0, (1, 2)), zorder=2)
        ax.set_title(f"{meta['label']}  (n = {meta['dim']})", fontsize=10)
        ax.set_xlabel("Hessian eigenvalue")
        ax.set_ylabel("density")
        ax.grid(True, which="major", alpha=0.3)
    shown = [lab for lab in labels if any(lab in ends for _, _, ends in panels)]
    handles = [Line2D([], [], color="0.3", ls="--", lw=1.5)] + [Line2D([], [], color=color[lab], lw=1.3)
                                                                 for lab in shown]
    legend_below(fig, handles, ["start (x0)"] + shown)
    title(fig, f"{data.results['name']}: Hessian spectral density at start 0's x0 and at each method's last "
               "iterate (stochastic Lanczos quadrature, curvature.spectral_density)")
    return fig

"""2-D trajectories: every method's iterates over a contour map of f, with the negative
gradient field as arrows (direction only) and the known critical points marked: global
minima (gold star), local minima (white star), saddle points (diamond) and maxima
(triangle), from the problem's ``minima``, ``saddles`` and ``maxima``.

One figure per 2-D problem, one panel per method, every start drawn (o: start, x: end).
The map and the markers are shared with the animations (:mod:`.animation`) and the
notebook plots (:mod:`.results`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from experiments.plots.layout import colors, legend_below, panel_figure, save, title, unique_slugs

__all__ = ["ContourMap", "contour_map", "critical_points", "draw_map", "draw_points", "marker_key",
           "plot_trajectories", "problem_points", "recorded_paths", "surface", "trajectory_figures"]

_GRID = 120
_ARROWS = 15
# kind -> how it is drawn and named in the legend
_MARKERS = {
    "global minimum": dict(marker="*", ms=13, color="gold", mec="black", mew=0.7),
    "local minimum": dict(marker="*", ms=10, color="white", mec="black", mew=0.7),
    "saddle point": dict(marker="D", ms=6.5, color="white", mec="black", mew=0.9),
    "maximum": dict(marker="^", ms=8.5, color="white", mec="black", mew=0.9),
}


def surface(problem, box, n: int = _GRID, dtype=None):
    """f and its gradient on an ``n x n`` grid over ``box = ((x_lo, y_lo), (x_hi, y_hi))``;
    ``problem`` is a registry problem or a function of a 2-vector (``dtype``: the grid's,
    default the problem's ``x0`` dtype, or JAX's default float)."""
    import jax
    import jax.numpy as jnp

    fun = getattr(problem, "fun", problem)
    if dtype is None:
        dtype = problem.x0.dtype if hasattr(problem, "x0") else jnp.asarray(0.0).dtype
    (x_lo, y_lo), (x_hi, y_hi) = box
    xs, ys = np.linspace(x_lo, x_hi, n), np.linspace(y_lo, y_hi, n)
    X, Y = np.meshgrid(xs, ys)
    pts = jnp.asarray(np.stack([X.ravel(), Y.ravel()], axis=1), dtype=dtype)
    f, g = jax.jit(jax.vmap(jax.value_and_grad(fun)))(pts)
    return X, Y, np.asarray(f, dtype=np.float64).reshape(X.shape), np.asarray(g, dtype=np.float64).reshape(n, n, 2)


class ContourMap(NamedTuple):
    """A problem's surface on a grid, ready to draw: grid, f, its gradient, the contour
    levels (``base``: the level origin of log-spaced levels, None for linear ones) and the
    box ``((x_lo, y_lo), (x_hi, y_hi))``."""

    X: np.ndarray
    Y: np.ndarray
    F: np.ndarray
    G: np.ndarray
    levels: np.ndarray
    base: Optional[float]
    box: tuple


def contour_map(problem, box, f_star=None, dtype=None) -> ContourMap:
    """The :class:`ContourMap` of ``problem`` (or a function) over ``box``."""
    X, Y, F, G = surface(problem, box, dtype=dtype)
    levels, base = _levels(F, f_star)
    return ContourMap(X, Y, F, G, levels, base, box)


def draw_map(ax, cmap: ContourMap) -> None:
    """Shaded contour levels of f, the contour lines and the -grad f direction arrows."""
    (x_lo, y_lo), (x_hi, y_hi) = cmap.box
    shade = np.digitize(np.where(np.isfinite(cmap.F), cmap.F, cmap.levels[-1]), cmap.levels).astype(float)
    ax.imshow(shade, origin="lower", extent=(x_lo, x_hi, y_lo, y_hi), aspect="auto", cmap="Greys_r", alpha=0.3,
              interpolation="nearest")
    ax.contour(cmap.X, cmap.Y, cmap.F, levels=cmap.levels, colors="0.45", linewidths=0.5)
    sx = slice(None, None, max(1, cmap.X.shape[0] // _ARROWS))
    Xq, Yq, Gq = cmap.X[sx, sx], cmap.Y[sx, sx], -cmap.G[sx, sx]
    norm = np.hypot(Gq[..., 0], Gq[..., 1])
    norm = np.where(norm > 0, norm, 1.0)
    ax.quiver(Xq, Yq, Gq[..., 0] / norm, Gq[..., 1] / norm, color="0.55", alpha=0.6, angles="xy",
              scale=_ARROWS * 1.6, width=0.0035, headwidth=3.5)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)


def critical_points(fun, minima=(), saddles=(), maxima=(), f_star=None) -> dict:
    """``{kind: [(x, y), ...]}`` for the kinds of :data:`_MARKERS` that occur: a minimum is
    global when f there is within 1e-6 (relative) of ``f_star``, or of the lowest f over
    ``minima`` when f* is unknown; ``fun`` evaluates f (None: every minimum counts as
    global)."""
    import jax.numpy as jnp

    points = {}
    minima = [tuple(map(float, m)) for m in minima or ()]
    if minima:
        if fun is None:
            values = np.zeros(len(minima))
        else:
            values = np.array([float(fun(jnp.asarray(m))) for m in minima])
        ref = f_star if f_star is not None else np.nanmin(values)
        best = values <= ref + 1e-6 * max(1.0, abs(ref))
        for m, is_global in zip(minima, best):
            points.setdefault("global minimum" if is_global else "local minimum", []).append(m)
    for kind, pts in (("saddle point", saddles), ("maximum", maxima)):
        for pt in pts or ():
            points.setdefault(kind, []).append(tuple(map(float, pt)))
    return points


def draw_points(ax, points: dict) -> None:
    """Mark the :func:`critical_points` on ``ax``."""
    for kind, pts in points.items():
        xy = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        ax.plot(xy[:, 0], xy[:, 1], ls="none", zorder=5, **_MARKERS[kind])


def marker_key(points: dict, *, ends: bool = True) -> tuple[list, list]:
    """Legend handles and names for the kinds of point drawn (and, with ``ends``, the
    start and end markers of the paths)."""
    handles, names = [], []
    for kind, style in _MARKERS.items():
        if kind in points:
            handles.append(Line2D([], [], ls="none", **style))
            names.append(kind)
    if ends:
        handles += [Line2D([], [], ls="none", marker="o", ms=4, color="0.35", mec="white", mew=0.5),
                    Line2D([], [], ls="none", marker="x", ms=5, color="black", mew=1.2)]
        names += ["start", "end"]
    return handles, names


def problem_points(problem, meta) -> dict:
    """The critical points of a registry ``problem`` (its ``minima``, ``saddles`` and
    ``maxima``; f* from the run's ``meta``)."""
    return critical_points(problem.fun, getattr(problem, "minima", ()), getattr(problem, "saddles", ()),
                           getattr(problem, "maxima", ()), meta.get("f_star"))


def recorded_paths(data, meta):
    """``({label: [(xy, run), ...]}, box)`` of a 2-D problem of a stored run: each run's
    iterates (``(iterations, 2)``, from ``trace.csv``) in config order of the methods and
    the plot window; None when the problem is not 2-D or no path was recorded."""
    if meta["dim"] != 2:
        return None
    order = {o["label"]: i for i, o in enumerate(data.results["optimizers"])}
    paths = {}
    for r in sorted((r for r in data.results["runs"] if r["problem"] == meta["label"]),
                    key=lambda r: (order.get(r["label"], len(order)), r["start"])):
        tr = data.trace_of(r["run"])
        xy = np.stack([tr["x"], tr["y"]], axis=1)
        if np.isfinite(xy).any():
            paths.setdefault(r["label"], []).append((xy, r))
    if not paths:
        return None
    return paths, _plot_box(meta, [xy for runs in paths.values() for xy, _ in runs])


def _plot_box(meta, paths):
    if meta.get("box") is not None:
        lo, hi = meta["box"]
        return (lo[0], lo[1]), (hi[0], hi[1])
    pts = np.concatenate([p for p in paths if p.size]) if paths else np.zeros((0, 2))
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if not pts.size:
        return (-1.0, -1.0), (1.0, 1.0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = np.maximum(0.1 * (hi - lo), 0.5)
    return tuple(lo - pad), tuple(hi + pad)


def _levels(F, f_star):
    """Contour levels: log-spaced above the minimum when f is bounded below, else linear."""
    finite = F[np.isfinite(F)]
    lo, hi = finite.min(), np.quantile(finite, 0.98)
    if f_star is not None and hi > lo:
        base = min(lo, f_star)
        span = hi - base
        return base + np.geomspace(span * 1e-4, span, 18), base
    return np.linspace(lo, hi, 18), None


def plot_trajectories(data, problem_of, out_dir: Path, formats) -> list[Path]:
    """``trajectories_<problem>.png`` for every 2-D problem whose path was recorded."""
    files = []
    for stem, fig in trajectory_figures(data, problem_of):
        files += save(fig, out_dir, stem, formats)
    return files


def trajectory_figures(data, problem_of, only=None) -> list[tuple[str, Figure]]:
    """``(file stem, figure)`` of :func:`plot_trajectories`, not yet saved; ``problem_of(meta)``
    builds the problem of a ``results["problems"]`` entry (for its contour map); ``only``: the
    label of the one problem to draw."""
    labels = [o["label"] for o in data.results["optimizers"]]
    color = colors(data.results["optimizers"])
    figures = []
    stems = unique_slugs(meta["label"] for meta in data.results["problems"])
    for meta in data.results["problems"]:
        found = recorded_paths(data, meta) if only in (None, meta["label"]) else None
        if found is None:
            continue
        paths, box = found
        methods = [lab for lab in labels if lab in paths]
        problem = problem_of(meta)
        cmap = contour_map(problem, box, meta["f_star"])
        points = problem_points(problem, meta)
        fig, axes = panel_figure(len(methods), 3, panel=(4.3, 3.9), legend_entries=len(points) + 2)
        for ax, lab in zip(axes, methods):
            draw_map(ax, cmap)
            draw_points(ax, points)
            ok = 0
            for xy, r in paths[lab]:
                xy = xy[np.all(np.isfinite(xy), axis=1)]
                ax.plot(xy[:, 0], xy[:, 1], "-", color=color[lab], lw=1.1, alpha=0.9, zorder=3)
                ax.plot(xy[0, 0], xy[0, 1], "o", color=color[lab], ms=3.5, mec="white", mew=0.5, zorder=4)
                ax.plot(xy[-1, 0], xy[-1, 1], "x", color="black", ms=5, mew=1.2, zorder=6)
                ok += bool(r["success"])
            ax.set_title(f"{lab}  ({ok}/{len(paths[lab])} converged)", fontsize=10, color=color[lab])
            ax.set_xlabel("x\u2081")
            ax.set_ylabel("x\u2082")
        scale = "log-spaced levels of f" if cmap.base is not None else "linear levels of f"
        title(fig, f"{meta['label']}: paths over contours ({scale}); arrows: \u2212\u2207f direction")
        legend_below(fig, *marker_key(points))
        figures.append((f"trajectories_{stems[meta['label']]}", fig))
    return figures

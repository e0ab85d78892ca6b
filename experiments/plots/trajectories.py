"""2-D trajectories: every method's iterates over a contour map of f, with the negative
gradient field as arrows (direction only) and the known minima marked.

One figure per 2-D problem, one panel per method, every start drawn (o: start, x: end).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from experiments.plots.layout import colors, grid, new_figure, save, title, unique_slugs

__all__ = ["plot_trajectories", "surface", "trajectory_figures"]

_GRID = 120
_ARROWS = 15


def surface(problem, box, n: int = _GRID):
    """f and its gradient on an ``n x n`` grid over ``box = ((x_lo, y_lo), (x_hi, y_hi))``."""
    import jax
    import jax.numpy as jnp

    (x_lo, y_lo), (x_hi, y_hi) = box
    xs, ys = np.linspace(x_lo, x_hi, n), np.linspace(y_lo, y_hi, n)
    X, Y = np.meshgrid(xs, ys)
    pts = jnp.asarray(np.stack([X.ravel(), Y.ravel()], axis=1), dtype=problem.x0.dtype)
    f, g = jax.jit(jax.vmap(jax.value_and_grad(problem.fun)))(pts)
    return X, Y, np.asarray(f, dtype=np.float64).reshape(X.shape), np.asarray(g, dtype=np.float64).reshape(n, n, 2)


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


def trajectory_figures(data, problem_of) -> list[tuple[str, Figure]]:
    """``(file stem, figure)`` of :func:`plot_trajectories`, not yet saved; ``problem_of(meta)``
    builds the problem of a ``results["problems"]`` entry (for its contour map)."""
    labels = [o["label"] for o in data.results["optimizers"]]
    color = colors(data.results["optimizers"])
    figures = []
    stems = unique_slugs(meta["label"] for meta in data.results["problems"])
    for meta in data.results["problems"]:
        if meta["dim"] != 2:
            continue
        runs = [r for r in data.results["runs"] if r["problem"] == meta["label"]]
        paths = {}
        for r in runs:
            tr = data.trace_of(r["run"])
            xy = np.stack([tr["x"], tr["y"]], axis=1)
            if np.isfinite(xy).any():
                paths.setdefault(r["label"], []).append((xy, r))
        if not paths:
            continue
        methods = [lab for lab in labels if lab in paths]
        box = _plot_box(meta, [xy for lab in methods for xy, _ in paths[lab]])
        problem = problem_of(meta)
        X, Y, F, G = surface(problem, box)
        levels, base = _levels(F, meta["f_star"])
        shade = np.digitize(np.where(np.isfinite(F), F, levels[-1]), levels).astype(float)
        sx = slice(None, None, max(1, _GRID // _ARROWS))
        Xq, Yq, Gq = X[sx, sx], Y[sx, sx], -G[sx, sx]
        norm = np.hypot(Gq[..., 0], Gq[..., 1])
        norm = np.where(norm > 0, norm, 1.0)
        rows, cols = grid(len(methods), 3)
        fig = new_figure(rows, cols, panel=(4.3, 3.9))
        axes = fig.subplots(rows, cols, squeeze=False)
        for i in range(len(methods), rows * cols):
            axes[i // cols, i % cols].set_visible(False)
        for i, lab in enumerate(methods):
            ax = axes[i // cols, i % cols]
            ax.imshow(shade, origin="lower", extent=(box[0][0], box[1][0], box[0][1], box[1][1]), aspect="auto",
                      cmap="Greys_r", alpha=0.3, interpolation="nearest")
            ax.contour(X, Y, F, levels=levels, colors="0.45", linewidths=0.5)
            ax.quiver(Xq, Yq, Gq[..., 0] / norm, Gq[..., 1] / norm, color="0.55", alpha=0.6, angles="xy",
                      scale=_ARROWS * 1.6, width=0.0035, headwidth=3.5)
            for m in meta.get("minima") or []:
                ax.plot(m[0], m[1], marker="*", ms=12, color="gold", mec="black", mew=0.7, ls="none", zorder=5)
            ok = 0
            for xy, r in paths[lab]:
                xy = xy[np.all(np.isfinite(xy), axis=1)]
                ax.plot(xy[:, 0], xy[:, 1], "-", color=color[lab], lw=1.1, alpha=0.9, zorder=3)
                ax.plot(xy[0, 0], xy[0, 1], "o", color=color[lab], ms=3.5, mec="white", mew=0.5, zorder=4)
                ax.plot(xy[-1, 0], xy[-1, 1], "x", color="black", ms=5, mew=1.2, zorder=6)
                ok += bool(r["success"])
            ax.set_xlim(box[0][0], box[1][0])
            ax.set_ylim(box[0][1], box[1][1])
            ax.set_title(f"{lab}  ({ok}/{len(paths[lab])} converged)", fontsize=10, color=color[lab])
            ax.set_xlabel("x\u2081")
            ax.set_ylabel("x\u2082")
        scale = "log-spaced levels of f" if base is not None else "linear levels of f"
        title(fig, f"{meta['label']}: paths over contours ({scale}); arrows: \u2212\u2207f direction; "
                   "\u2605 known minima, o start, x end")
        figures.append((f"trajectories_{stems[meta['label']]}", fig))
    return figures

"""Shared figure plumbing: one colour per optimizer, panel grids with fixed margins, axes, saving.

Figures are built on ``matplotlib.figure.Figure`` directly (the Agg canvas), never through
pyplot, so plotting works headless and leaves no global state behind.
"""

from __future__ import annotations

import errno
import math
import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from experiments.plots.colors import label_colors

__all__ = ["colors", "grid", "legend_below", "log_y", "new_figure", "save", "signed_log_scale", "slug", "title",
           "unique_slugs"]

def colors(optimizers) -> dict:
    """``{label: colour}`` for a run's ``results["optimizers"]`` (dicts with ``label`` and
    ``method``): each method's own colour in every figure (see :mod:`.colors`)."""
    return label_colors((o["label"], o["method"]) for o in optimizers)


def grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    """(rows, cols) for ``n`` panels, at most ``max_cols`` wide."""
    cols = max(1, min(n, max_cols))
    return int(math.ceil(n / cols)), cols


# Inches around each panel's axes: tick labels and y label on the left, title above,
# tick labels and x label below. Fixed margins instead of constrained layout, which spends
# more time measuring text than drawing the figure.
_LEFT, _RIGHT, _ABOVE, _BELOW = 0.85, 0.25, 0.35, 0.55
_TITLE = 0.45
# Plotted values are clipped to +-10^200: a run diverging to -1e308 would overflow the
# axis transforms (matplotlib adds margins around the data in transformed space).
_MAX_EXPONENT = 200
CLIP = 10.0 ** _MAX_EXPONENT


def new_figure(rows: int, cols: int, panel=(4.2, 3.1), legend_entries: int = 0) -> Figure:
    """A figure of ``rows x cols`` panels of ``panel`` inches, with a strip for the title
    above and one for the legend below (``legend_entries`` items, 8 to a row)."""
    legend_rows = math.ceil(legend_entries / 8) if legend_entries else 0
    legend_in = 0.12 + 0.28 * legend_rows
    width, height = panel[0] * cols, panel[1] * rows + _TITLE + legend_in
    fig = Figure(figsize=(width, height), dpi=110)
    ax_w, ax_h = panel[0] - _LEFT - _RIGHT, panel[1] - _ABOVE - _BELOW
    fig.subplots_adjust(left=_LEFT / width, right=1 - _RIGHT / width, top=1 - (_TITLE + _ABOVE) / height,
                        bottom=(legend_in + _BELOW) / height, wspace=(_LEFT + _RIGHT) / ax_w,
                        hspace=(_ABOVE + _BELOW) / ax_h)
    return fig


def title(fig: Figure, text: str) -> None:
    """The figure title, centred in the top strip."""
    fig.suptitle(text, y=1 - 0.12 / fig.get_figheight(), va="top", fontsize=10.5)


def legend_below(fig: Figure, handles, labels) -> None:
    """One legend for the whole figure, centred in the bottom strip."""
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.06 / fig.get_figheight()),
               ncol=min(len(labels), 8), frameon=False, fontsize=9)


def save(fig: Figure, out_dir: Path, stem: str, formats) -> list[Path]:
    """Write ``stem.png`` (and ``stem.svg`` when asked) into ``out_dir``; returns the paths.

    Each file goes through a hidden temporary name and ``replace``, so a failed save (a full
    disk) leaves the previous figure and no partial file; OSError names the path.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        tmp = out_dir / f".{stem}.tmp.{fmt}"
        try:
            fig.savefig(tmp, format=fmt)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths.append(path)
    return paths


def slug(text: str) -> str:
    """A file-name-safe version of a label."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "problem"


def unique_slugs(labels) -> dict:
    """label -> a file-name-safe stem, distinct for distinct labels even when their slugs
    agree (``Rosen A`` and ``rosen-a``: ``rosen_a`` and ``rosen_a_2``, in the given order);
    compared case-insensitively, as on macOS and Windows file systems."""
    out, taken = {}, set()
    for label in labels:
        if label in out:
            continue
        base = stem = slug(label)
        k = 1
        while stem in taken:
            k += 1
            stem = f"{base}_{k}"
        taken.add(stem)
        out[label] = stem
    return out


def signed_log_scale(ax, values) -> None:
    """A ``symlog`` y axis for data of both signs spanning decades: linear within the
    decade of the 10 % smallest magnitudes, logarithmic beyond. Ticks at 0 and at signed
    powers of ten above that width, at most four a side and fewer on a short side, so that
    no labels crowd.
    Values should be clipped to +-``CLIP`` first."""
    data = np.concatenate([np.ravel(v) for v in values]) if len(values) else np.zeros(0)
    data = np.clip(data[np.isfinite(data)], -CLIP, CLIP)
    mags = np.abs(data[data != 0])
    width = 10.0 ** np.floor(np.log10(np.quantile(mags, 0.1))) if mags.size else 1.0
    ax.set_yscale("symlog", linthresh=width, linscale=0.5)
    sides = [(sign, side.max()) for sign, side in ((1.0, data[data > 0]), (-1.0, -data[data < 0]))
             if side.size and side.max() > width]
    decades = {sign: np.log10(top / width) for sign, top in sides}
    total = 1.0 + sum(decades.values())  # the linear region takes about one decade
    ticks = [0.0]
    for sign, top_value in sides:
        top = min(int(np.ceil(np.log10(top_value))), _MAX_EXPONENT)
        powers = list(range(int(np.log10(width)) + 1, top + 1))
        room = min(4, max(1, int(round(5 * decades[sign] / total))))  # ticks in proportion to its length
        step = max(1, int(np.ceil(len(powers) / room)))
        ticks += [sign * 10.0 ** p for p in powers[::-1][::step]]
    ax.yaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.yaxis.set_major_formatter(FuncFormatter(_signed_power))
    ax.yaxis.set_minor_locator(NullLocator())


def _signed_power(value, _pos=None) -> str:
    if value == 0:
        return "0"
    exponent = int(round(np.log10(abs(value))))
    return ("−" if value < 0 else "") + f"$10^{{{exponent}}}$"


def log_y(ax) -> None:
    """A log y axis with at most ~7 labelled decades and no minor ticks: convergence data
    spans up to 30 decades, and a tick per decade (with 8 minor ones) is unreadable and slow
    to lay out."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10.0, numticks=7))
    ax.yaxis.set_minor_locator(NullLocator())

"""Shared figure plumbing: one colour per optimizer, panel grids with fixed margins, axes, saving.

Figures are built on ``matplotlib.figure.Figure`` directly (the Agg canvas), never through
pyplot, so plotting works headless and leaves no global state behind.
"""

from __future__ import annotations

import errno
import math
import re
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.scale import SymmetricalLogTransform
from matplotlib.ticker import FixedLocator, FuncFormatter, Locator, LogLocator, MaxNLocator, NullLocator

from experiments.plots.colors import label_colors

__all__ = ["colors", "count_x", "fit", "grid", "legend_below", "log_y", "new_figure", "panel_figure", "save",
           "seconds_x", "signed_log_scale", "slug", "spread", "title", "unique_slugs", "wants_log_x"]


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
# more time measuring text than drawing the figure; only the strips that hold text of
# unknown length (the figure title, the legend, panel titles) are measured, once, by
# :func:`fit` just before a figure is saved, and grow (or wrap their text) to hold it.
_LEFT, _RIGHT, _ABOVE, _BELOW = 0.85, 0.25, 0.35, 0.55
_TITLE = 0.45
_MIN_WIDTH = 6.4  # a one-panel figure is widened to this, so that a title and a legend fit
_EDGE = 0.1  # inches kept free at the canvas edges
_LEGEND_COLS = 8
# Plotted values are clipped to +-10^200: a run diverging to -1e308 would overflow the
# axis transforms (matplotlib adds margins around the data in transformed space).
_MAX_EXPONENT = 200
CLIP = 10.0 ** _MAX_EXPONENT


class _Layout:
    """The inch geometry of a figure made by :func:`new_figure`, kept on the figure so that
    :func:`fit` can grow its strips and lay the panels out again."""

    def __init__(self, rows, cols, panel, legend_in):
        self.rows, self.cols, self.panel = rows, cols, panel
        self.title_in, self.legend_in, self.above = _TITLE, legend_in, _ABOVE
        self.legend = None  # (handles, labels, ncol) of legend_below
        self.fitted = False


def panel_figure(n: int, max_cols: int = 3, panel=(4.2, 3.1), legend_entries: int = 0):
    """``(figure, axes)``: :func:`new_figure` with ``n`` panels in a :func:`grid` of at most
    ``max_cols`` columns, the ``n`` axes in reading order (the grid's spare cells hidden)."""
    rows, cols = grid(n, max_cols)
    fig = new_figure(rows, cols, panel=panel, legend_entries=legend_entries)
    cells = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in cells[n:]:
        ax.set_visible(False)
    return fig, cells[:n]


def new_figure(rows: int, cols: int, panel=(4.2, 3.1), legend_entries: int = 0) -> Figure:
    """A figure of ``rows x cols`` panels of ``panel`` inches, with a strip for the title
    above and one for the legend below (``legend_entries`` items, 8 to a row at most).

    A figure narrower than 6.4 inches is widened to that (its panels grow), so that the
    title and the legend of a one-problem config have room; :func:`fit` (run by
    :func:`save`) then measures the title, panel titles and legend and makes room for them.
    """
    legend_rows = math.ceil(legend_entries / _LEGEND_COLS) if legend_entries else 0
    legend_in = 0.12 + 0.28 * legend_rows
    panel = (max(panel[0], _MIN_WIDTH / cols), panel[1])
    fig = Figure(dpi=110)
    FigureCanvasAgg(fig)
    fig._curvax_layout = _Layout(rows, cols, panel, legend_in)
    _arrange(fig)
    return fig


def _arrange(fig: Figure) -> None:
    """Size the figure and place its panels from its :class:`_Layout`: every panel's axes keep
    their size in inches whatever the strips around them take."""
    lay = fig._curvax_layout
    extra = lay.above - _ABOVE  # a taller title row above each panel's axes
    panel_w, panel_h = lay.panel[0], lay.panel[1] + extra
    width, height = panel_w * lay.cols, panel_h * lay.rows + lay.title_in + lay.legend_in
    fig.set_size_inches(width, height, forward=False)
    ax_w, ax_h = panel_w - _LEFT - _RIGHT, panel_h - lay.above - _BELOW
    fig.subplots_adjust(left=_LEFT / width, right=1 - _RIGHT / width, top=1 - (lay.title_in + lay.above) / height,
                        bottom=(lay.legend_in + _BELOW) / height, wspace=(_LEFT + _RIGHT) / ax_w,
                        hspace=(lay.above + _BELOW) / ax_h)
    if fig._suptitle is not None:
        fig._suptitle.set_y(1 - 0.12 / height)
    for legend in fig.legends:
        legend.set_bbox_to_anchor((0.5, 0.06 / height), transform=fig.transFigure)


def title(fig: Figure, text: str) -> None:
    """The figure title, centred in the top strip (wrapped by :func:`fit` when too wide)."""
    fig.suptitle(text, y=1 - 0.12 / fig.get_figheight(), va="top", fontsize=10.5)


def legend_below(fig: Figure, handles, labels) -> None:
    """One legend for the whole figure, centred in the bottom strip; :func:`fit` chooses
    how many entries go in a row so that it fits the canvas."""
    handles, labels = list(handles), list(labels)
    layout = getattr(fig, "_curvax_layout", None)
    if layout is not None:
        layout.legend = (handles, labels)
    _make_legend(fig, handles, labels, min(len(labels), _LEGEND_COLS) or 1)


def _make_legend(fig, handles, labels, ncol):
    for old in list(fig.legends):
        old.remove()
    # matplotlib fills a legend column by column (the first columns one entry longer when
    # they do not come out even); handing it the entries column by column makes the rows
    # read left to right in config order.
    order = [i for c in range(ncol) for i in range(c, len(labels), ncol)]
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    return fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.06 / fig.get_figheight()),
                      ncol=ncol, frameon=False, fontsize=9, columnspacing=1.4, handlelength=1.8)


def _wrap(text_artist, renderer, room_px: float) -> int:
    """Wrap a text artist's words onto more lines until it is at most ``room_px`` wide;
    returns its line count."""
    text = text_artist.get_text()
    width = text_artist.get_window_extent(renderer).width
    if width > room_px and text.strip():
        flat = " ".join(text.split())
        chars = max(8, int(len(flat) * room_px / width))
        while True:
            wrapped = textwrap.fill(flat, width=chars, break_long_words=False, break_on_hyphens=False)
            text_artist.set_text(wrapped)
            if text_artist.get_window_extent(renderer).width <= room_px or chars <= 8:
                break
            chars = max(8, int(chars * 0.9))
    return text_artist.get_text().count("\n") + 1


def fit(fig: Figure) -> Figure:
    """Make room for the text of unknown size: wrap the figure title and panel titles that
    are wider than their room, give the legend as many entries per row as fit the canvas,
    and grow the title strip, the title rows and the legend strip to what they hold.

    Runs once per figure (``save`` calls it); the panels keep their size in inches."""
    lay = getattr(fig, "_curvax_layout", None)
    if lay is None or lay.fitted:
        return fig
    lay.fitted = True
    renderer = fig.canvas.get_renderer()
    dpi = fig.dpi
    room = (fig.get_figwidth() - 2 * _EDGE) * dpi
    if lay.legend is not None:
        handles, labels = lay.legend
        ncol = min(len(labels), _LEGEND_COLS) or 1
        legend = _make_legend(fig, handles, labels, ncol)
        while ncol > 1 and legend.get_window_extent(renderer).width > room:
            ncol -= 1
            legend = _make_legend(fig, handles, labels, ncol)
        lay.legend_in = legend.get_window_extent(renderer).height / dpi + 0.16
    if fig._suptitle is not None:
        _wrap(fig._suptitle, renderer, room)
        lay.title_in = max(_TITLE, fig._suptitle.get_window_extent(renderer).height / dpi + 0.24)
    panel_room = (lay.panel[0] - _LEFT - _RIGHT + 2 * _RIGHT - 0.05) * dpi
    above = _ABOVE
    for ax in fig.axes:
        if not ax.get_visible() or not ax.get_title():
            continue
        _wrap(ax.title, renderer, panel_room)
        above = max(above, ax.title.get_window_extent(renderer).height / dpi + 0.17)
    lay.above = above
    _arrange(fig)
    return fig


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
            fit(fig)
            fig.savefig(tmp, format=fmt)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths.append(path)
    return paths


def spread(values, gap: float, low: float, high: float) -> list[float]:
    """Label heights near ``values`` with at least ``gap`` between any two, within
    [``low``, ``high``] where there is room: equal values are stacked upwards in the given
    order, and a stack that would leave the range is pushed back down."""
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    out = [float(v) for v in values]
    for prev, i in zip(order, order[1:]):
        out[i] = max(out[i], out[prev] + gap)
    if order and out[order[-1]] > high:
        out[order[-1]] = max(high, float(values[order[-1]]))
        for nxt, i in zip(order[::-1], order[-2::-1]):
            out[i] = min(out[i], out[nxt] - gap)
        if out[order[0]] < low:  # no room for them all: spread evenly over the range
            for rank, i in enumerate(order):
                out[i] = low + (high - low) * rank / max(len(order) - 1, 1)
    return out


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
    decade of the 10 % smallest magnitudes, logarithmic beyond.

    Ticks at 0 and at signed powers of ten (and at 2 and 5 times them on a side that spans
    two decades or less, so that a short side still has a few), chosen in display space:
    a tick is kept only where its label clears every kept label by a label height, with 0
    and the outermost power of each side first. Values should be clipped to +-``CLIP``
    first."""
    data = np.concatenate([np.ravel(v) for v in values]) if len(values) else np.zeros(0)
    data = np.clip(data[np.isfinite(data)], -CLIP, CLIP)
    mags = np.abs(data[data != 0])
    width = 10.0 ** np.floor(np.log10(np.quantile(mags, 0.1))) if mags.size else 1.0
    linscale = 0.5
    ax.set_yscale("symlog", linthresh=width, linscale=linscale)
    transform = SymmetricalLogTransform(10.0, width, linscale)
    low, high = (min(data.min(), 0.0), max(data.max(), 0.0)) if data.size else (-1.0, 1.0)
    span = float(np.diff(transform.transform(np.array([low, high])))[0]) * 1.1 or 1.0
    axis_in = ax.get_position().height * ax.figure.get_figheight()
    gap = _TICK_LABEL_IN * span / max(axis_in, 0.5)  # a label's height, in transformed units

    candidates, extra = [0.0], []
    for sign, side in ((1.0, data[data > 0]), (-1.0, -data[data < 0])):
        if not side.size:
            continue
        top = side.max() * (1 + 1e-9)
        if top < width:  # a side within the linear region: one round tick in it
            candidates.append(sign * _nice_floor(top))
            continue
        lowest = int(round(np.log10(width)))
        highest = min(int(np.floor(np.log10(top))), _MAX_EXPONENT)
        side_in = axis_in * abs(transform.transform(np.array([sign * top]))[0]) / span
        room = max(1, int(side_in / _TICK_LABEL_IN))  # labels that fit on this side
        step = next((k for k in (1, 2, 5, 10, 20, 25, 50, 100) if (highest - lowest) // k + 1 <= room), 100)
        powers = [10.0 ** q for q in range(highest, lowest - 1, -1) if q % step == 0] or [10.0 ** highest]
        candidates += [sign * v for v in powers]
        if highest - lowest <= 2:
            extra += [sign * m * v for v in powers for m in (5.0, 2.0) if m * v <= top]
    kept = []
    for value in candidates + extra:
        t = transform.transform(np.array([value]))[0]
        if all(abs(t - transform.transform(np.array([k]))[0]) >= gap for k in kept):
            kept.append(value)
    ticks = sorted(kept)
    plain = all(v == 0 or 1e-2 <= abs(v) < 1e4 for v in ticks)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(_plain_signed if plain else _signed_power))
    ax.yaxis.set_minor_locator(NullLocator())


_TICK_LABEL_IN = 0.24  # height of a tick label with a superscript, and a little air


def _nice_floor(value: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is <= ``value`` (> 0)."""
    power = 10.0 ** np.floor(np.log10(value))
    return max(m * power for m in (1.0, 2.0, 5.0) if m * power <= value * (1 + 1e-9))


def _plain_signed(value, _pos=None) -> str:
    return "0" if value == 0 else f"{value:g}".replace("-", "\u2212")


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def _signed_power(value, _pos=None) -> str:
    """``value`` as [-][m×]10ⁿ in plain text: Unicode superscripts, not mathtext, which
    costs ~10 ms a label to parse and lay out (most of a small figure's text time)."""
    if value == 0:
        return "0"
    exponent = int(np.floor(np.log10(abs(value)) + 1e-9))
    mantissa = abs(value) / 10.0 ** exponent
    head = "" if abs(mantissa - 1) < 1e-6 else f"{mantissa:.0f}\u00d7"
    return ("\u2212" if value < 0 else "") + head + "10" + str(exponent).translate(_SUPERSCRIPT)


class _DecadeLocator(Locator):
    """Log-axis ticks at powers of ten whose exponents are multiples of 1, 2, 3, 5, 10, 20,
    25, 50 or 100, the smallest step that gives at most ``numticks`` ticks (10^-15, 10^-10,
    10^-5, 10^0 rather than LogLocator's 10^-14, 10^-9, ...); over a decade or less, 1, 2
    and 5 times them."""

    def __init__(self, numticks: int = 7):
        self.numticks = numticks

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((vmin, vmax))
        if not (np.isfinite(vmin) and np.isfinite(vmax)) or vmax <= 0:
            return np.array([])
        vmin = vmin if vmin > 0 else vmax / 1e3
        a, b = int(np.floor(np.log10(vmin))), int(np.ceil(np.log10(vmax)))
        if b - a <= 1:
            return np.array([m * 10.0 ** k for k in range(a, b + 1) for m in (1.0, 2.0, 5.0)])
        step = next((k for k in (1, 2, 3, 5, 10, 20, 25, 50, 100) if (b - a) // k + 1 <= self.numticks), 100)
        first = int(np.ceil(a / step)) * step
        return 10.0 ** np.arange(first, b + 1, step, dtype=np.float64)


def log_y(ax) -> None:
    """A log y axis with at most ~7 labelled decades at round exponent steps and no minor
    ticks: convergence data spans up to 30 decades (200 for a divergent run), and a tick
    per decade (with 8 minor ones) is unreadable and slow to lay out."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(_DecadeLocator(7))
    ax.yaxis.set_major_formatter(FuncFormatter(_signed_power))
    ax.yaxis.set_minor_locator(NullLocator())


# A log (or, for counts from 0, symmetric log) x axis is chosen automatically when the
# slowest method's curves run this many times longer than the fastest one's: on a linear
# axis the fast methods are then vertical strokes at x = 0.
_LOG_X_RATIO = 8.0


def wants_log_x(ends, mode: str = "auto") -> bool:
    """Whether to draw the x axis logarithmically: ``mode`` is ``"log"``, ``"linear"`` or
    ``"auto"`` (log when ``max(ends) / min(ends)`` reaches 8; ``ends`` are where each
    method's curves stop, in x units)."""
    if mode != "auto":
        return mode == "log"
    ends = np.asarray([e for e in ends if np.isfinite(e) and e > 0], dtype=np.float64)
    return ends.size >= 2 and ends.max() / ends.min() >= _LOG_X_RATIO


def count_x(ax, log: bool, top: float, from_zero: bool = True) -> None:
    """An x axis of counts: linear, or logarithmic with ticks at 1, 10, 100, ... up to
    ``top``. Counts that start at 0 (iterations) get a symmetric log axis, linear from 0
    to 1 and logarithmic beyond, so that iteration 0 keeps its place; counts that start
    higher (evaluations: 2 at x0) a plain log axis."""
    if not log:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=3))
        return
    decades = int(np.ceil(np.log10(max(top, 10.0))))
    step = max(1, int(np.ceil(decades / 6)))
    ticks = [10.0 ** k for k in range(0, decades + 1, step)]
    if from_zero:
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.35)
        ticks = [0.0] + ticks
    else:
        ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(_count_label))
    ax.xaxis.set_minor_locator(NullLocator())
    if from_zero:
        ax.set_xlim(left=0.0)


def _count_label(value, _pos=None) -> str:
    if value < 1e5:
        return f"{value:g}"
    return _signed_power(value)


def seconds_x(ax, log: bool, top: float) -> str:
    """A wall-time x axis: log, or linear with at most 5 ticks labelled in s, ms or µs
    (``top``: the largest time shown); returns the unit for the axis label."""
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10.0, numticks=6))
        ax.xaxis.set_major_formatter(FuncFormatter(_signed_power))
        ax.xaxis.set_minor_locator(NullLocator())
        return "s"
    unit, scale = ("s", 1.0) if top >= 1.0 else ("ms", 1e-3) if top >= 1e-3 else ("\u00b5s", 1e-6)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=3))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos=None: f"{v / scale:.4g}"))
    return unit

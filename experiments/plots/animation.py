"""Animations of the 2-D problems: every method's iterates as balls moving over one contour
map in step, one ball per start, written as GIF (and MP4 where ffmpeg is found).

Frame k shows every run at iteration ``frames[k]`` (a run that has stopped stays at its last
iterate); one frame per iteration up to ``max_frames`` (120), evenly subsampled past that,
the final iterate always included. The map, the critical-point markers and the colours are
those of the trajectory figures.

The frames are drawn by blitting: the map is drawn once and only the balls, their trails
and the iteration counter are drawn again per frame (``Animation.save`` with
``PillowWriter`` redraws the whole figure, contours and arrows included, for every frame:
several times slower). The GIF is written with Pillow, which comes with matplotlib; the
MP4 by piping the same frames into ffmpeg.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib.lines import Line2D

from experiments.plots.layout import colors, legend_below, new_figure, title, unique_slugs
from experiments.plots.trajectories import (
    ContourMap,
    contour_map,
    draw_map,
    draw_points,
    marker_key,
    problem_points,
    recorded_paths,
)

__all__ = ["MAX_FRAMES", "PathAnimation", "frame_iterations", "plot_animations"]

MAX_FRAMES = 120
_FPS = 12
_HOLD_LAST_MS = 1500  # the last frame stays up this long before the GIF loops
_DPI = 80


def frame_iterations(n_iterates: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """The iteration shown by each frame: ``0 .. n_iterates - 1`` when that is at most
    ``max_frames`` frames, else ``max_frames`` evenly spaced iterations from 0 to the last
    (always included)."""
    if n_iterates <= 0:
        return np.zeros(0, dtype=np.int64)
    if n_iterates <= max_frames:
        return np.arange(n_iterates, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n_iterates - 1, max(max_frames, 2))).astype(np.int64))


class PathAnimation:
    """The frames of one problem's animation.

    ``paths``: ``{label: [xy, ...]}``, one ``(iterations, 2)`` array of iterates per start
    (rows with a non-finite coordinate are dropped: a run that diverged stays at its last
    finite iterate); ``cmap``: the :class:`~experiments.plots.trajectories.ContourMap`;
    ``points``: the critical points to mark; ``color``: ``{label: colour}``.
    """

    def __init__(self, paths: dict, cmap: ContourMap, *, color: dict, points: Optional[dict] = None,
                 heading: str = "", max_frames: int = MAX_FRAMES, dpi: int = _DPI):
        self.paths = {lab: [xy[np.all(np.isfinite(xy), axis=1)] for xy in runs] for lab, runs in paths.items()}
        self.paths = {lab: [xy for xy in runs if len(xy)] for lab, runs in self.paths.items()}
        self.paths = {lab: runs for lab, runs in self.paths.items() if runs}
        longest = max((len(xy) for runs in self.paths.values() for xy in runs), default=0)
        self.frames = frame_iterations(longest, max_frames)
        points = points or {}
        fig = new_figure(1, 1, panel=(6.2, 5.4), legend_entries=len(self.paths) + len(points))
        fig.set_dpi(dpi)
        ax = fig.subplots()
        draw_map(ax, cmap)
        draw_points(ax, points)
        self.trails, self.balls = {}, {}
        for lab, runs in self.paths.items():
            # opaque trails: a GIF has 256 colours, and blends of a colour with the map
            # would come out as some grey of it
            self.trails[lab] = [ax.plot([], [], "-", color=color[lab], lw=0.9, zorder=3, animated=True)[0]
                                for _ in runs]
            self.balls[lab] = ax.plot([], [], "o", color=color[lab], ms=7, mec="white", mew=0.8, ls="none",
                                      zorder=6, animated=True)[0]
        self.counter = ax.text(0.02, 0.97, "", transform=ax.transAxes, ha="left", va="top", fontsize=10,
                               bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.6", alpha=0.85), zorder=7,
                               animated=True)
        ax.set_xlabel("x\u2081")
        ax.set_ylabel("x\u2082")
        title(fig, heading)
        handles = [Line2D([], [], ls="none", marker="o", ms=7, color=color[lab], mec="white", mew=0.8)
                   for lab in self.paths]
        marks, names = marker_key(points, ends=False)
        legend_below(fig, handles + marks, list(self.paths) + names)
        self.fig, self.ax = fig, ax
        self.exact_colors = [color[lab] for lab in self.paths] + ["black", "white", "gold", "0.6"]

    def positions(self, frame: int) -> dict:
        """``{label: (starts, 2) array}``: where every run's ball is in frame ``frame``."""
        it = int(self.frames[frame])
        return {lab: np.stack([xy[min(it, len(xy) - 1)] for xy in runs]) for lab, runs in self.paths.items()}

    def _update(self, frame: int) -> list:
        it = int(self.frames[frame])
        for lab, runs in self.paths.items():
            for line, xy in zip(self.trails[lab], runs):
                line.set_data(xy[: it + 1, 0], xy[: it + 1, 1])
        for lab, xy in self.positions(frame).items():
            self.balls[lab].set_data(xy[:, 0], xy[:, 1])
        self.counter.set_text(f"iteration {it}" + (f" of {int(self.frames[-1])}" if len(self.frames) else ""))
        return [line for lines in self.trails.values() for line in lines] + list(self.balls.values()) + [self.counter]

    def images(self):
        """The frames as ``(height, width, 3)`` uint8 arrays, one per entry of ``frames``."""
        from experiments.plots.layout import fit

        fit(self.fig)
        canvas = self.fig.canvas
        canvas.draw()  # the static map; animated artists are left out
        background = canvas.copy_from_bbox(self.fig.bbox)
        for frame in range(len(self.frames)):
            canvas.restore_region(background)
            for artist in self._update(frame):
                self.ax.draw_artist(artist)
            yield np.asarray(canvas.buffer_rgba())[..., :3].copy()

    def save(self, out_dir: Path, stem: str, *, mp4: Optional[bool] = None, fps: int = _FPS) -> list[Path]:
        """Write ``stem.gif`` (and ``stem.mp4`` when ``mp4``, default: when ffmpeg is found)
        into ``out_dir`` through hidden temporaries; returns the paths written."""
        from PIL import Image

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        frames = list(self.images())
        if not frames:
            return []
        written = []
        gif, tmp = out_dir / f"{stem}.gif", out_dir / f".{stem}.tmp.gif"
        durations = [int(1000 / fps)] * len(frames)
        durations[-1] = max(durations[-1], _HOLD_LAST_MS)
        palette = _palette(frames, self.exact_colors)
        pictures = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
        try:
            pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=durations,
                             loop=0)
            tmp.replace(gif)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(gif)
        ffmpeg = _ffmpeg() if mp4 is not False else None
        if ffmpeg is not None:
            written += _write_mp4(ffmpeg, frames, out_dir, stem, fps)
        return written


def _palette(frames, exact):
    """One GIF palette for every frame: Pillow then stores each frame as its change from the
    one before (a few kB), where a palette per frame makes every frame a full picture. It
    holds the ``exact`` colours (the methods', the markers') as they are, so that a ball is
    the colour of its method's lines in the PNGs, and the most used colours of the first
    and last frames (the map's greys) in the rest."""
    from matplotlib.colors import to_rgb
    from PIL import Image

    exact = list(dict.fromkeys(tuple(int(round(255 * c)) for c in to_rgb(col)) for col in exact))[:128]
    rest = Image.fromarray(np.concatenate([frames[0], frames[-1]])).quantize(
        colors=256 - len(exact), method=Image.Quantize.MEDIANCUT)
    entries = [c for rgb in exact for c in rgb] + rest.getpalette()[: 3 * (256 - len(exact))]
    palette = Image.new("P", (1, 1))
    palette.putpalette(entries + [0] * (768 - len(entries)))
    return palette


def _ffmpeg() -> Optional[str]:
    from matplotlib import rcParams

    return shutil.which(rcParams.get("animation.ffmpeg_path", "ffmpeg")) or shutil.which("ffmpeg")


def _write_mp4(ffmpeg: str, frames, out_dir: Path, stem: str, fps: int) -> list[Path]:
    """H.264 of the frames (even-sized, yuv420p: what browsers and players take)."""
    height, width = frames[0].shape[:2]
    path, tmp = out_dir / f"{stem}.mp4", out_dir / f".{stem}.tmp.mp4"
    cmd = [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
           "-r", str(fps), "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white", "-pix_fmt", "yuv420p",
           "-vcodec", "libx264", "-f", "mp4", str(tmp)]
    try:
        done = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), capture_output=True, check=False)
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            return []  # an ffmpeg without libx264, say: the GIF is there
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return [path]


def plot_animations(data, problem_of, out_dir: Path, *, max_frames: int = MAX_FRAMES,
                    mp4: Optional[bool] = None, only=None) -> list[Path]:
    """``animation_<problem>.gif`` (and ``.mp4``) for every 2-D problem whose path was
    recorded (``only``: the label of the one problem to draw); ``problem_of(meta)`` builds a
    ``results["problems"]`` entry's problem."""
    color = colors(data.results["optimizers"])
    stems = unique_slugs(meta["label"] for meta in data.results["problems"])
    files = []
    for meta in data.results["problems"]:
        found = recorded_paths(data, meta) if only in (None, meta["label"]) else None
        if found is None:
            continue
        paths, box = found
        problem = problem_of(meta)
        starts = max(len(runs) for runs in paths.values())
        heading = (f"{meta['label']}: every method from the same {starts} start{'s' if starts > 1 else ''}, "
                   "one ball per start")
        anim = PathAnimation({lab: [xy for xy, _ in runs] for lab, runs in paths.items()},
                             contour_map(problem, box, meta["f_star"]), color=color,
                             points=problem_points(problem, meta), heading=heading, max_frames=max_frames)
        files += anim.save(out_dir, f"animation_{stems[meta['label']]}", mp4=mp4)
    return files

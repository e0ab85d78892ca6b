"""Plots of a stored run: convergence, 2-D trajectories and their animations, performance
profiles, curvature along the paths, Hessian spectral densities.

``plot_run(run_dir)`` reads ``results.json`` and ``trace.csv`` (nothing is re-run; only the
2-D contour maps evaluate the problem function on a grid) and writes the figures into
``run_dir/plots/``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

from experiments.plots.animation import PathAnimation, frame_iterations, plot_animations
from experiments.plots.convergence import convergence_figures, median_band, plot_convergence
from experiments.plots.curvature_path import curvature_figure, plot_curvature
from experiments.plots.layout import save
from experiments.plots.profiles import performance_profile, plot_profiles, profile_figure, solve_costs
from experiments.plots.results import plot_result, result_runs
from experiments.plots.spectrum import plot_spectrum, spectrum_figure
from experiments.plots.trajectories import plot_trajectories, trajectory_figures

__all__ = [
    "PathAnimation",
    "frame_iterations",
    "median_band",
    "plot_animations",
    "performance_profile",
    "plot_convergence",
    "plot_curvature",
    "plot_profiles",
    "plot_result",
    "plot_run",
    "plot_spectrum",
    "plot_trajectories",
    "result_runs",
    "run_figures",
    "solve_costs",
]


def _plot_spec(data):
    from experiments.config import loads
    from experiments.spec import ConfigError, PlotSpec

    try:
        return loads(data.config_text, source=str(data.run_dir / data.results.get("config", "config.toml")),
                     check_options=False).plots
    except ConfigError as err:
        warnings.warn(f"stored config no longer validates ({err}); plotting with default settings", stacklevel=3)
        return PlotSpec()


def _problem_loader(data):
    from experiments.backend import precision
    from experiments.problems import build_problem

    def problem_of(meta):
        with precision(data.results.get("dtype", "float64")):
            return build_problem(meta["name"], meta["params"], data.results.get("seed", 0))

    return problem_of


def run_figures(run_dir):
    """``(file stem, matplotlib Figure)`` for every figure the run's config asks for, made
    one at a time (a generator) and not saved; ``run_dir`` is a folder or a loaded
    :class:`~experiments.records.RunData`. :func:`plot_run` saves what this yields."""
    from experiments.records import RunData, load_run

    data = run_dir if isinstance(run_dir, RunData) else load_run(run_dir)
    yield from _figures(data, _plot_spec(data))


def _figures(data, spec):
    from experiments.backend import precision

    yield from convergence_figures(data, spec)
    if spec.trajectories:
        with precision(data.results.get("dtype", "float64")):
            yield from trajectory_figures(data, _problem_loader(data))
    n_problems = len({r["problem"] for r in data.results["runs"]})
    auto = n_problems >= 2 and len(data.results["optimizers"]) >= 2
    if spec.profile or (spec.profile is None and auto):
        fig = profile_figure(data, spec)
        if fig is not None:
            yield "profile", fig
    if spec.curvature:
        fig = curvature_figure(data, x_scale=spec.x_scale)
        if fig is not None:
            yield "curvature", fig
    if spec.spectrum:
        fig = spectrum_figure(data)
        if fig is not None:
            yield "spectrum", fig


def plot_run(run_dir, *, formats: Optional[tuple] = None, out_dir=None) -> list[Path]:
    """Draw every plot the run's config asks for; returns the files written.

    ``formats`` overrides the config's ``plots.formats`` (e.g. ``("png", "svg")``);
    ``out_dir`` defaults to ``run_dir/plots``.
    """
    from experiments.records import RunData, load_run

    data = run_dir if isinstance(run_dir, RunData) else load_run(run_dir)
    spec = _plot_spec(data)
    formats = tuple(formats or spec.formats)
    out = Path(out_dir) if out_dir is not None else data.run_dir / "plots"
    files = []
    for stem, fig in _figures(data, spec):
        files += save(fig, out, stem, formats)
    if spec.animate:
        from experiments.backend import precision

        with precision(data.results.get("dtype", "float64")):
            files += plot_animations(data, _problem_loader(data), out)
    return files

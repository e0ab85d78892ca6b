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
    "figure_jobs",
    "draw_job",
    "destination",
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
    spec = _plot_spec(data)
    for job in figure_jobs(data, spec):
        if job[0] != "animation":
            yield from _job_figures(data, spec, job)


def figure_jobs(data, spec) -> list[tuple]:
    """The run's figures as independent jobs, in drawing order: ``("convergence", axis)``,
    ``("trajectories", problem)``, ``("profile",)``, ``("curvature",)``, ``("spectrum",)``,
    ``("animation", problem)``. Each is drawn by :func:`draw_job` from the run's records
    alone, so separate processes can share them out (:mod:`experiments.plot_workers`)."""
    problems = [p["label"] for p in data.results["problems"]]
    jobs = [("convergence", x) for x in spec.x_axis]
    if spec.trajectories:
        jobs += [("trajectories", label) for label in problems]
    n_problems = len({r["problem"] for r in data.results["runs"]})
    auto = n_problems >= 2 and len(data.results["optimizers"]) >= 2
    if spec.profile or (spec.profile is None and auto):
        jobs.append(("profile",))
    if spec.curvature:
        jobs.append(("curvature",))
    if spec.spectrum:
        jobs.append(("spectrum",))
    if spec.animate:
        jobs += [("animation", label) for label in problems]
    return jobs


def _job_figures(data, spec, job) -> list:
    from experiments.backend import precision

    kind = job[0]
    if kind == "convergence":
        return convergence_figures(data, spec, x_axes=job[1:])
    if kind == "trajectories":
        with precision(data.results.get("dtype", "float64")):
            return trajectory_figures(data, _problem_loader(data), only=job[1])
    fig = {"profile": lambda: profile_figure(data, spec),
           "curvature": lambda: curvature_figure(data, x_scale=spec.x_scale),
           "spectrum": lambda: spectrum_figure(data)}[kind]()
    return [] if fig is None else [(kind, fig)]


def draw_job(data, spec, job, out: Path, formats) -> list[Path]:
    """Draw and save one job of :func:`figure_jobs`; returns the files written."""
    if job[0] == "animation":
        from experiments.backend import precision

        with precision(data.results.get("dtype", "float64")):
            return plot_animations(data, _problem_loader(data), out, only=job[1])
    files = []
    for stem, fig in _job_figures(data, spec, job):
        files += save(fig, out, stem, formats)
    return files


def destination(data, spec, out_dir=None, formats=None) -> tuple[Path, tuple]:
    """Where a run's figures go and in which formats: ``out_dir`` (default ``run_dir/plots``)
    and ``formats`` (default the config's ``plots.formats``)."""
    return (Path(out_dir) if out_dir is not None else data.run_dir / "plots"), tuple(formats or spec.formats)


def plot_run(run_dir, *, formats: Optional[tuple] = None, out_dir=None, workers=None) -> list[Path]:
    """Draw every plot the run's config asks for; returns the files written.

    ``formats`` overrides the config's ``plots.formats`` (e.g. ``("png", "svg")``);
    ``out_dir`` defaults to ``run_dir/plots``; ``workers``: a started
    :class:`experiments.plot_workers.PlotWorkers` that draws a share of the figures in
    another process (None: all here, one after the other).
    """
    from experiments.records import RunData, load_run

    data = run_dir if isinstance(run_dir, RunData) else load_run(run_dir)
    spec = _plot_spec(data)
    out, formats = destination(data, spec, out_dir, formats)
    jobs = figure_jobs(data, spec)
    if workers is not None:
        return workers.draw(data, spec, jobs, out, formats)
    return [path for job in jobs for path in draw_job(data, spec, job, out, formats)]

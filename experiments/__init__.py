"""experiments: test loss surfaces, TOML configs, a runner, records on disk and plots.

``load(path)`` validates a config into an ``ExperimentSpec``; ``run_experiment(spec, dir)``
runs every (problem, optimizer, start) and records the results; ``load_run(dir)`` reads them
back; ``plot_run(dir)`` draws the figures; ``summary_table(results)`` formats the table the
CLI prints. The command line (``curvax`` / ``python -m experiments``) is ``experiments.cli``.
"""

from experiments.backend import DeviceError, precision, select_device
from experiments.config import ConfigError, ExperimentSpec, OptimizerSpec, PlotSpec, ProblemSpec, load, loads
from experiments.plots import plot_run
from experiments.records import TRACE_COLUMNS, RunData, load_run
from experiments.report import summary_table
from experiments.runner import run_experiment

__all__ = [
    "ConfigError",
    "DeviceError",
    "ExperimentSpec",
    "OptimizerSpec",
    "PlotSpec",
    "ProblemSpec",
    "RunData",
    "TRACE_COLUMNS",
    "load",
    "load_run",
    "loads",
    "plot_run",
    "precision",
    "run_experiment",
    "select_device",
    "summary_table",
]

"""experiments: test loss surfaces, TOML configs, a runner, records on disk and plots.

``load(path)`` (``loads(text)``) validates a config into an ``ExperimentSpec``;
``run_experiment(spec, dir)`` runs every (problem, optimizer, start) and records the
results; ``load_run(dir)`` reads them back; ``plot_run(dir)`` draws the figures
(``plot_result`` those of ``optimizers.minimize`` results in memory);
``summary_table(results)`` formats the table the CLI prints; ``register(name)`` adds a
problem family (a factory returning ``draft(fun, x0, ...)``) that configs can then name.
The command line (``curvax`` / ``python -m experiments``) is ``experiments.cli``.
"""

import importlib

# Public names -> the module that defines them, imported on first use (PEP 562), so that
# ``import experiments`` (and the CLI's start, its signal handlers and ``--help``) does not
# wait for JAX and matplotlib.
_HOME = {
    "DeviceError": "backend", "precision": "backend", "select_device": "backend",
    "load": "config", "loads": "config",
    "ConfigError": "spec", "ExperimentSpec": "spec", "OptimizerSpec": "spec", "PlotSpec": "spec",
    "ProblemSpec": "spec",
    "plot_result": "plots", "plot_run": "plots",
    "Problem": "problems", "draft": "problems", "register": "problems",
    "TRACE_COLUMNS": "records", "RunData": "records", "load_run": "records",
    "summary_table": "report",
    "run_experiment": "runner",
}


def __getattr__(name):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"experiments.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOME))


__all__ = [
    "ConfigError",
    "DeviceError",
    "ExperimentSpec",
    "OptimizerSpec",
    "PlotSpec",
    "Problem",
    "ProblemSpec",
    "RunData",
    "TRACE_COLUMNS",
    "draft",
    "load",
    "load_run",
    "loads",
    "plot_result",
    "plot_run",
    "precision",
    "register",
    "run_experiment",
    "select_device",
    "summary_table",
]

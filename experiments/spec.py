"""What a validated config is: the spec records and the values their fields allow.

:class:`ExperimentSpec` (with its :class:`ProblemSpec`, :class:`OptimizerSpec` and
:class:`PlotSpec`) is what :mod:`experiments.config` produces from a TOML file and what the
runner, the records and the plots consume; :class:`ConfigError` is how a config that cannot
run is reported. This module imports nothing else of the project, so both the parser above
it and the runner can use it without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

__all__ = [
    "AXES",
    "BAND",
    "ConfigError",
    "DEVICES",
    "DTYPES",
    "ExperimentSpec",
    "FORMATS",
    "OptimizerSpec",
    "PlotSpec",
    "ProblemSpec",
    "RUNNER_OPTIMIZER_KEYS",
    "X_SCALES",
    "Y_AXES",
]

DTYPES = ("float64", "float32")
DEVICES = ("cpu", "gpu", "auto")
AXES = ("iteration", "evaluations", "time")
Y_AXES = ("gap", "grad_norm")
FORMATS = ("png", "svg")
BAND = ("iqr", "range", "none")
X_SCALES = ("auto", "linear", "log")
# Keys of an [[optimizers]] table that belong to the runner, not to the method.
RUNNER_OPTIMIZER_KEYS = ("method", "label", "max_iter", "gtol")
_TABLE_RE = re.compile(r"^(problems|optimizers)\[(\d+)\]")


class ConfigError(ValueError):
    """A config file that cannot run: ``file: key.path: what is wrong; what is allowed``."""

    def __init__(self, source: str, key: str, message: str):
        self.source, self.key, self.detail = source, key, message
        where = f"{source}: "
        if key:
            table = _TABLE_RE.match(key)
            hint = f" (the {ordinal(int(table[2]))} [[{table[1]}]] table)" if table else ""
            where += f"{key}{hint}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class ProblemSpec:
    """One problem instance: registry ``name`` with ``params``, and how to start it.

    ``starts`` random points from the problem's box, or the explicit points ``x0`` (a tuple
    of tuples), or (both absent) the problem's default ``x0``.
    """

    name: str
    params: dict
    label: str
    starts: int = 1
    x0: Optional[tuple] = None
    key: str = ""  # where it came from in the file, e.g. "problems[1]"
    dim: int = 0  # the built instance's dimension (0: not known)


@dataclass(frozen=True)
class OptimizerSpec:
    """One method of the optimizers registry with its options and its budget."""

    method: str
    label: str
    options: dict
    max_iter: int
    gtol: float
    key: str = ""


@dataclass(frozen=True)
class PlotSpec:
    """Which plots to draw after a run (and on ``curvax plot``)."""

    x_axis: tuple = AXES
    y_axis: tuple = Y_AXES
    trajectories: bool = True
    curvature: bool = True
    path_max_dim: int = 2
    profile: Optional[bool] = None  # None: automatic (two or more problem instances)
    profile_tol: float = 1e-6
    band: str = "iqr"
    formats: tuple = ("png",)
    x_scale: str = "auto"  # iteration, evaluation and time axes: auto | linear | log
    animate: bool = False  # animation_<problem>.gif (and .mp4) of the 2-D problems
    spectrum: bool = False  # Hessian spectral density at the start and the end (dim >= 3)
    processes: object = "auto"  # processes drawing the figures: "auto" (2 when worth it), 1 or 2

    @property
    def needs_path(self) -> bool:
        """Whether a plot needs the iterates themselves (trajectories, curvature, animations)."""
        return self.trajectories or self.curvature or self.animate


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated config: run every problem with every optimizer from every start."""

    name: str
    seed: int
    dtype: str
    device: str
    description: str
    max_iter: int
    gtol: float
    repeats: int
    problems: tuple
    optimizers: tuple
    plots: PlotSpec
    source: str = "<string>"
    text: str = field(default="", repr=False)
    compilation_cache: bool = True
    devices: int = 0  # how many devices of the platform the starts are sharded over (0: all)
    distributed: bool = False  # one run across several processes (jax.distributed; docs/configs.md)

    @property
    def record_path(self) -> bool:
        """Whether any plot needs the iterates themselves (trajectories, curvature, animations)."""
        return self.plots.needs_path

    @property
    def measure_time(self) -> bool:
        """Whether the per-iteration wall-clock axis is measured (a second, timed run)."""
        return "time" in self.plots.x_axis

    def with_device(self, device: str, devices: Optional[int] = None) -> "ExperimentSpec":
        """The same spec with ``device`` (and the device count ``devices``) replaced: the
        CLI's ``--device`` and ``--devices``."""
        if device not in DEVICES:
            raise ConfigError(self.source, "device", f"expected one of {alternatives(DEVICES)}, got {device!r}")
        if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int) or devices < 1):
            raise ConfigError(self.source, "devices", f"must be an integer >= 1, got {devices!r}")
        fields = dict(self.__dict__)
        fields["device"] = device
        if devices is not None:
            fields["devices"] = devices
        return ExperimentSpec(**fields)


def alternatives(values) -> str:
    """``'a', 'b', 'c'``: the allowed values as a message lists them."""
    return ", ".join(repr(v) for v in values)


def ordinal(i: int) -> str:
    """``1st``, ``2nd``, ... for the 0-based index ``i``."""
    n = i + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"

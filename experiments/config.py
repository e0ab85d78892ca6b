"""Experiment configs: parse a TOML file and validate it into an :class:`ExperimentSpec`.

Every check runs before anything is compiled or written: an unknown key, a wrong type, an
unknown problem or method, a missing required key or an impossible value raises one
:class:`ConfigError` naming the file, the key path (``optimizers[2].learning_rate``) and
what is allowed. The schema, with every key, type and default, is in ``docs/configs.md``.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from pathlib import Path

from experiments.spec import (
    AXES,
    BAND,
    DEVICES,
    DTYPES,
    FORMATS,
    RUNNER_OPTIMIZER_KEYS,
    X_SCALES,
    Y_AXES,
    ConfigError,
    ExperimentSpec,
    OptimizerSpec,
    PlotSpec,
    ProblemSpec,
    alternatives,
)

__all__ = ["ConfigError", "ExperimentSpec", "decode_config", "load", "loads"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
def load(path, *, check_options: bool = True) -> ExperimentSpec:
    """Read and validate the TOML config at ``path``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(str(path), "", f"cannot read the config file ({err.strerror or err})") from None
    return loads(decode_config(data, str(path)), source=str(path), check_options=check_options)


def decode_config(data: bytes, source: str) -> str:
    """A config file's bytes as text: UTF-8, with or without a byte-order mark; a binary or
    otherwise encoded file is refused with a :class:`ConfigError` saying where it breaks."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ConfigError(source, "", f"not a text file (a NUL byte at offset {nul}); "
                                      "expected a TOML config (see docs/configs.md)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(source, "", f"not UTF-8 text (byte {data[err.start]:#04x} on line {line}); "
                                      "save the config as UTF-8") from None


def loads(text: str, *, source: str = "<string>", check_options: bool = True) -> ExperimentSpec:
    """Validate config ``text``; ``source`` names it in error messages.

    ``check_options`` also runs each method's own checks of its option values (the ones
    ``optimizers.minimize`` runs before compiling) so that they fail before the experiment
    starts.
    """
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(source, "", f"not valid TOML: {err}") from None
    v = _Validator(source)
    spec = v.experiment(data, text)
    if check_options:
        v.check_method_options(spec)
    return spec


# --------------------------------------------------------------------------- helpers


def _identity(x):
    return x


def _type_name(value) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )


def _fmt_value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class _Validator:
    """Walks the parsed TOML, raising :class:`ConfigError` at the first problem."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str):
        raise ConfigError(self.source, key, message)

    # -- typed getters ------------------------------------------------------

    def keys(self, table: dict, key: str, allowed, required=()):
        where = f"{key}." if key else ""
        for k in table:
            if k not in allowed:
                self.fail(f"{where}{k}", f"unknown key; allowed keys here: {alternatives(allowed)}")
        for k in required:
            if k not in table:
                self.fail(f"{where}{k}", "missing required key")

    def typed(self, value, key, kind):
        """Check ``value`` against ``kind`` in {"str", "int", "float", "bool", "number"}."""
        ok = {
            "str": isinstance(value, str),
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        }[kind]
        if not ok:
            expected = {"str": "a string", "bool": "a boolean (true or false)", "int": "an integer",
                        "float": "a number"}[kind]
            self.fail(key, f"expected {expected}, got {value!r} ({_type_name(value)})")
        if kind == "float":
            value = float(value)
            if not math.isfinite(value):
                self.fail(key, f"expected a finite number, got {value!r}")
        return value

    def get(self, table, name, key, kind, default):
        if name not in table:
            return default
        return self.typed(table[name], key, kind)

    def positive(self, value, key, *, strict=True):
        if value < 0 or (strict and value == 0):
            self.fail(key, f"must be {'> 0' if strict else '>= 0'}, got {_fmt_value(value)}")
        return value

    def choice(self, value, key, allowed):
        if value not in allowed:
            self.fail(key, f"expected one of {alternatives(allowed)}, got {value!r}")
        return value

    def str_list(self, table, name, key, allowed, default):
        if name not in table:
            return default
        value = table[name]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.fail(key, f"expected a non-empty array of strings from {alternatives(allowed)}, got {value!r}")
        for i, item in enumerate(value):
            self.choice(self.typed(item, f"{key}[{i}]", "str"), f"{key}[{i}]", allowed)
        if len(set(value)) != len(value):
            self.fail(key, f"lists an entry twice: {value!r}")
        return tuple(value)

    # -- sections -----------------------------------------------------------

    def experiment(self, data: dict, text: str) -> ExperimentSpec:
        top = ("name", "description", "seed", "dtype", "device", "devices", "distributed", "compilation_cache",
               "budget", "problems", "optimizers", "plots")
        self.keys(data, "", top, required=("name", "problems", "optimizers"))
        name = self.typed(data["name"], "name", "str")
        if not _NAME_RE.match(name):
            self.fail("name", f"must be usable as a folder name (letters, digits, '.', '_', '-'), got {name!r}")
        description = self.get(data, "description", "description", "str", "")
        seed = self.positive(self.get(data, "seed", "seed", "int", 0), "seed", strict=False)
        dtype = self.choice(self.get(data, "dtype", "dtype", "str", "float64"), "dtype", DTYPES)
        device = self.choice(self.get(data, "device", "device", "str", "auto"), "device", DEVICES)
        cache = self.get(data, "compilation_cache", "compilation_cache", "bool", True)
        devices = self.get(data, "devices", "devices", "int", 0)
        if "devices" in data:
            self.positive(devices, "devices")
        distributed = self.get(data, "distributed", "distributed", "bool", False)

        budget = self.table(data, "budget")
        self.keys(budget, "budget", ("max_iter", "gtol", "repeats"))
        max_iter = self.positive(self.get(budget, "max_iter", "budget.max_iter", "int", 1000), "budget.max_iter")
        gtol = self.positive(self.get(budget, "gtol", "budget.gtol", "float", 1e-6), "budget.gtol")
        repeats = self.positive(self.get(budget, "repeats", "budget.repeats", "int", 1), "budget.repeats")

        problems = self.problems(self.array_of_tables(data, "problems"), seed, dtype)
        optimizers = self.optimizers(self.array_of_tables(data, "optimizers"), max_iter, gtol)
        plots = self.plots(self.table(data, "plots"))
        self.sizes(problems, optimizers, plots, dtype)
        return ExperimentSpec(
            name=name, seed=seed, dtype=dtype, device=device, description=description,
            max_iter=max_iter, gtol=gtol, repeats=repeats, problems=problems, optimizers=optimizers,
            plots=plots, source=self.source, text=text, compilation_cache=cache, devices=devices,
            distributed=distributed,
        )

    def table(self, data, name):
        value = data.get(name, {})
        if not isinstance(value, dict):
            self.fail(name, f"expected a table [{name}], got {value!r} ({_type_name(value)})")
        return value

    def array_of_tables(self, data, name):
        value = data[name]
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            self.fail(name, f"expected an array of tables ([[{name}]] sections), got {_type_name(value)}")
        if not value:
            self.fail(name, f"needs at least one [[{name}]] table")
        return value

    def problems(self, tables, seed, dtype) -> tuple:
        from experiments import problems as registry

        out = []
        for i, table in enumerate(tables):
            key = f"problems[{i}]"
            if ("name" in table) == ("tag" in table):
                self.fail(key, "needs exactly one of 'name' (a problem) or 'tag' (every problem with that tag)")
            starts = self.positive(self.get(table, "starts", f"{key}.starts", "int", 1), f"{key}.starts")
            label = self.get(table, "label", f"{key}.label", "str", None)
            if "tag" in table:
                self.keys(table, key, ("tag", "starts"))
                tag = self.typed(table["tag"], f"{key}.tag", "str")
                tagged = list(registry.names(tag))
                if not tagged:
                    missing = registry.unavailable(tag=tag)
                    if missing is not None:
                        self.fail(f"{key}.tag", f"no problem has the tag {tag!r}: {missing}")
                    tags = getattr(registry, "tags", lambda: [])()
                    hint = f"; known tags: {alternatives(tags)}" if tags else ""
                    self.fail(f"{key}.tag", f"no problem has the tag {tag!r}{hint}")
                for name in tagged:
                    out.append(self.problem_instance(name, {}, None, starts, None, key, seed, dtype))
                continue
            name = self.typed(table["name"], f"{key}.name", "str")
            try:
                accepted = dict(registry.params(name))  # loads an optional source (CUTEst) only for its names
            except ValueError:
                self.fail(f"{key}.name", registry.unknown_message(name))
            fixed = ("name", "starts", "x0", "label")
            self.keys(table, key, fixed + tuple(accepted))
            x0 = self.x0(table, key, starts)
            params = {k: table[k] for k in table if k not in fixed}
            sweeps = {}
            for k, value in params.items():
                default = accepted[k]
                if isinstance(value, list) and not isinstance(default, (list, tuple)):
                    if not value:
                        self.fail(f"{key}.{k}", "an empty array sweeps over nothing; give one or more values")
                    sweeps[k] = [self.param(v, default, f"{key}.{k}[{j}]") for j, v in enumerate(value)]
                else:
                    params[k] = self.param(value, default, f"{key}.{k}")
            names_, values_ = list(sweeps), [sweeps[k] for k in sweeps]
            for combo in itertools.product(*values_):
                p = dict(params)
                p.update(zip(names_, combo))
                out.append(self.problem_instance(name, p, label, starts, x0, key, seed, dtype,
                                                 swept=names_))
        self.unique_labels("problems", "problem instances", out)
        return tuple(out)

    def problem_instance(self, name, params, label, starts, x0, key, seed, dtype, swept=()):
        """Build the problem once (under the run's dtype) to check params, box and x0."""
        from experiments.backend import precision
        from experiments.problems import build_problem

        with precision(dtype):
            try:
                problem = build_problem(name, params, seed)
            except (ValueError, TypeError) as err:
                self.fail(key, f"problem {name!r} rejected its parameters {params!r}: {err}")
        if x0 is not None:
            for j, point in enumerate(x0):
                if len(point) != problem.dim:
                    self.fail(f"{key}.x0", f"start {j} has {len(point)} coordinates, problem {name!r} "
                                           f"has dim = {problem.dim}")
        elif starts > 1 and problem.box is None:
            self.fail(f"{key}.starts", f"problem {name!r} has no box to draw random starts from; "
                                       "use starts = 1 or give explicit x0 points")
        shown = {k: params[k] for k in params if k != "seed"}
        if label is None:
            label = name + (" (" + ", ".join(f"{k}={_fmt_value(v)}" for k, v in shown.items()) + ")" if shown else "")
        elif swept:
            label = label + " (" + ", ".join(f"{k}={_fmt_value(params[k])}" for k in swept) + ")"
        return ProblemSpec(name=name, params=dict(params), label=label, starts=len(x0) if x0 else starts,
                           x0=x0, key=key, dim=int(problem.dim))

    def x0(self, table, key, starts):
        if "x0" not in table:
            return None
        value = table["x0"]
        if "starts" in table:
            self.fail(f"{key}.x0", "give either 'x0' (explicit starting points) or 'starts' (random ones), not both")
        if isinstance(value, list) and value and not isinstance(value[0], list):
            value = [value]
        if not isinstance(value, list) or not value:
            self.fail(f"{key}.x0", "expected an array of numbers (one start) or an array of such arrays")
        points = []
        for j, point in enumerate(value):
            if not isinstance(point, list) or not point:
                self.fail(f"{key}.x0[{j}]", f"expected a non-empty array of numbers, got {point!r}")
            points.append(tuple(self.typed(c, f"{key}.x0[{j}][{m}]", "float") for m, c in enumerate(point)))
        return tuple(points)

    def param(self, value, default, key):
        """A problem parameter, coerced as the registry does (:func:`~experiments.problems.coerce_param`:
        the type of its default, an int fits a float), finite where it is a number."""
        from experiments.problems import coerce_param

        try:
            value = coerce_param(value, default)
        except TypeError as err:
            self.fail(key, f"expected {err}, got {value!r} ({_type_name(value)})")
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(key, f"expected a finite number, got {value!r}")
        return value

    def scalar_like(self, value, default, key):
        if isinstance(default, bool):
            return self.typed(value, key, "bool")
        if isinstance(default, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)  # dim = 1e6 means 1000000
            return self.typed(value, key, "int")
        if isinstance(default, float):
            return self.typed(value, key, "float")
        if isinstance(default, str):
            return self.typed(value, key, "str")
        if default is None:
            if isinstance(value, (bool, int, float, str)):
                return float(value) if isinstance(value, float) else value
            self.fail(key, f"expected a string, number or boolean, got {_type_name(value)}")
        if isinstance(default, (tuple, list)):
            if not isinstance(value, list):
                self.fail(key, f"expected an array, got {value!r} ({_type_name(value)})")
            return tuple(value)
        self.fail(key, f"cannot be set from a config file (its default is {type(default).__name__})")

    def optimizers(self, tables, max_iter, gtol) -> tuple:
        import optimizers as registry
        from optimizers._options import renamed_hint
        from optimizers._registry import canonical_name

        known = list(registry.method_names())
        out = []
        for i, table in enumerate(tables):
            key = f"optimizers[{i}]"
            if "method" not in table:
                self.fail(f"{key}.method", f"missing required key; known methods: {', '.join(known)}")
            method = self.typed(table["method"], f"{key}.method", "str")
            try:  # scipy's and optimistix's spellings name our methods too
                method = canonical_name(method)
            except ValueError as e:
                self.fail(f"{key}.method", str(e))
            accepted = {k: v for k, v in registry.method_options(method).items()
                        if k not in registry.SPLIT_FUNCTIONS}
            for k in table:
                if k not in RUNNER_OPTIMIZER_KEYS and k not in accepted:
                    hint = renamed_hint(k, accepted)
                    if hint is not None:
                        self.fail(f"{key}.{k}", f"method {method!r}: {hint}")
                    allowed = ", ".join(repr(a) for a in (*RUNNER_OPTIMIZER_KEYS, *accepted))
                    self.fail(f"{key}.{k}", f"unknown option for method {method!r}; allowed keys: {allowed}")
            label = self.get(table, "label", f"{key}.label", "str", method)
            if not label.strip():
                self.fail(f"{key}.label", "must not be empty")
            m = self.positive(self.get(table, "max_iter", f"{key}.max_iter", "int", max_iter), f"{key}.max_iter")
            g = self.positive(self.get(table, "gtol", f"{key}.gtol", "float", gtol), f"{key}.gtol")
            options = {k: self.scalar_like(table[k], accepted[k], f"{key}.{k}")
                       for k in table if k not in RUNNER_OPTIMIZER_KEYS}
            out.append(OptimizerSpec(method=method, label=label, options=options, max_iter=m, gtol=g, key=key))
        self.unique_labels("optimizers", "optimizers", out)
        return tuple(out)

    def sizes(self, problems, optimizers, plots, dtype):
        """Refuse a pair whose memory (from shapes: starts x trace x state) exceeds the machine's."""
        from experiments.preflight import check_pair

        record = plots.needs_path
        for ps in problems:
            for opt in optimizers:
                try:
                    check_pair(opt.method, opt.options, dim=ps.dim, starts=ps.starts, max_iter=opt.max_iter,
                               record_path=record and ps.dim <= plots.path_max_dim, dtype=dtype)
                except ValueError as err:
                    self.fail(f"{opt.key}", f"with {ps.key} ({ps.label}): {err}; lower "
                                            "max_iter, starts, dim or the method's memory")

    def unique_labels(self, key, what, specs):
        labels = [spec.label for spec in specs]
        dup = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dup:
            self.fail(key, f"two {what} share the label {dup[0]!r}; give each a distinct 'label'")

    def plots(self, table) -> PlotSpec:
        keys = ("x_axis", "y_axis", "trajectories", "curvature", "path_max_dim", "profile", "profile_tol",
                "band", "formats", "x_scale", "animate", "spectrum", "processes")
        self.keys(table, "plots", keys)
        d = PlotSpec()
        path_max_dim = self.positive(self.get(table, "path_max_dim", "plots.path_max_dim", "int", d.path_max_dim),
                                     "plots.path_max_dim")
        if path_max_dim > 10_000:
            self.fail("plots.path_max_dim", f"must be <= 10000 (iterates are kept in memory), got {path_max_dim}")
        formats = self.str_list(table, "formats", "plots.formats", FORMATS, d.formats)
        if "png" not in formats:
            self.fail("plots.formats", f"must include 'png' (svg is optional), got {list(formats)!r}")
        return PlotSpec(
            x_axis=self.str_list(table, "x_axis", "plots.x_axis", AXES, d.x_axis),
            y_axis=self.str_list(table, "y_axis", "plots.y_axis", Y_AXES, d.y_axis),
            trajectories=self.get(table, "trajectories", "plots.trajectories", "bool", d.trajectories),
            curvature=self.get(table, "curvature", "plots.curvature", "bool", d.curvature),
            path_max_dim=path_max_dim,
            profile=self.get(table, "profile", "plots.profile", "bool", d.profile),
            profile_tol=self.positive(self.get(table, "profile_tol", "plots.profile_tol", "float", d.profile_tol),
                                      "plots.profile_tol"),
            band=self.choice(self.get(table, "band", "plots.band", "str", d.band), "plots.band", BAND),
            formats=formats,
            x_scale=self.choice(self.get(table, "x_scale", "plots.x_scale", "str", d.x_scale), "plots.x_scale",
                                X_SCALES),
            animate=self.get(table, "animate", "plots.animate", "bool", d.animate),
            spectrum=self.get(table, "spectrum", "plots.spectrum", "bool", d.spectrum),
            processes=self.plot_processes(table.get("processes", d.processes)),
        )

    def plot_processes(self, value):
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value in (1, 2)):
            return value
        self.fail("plots.processes", f"expected \"auto\", 1 or 2 (processes drawing the figures), got {value!r}")

    def check_method_options(self, spec: ExperimentSpec):
        """Let each method check its option values (types, ranges and the checks across
        options that every method declares), as ``minimize`` does before it compiles; nothing
        is traced, so this costs milliseconds, not the tracing of every method."""
        import optimizers as registry

        for opt in spec.optimizers:
            # Stand-ins for the functions the runner takes from the problem.
            extra = registry.split_functions(registry.method_options(opt.method), model_fn=_identity,
                                             loss_fn=_identity, residual=_identity)
            try:
                registry.estimate_memory(opt.method, 2, spec.dtype, max_iter=opt.max_iter, **opt.options, **extra)
            except (ValueError, TypeError) as err:
                self.fail(opt.key, f"method {opt.method!r} rejected its options {opt.options!r}: {err}")

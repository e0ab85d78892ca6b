"""Results on disk: the config copy, ``results.json``, ``trace.csv`` and ``environment.json``.

``results.json`` is replaced whole after every (problem, optimizer) pair, through a synced
temporary file (:func:`experiments.files.atomic_write`), so a reader never sees half of it.
``trace.csv`` (tidy long form, one row per run and iteration) grows by one synced append per
pair, written BEFORE the pair enters ``results.json``: a pair reported finished has its trace
on disk, and a pair whose append failed (a full disk) or was cut short (a kill) is not
listed and is run again by ``curvax resume``. A missing value in the CSV is an empty field;
in JSON a non-finite number is null. :func:`load_run` checks both files and says which file
and what in it is wrong; the reading lives in :mod:`experiments.run_reader` (re-exported
here) and the columns and fields in :mod:`experiments.record_format`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from experiments.files import RecordError, append, atomic_write, remove_temporaries
from experiments.record_format import (
    FORMAT_VERSION,
    INT_COLUMNS,
    RESULT_FIELDS,
    SPECTRA_FILE,
    TEXT_COLUMNS,
    TRACE_COLUMNS,
)
from experiments.run_reader import RunData, load_run, read_results, read_spectra, read_trace

__all__ = [
    "RESULT_FIELDS",
    "RecordError",
    "RunData",
    "RunWriter",
    "TRACE_COLUMNS",
    "atomic_write",
    "config_digest",
    "evaluations",
    "load_run",
    "new_run_dir",
    "pair_rows",
    "problem_record",
    "read_results",
    "read_spectra",
    "read_trace",
]

_META_MAX_DIM = 10  # x0, x_star and box are stored in results.json up to this dimension
_TRACE_HEADER = ",".join(TRACE_COLUMNS) + "\n"


def evaluations(nfev, ngev, nhvp):
    """The cost count of the ``evaluations`` axis: ``nfev + ngev + 2 nhvp`` (a
    Hessian-vector product costs about two gradients, forward over reverse)."""
    return nfev + ngev + 2 * nhvp


def problem_record(ps, problem, x0s) -> dict:
    """The ``results.json`` entry of a problem instance: its spec (``ps``, a
    :class:`~experiments.spec.ProblemSpec`), the built ``problem`` and its starts ``x0s``;
    points, optimum and box only up to dimension 10."""
    small = problem.dim <= _META_MAX_DIM

    def listed(v):
        if v is None:
            return None
        arr = np.asarray(v, dtype=np.float64)
        return arr.tolist() if arr.ndim == 0 or small else None

    box = None
    if problem.box is not None and small:
        box = [np.broadcast_to(np.asarray(b, dtype=np.float64), (problem.dim,)).tolist() for b in problem.box]
    return {
        "label": ps.label,
        "name": ps.name,
        "params": ps.params,
        "dim": int(problem.dim),
        "f_star": json_number(problem.f_star),
        "x_star": listed(problem.x_star),
        "minima": [list(m) for m in problem.minima] if small else [],
        "box": box,
        "starts": int(x0s.shape[0]),
        "x0": np.asarray(x0s, dtype=np.float64).tolist() if small else None,
        "tags": list(problem.tags),
    }


def pair_rows(res, *, problem: dict, optimizer: dict, first_run_id: int, seconds: dict, time_axis,
              path=None, eig=None) -> tuple[list[dict], dict]:
    """The ``results.json`` runs and the ``trace.csv`` columns of one finished pair.

    ``res``: the pair's batched :class:`optimizers.OptimizeResult` on the host (numpy
    arrays, leading axis = start); ``problem``: ``label``, ``name``, ``f_star``, ``dim``;
    ``optimizer``: ``label``, ``method``; ``seconds``: ``run`` and ``compile`` (per pair);
    ``time_axis``: seconds at each iteration (NaN where not measured); ``path``: the
    iterates (starts, iterations, dim) where recorded (``x``, ``y`` are filled for 2-D
    problems); ``eig``: (starts, iterations, 2) extreme Hessian eigenvalues or None. Every
    run carries exactly :data:`RESULT_FIELDS`, the trace exactly :data:`TRACE_COLUMNS`.
    """
    from optimizers import status_message

    f_star = problem["f_star"]
    nit = np.asarray(res.nit, dtype=np.int64)
    status = np.asarray(res.status, dtype=np.int64)
    messages = status_message(status)
    tr = res.trace
    xy = path if path is not None and problem["dim"] == 2 else None
    runs, columns = [], {name: [] for name in TRACE_COLUMNS}
    for b in range(nit.size):
        run_id, k = first_run_id + b, int(nit[b]) + 1
        f, fb = np.asarray(tr.f[b, :k], dtype=np.float64), float(res.fun[b])
        counts = {c: int(getattr(res, c)[b]) for c in ("nfev", "ngev", "nhvp")}
        run = {
            "run": run_id, "problem": problem["label"], "problem_name": problem["name"],
            "label": optimizer["label"], "method": optimizer["method"], "start": b, "f": fb,
            "f_star": json_number(f_star), "gap": (fb - f_star) if f_star is not None else None,
            "grad_norm": float(res.grad_norm[b]), "nit": int(nit[b]), **counts,
            "evaluations": evaluations(**counts), "run_seconds": seconds["run"],
            "compile_seconds": seconds["compile"], "batch": int(nit.size), "status": int(status[b]),
            "message": str(messages[b]), "success": bool(status[b] == 0),
        }
        runs.append({name: run[name] for name in RESULT_FIELDS})
        per_iter = {c: np.asarray(getattr(tr, c)[b, :k], dtype=np.float64) for c in ("nfev", "ngev", "nhvp")}
        missing = np.full(k, np.nan)
        row = {
            "run": np.full(k, run_id), "problem": [problem["label"]] * k, "label": [optimizer["label"]] * k,
            "method": [optimizer["method"]] * k, "start": np.full(k, b), "iteration": np.arange(k),
            "f": f, "gap": f - f_star if f_star is not None else missing,
            "grad_norm": np.asarray(tr.grad_norm[b, :k], dtype=np.float64), **per_iter,
            "evaluations": evaluations(**per_iter), "time": np.asarray(time_axis[:k], dtype=np.float64),
            "x": xy[b, :k, 0] if xy is not None else missing, "y": xy[b, :k, 1] if xy is not None else missing,
            "eig_min": eig[b, :k, 0] if eig is not None else missing,
            "eig_max": eig[b, :k, 1] if eig is not None else missing,
        }
        for name in TRACE_COLUMNS:
            columns[name].append(row[name])
    trace = {name: np.concatenate([np.asarray(c, dtype=object if name in TEXT_COLUMNS else None)
                                   for c in chunks]) for name, chunks in columns.items()}
    return runs, trace


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def config_digest(text: str) -> str:
    """SHA-256 of a config's text: ``resume`` compares it with the stored one."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_run_dir(root, name: str) -> Path:
    """A fresh ``root/name/<YYYYmmdd-HHMMSS>`` folder (``-2``, ``-3``... if taken)."""
    base = Path(root) / name
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for k in range(1, 1000):
        path = base / (stamp if k == 1 else f"{stamp}-{k}")
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            if not base.is_dir():
                raise RecordError(base, "exists and is not a folder", "create") from None
            continue
        except OSError as err:  # a parent that is a file, a read-only folder, a full disk
            raise RecordError(path, err, "create") from None
    raise RecordError(base, "999 run folders with this time stamp exist already", "create")


def json_number(value):
    """A float for JSON: non-finite -> None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _json_clean(obj):
    if isinstance(obj, dict):
        return {k: _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_clean(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return json_number(obj)
    return obj


def trace_chunk(columns: dict) -> str:
    """CSV text (no header) for equal-length columns; NaN, inf and None become empty fields."""
    n = len(columns["run"])
    out = []
    for name in TRACE_COLUMNS:
        col = columns.get(name)
        if col is None:
            out.append([""] * n)
        elif name in TEXT_COLUMNS:
            quoted: dict = {}  # a pair's rows repeat one problem, label and method
            out.append([quoted[v] if v in quoted else quoted.setdefault(v, _csv_text(v)) for v in col])
        elif name in INT_COLUMNS:
            out.append(list(map(str, np.asarray(col, dtype=np.int64).tolist())))
        else:
            arr = np.asarray(col, dtype=np.float64)
            text = list(map(repr, arr.tolist()))  # the shortest string that reads back exactly
            for i in np.flatnonzero(~np.isfinite(arr)).tolist():
                text[i] = ""
            out.append(text)
    return "".join(",".join(row) + "\n" for row in zip(*out))


def _csv_text(value: str) -> str:
    value = str(value)
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


class RunWriter:
    """Writes one run folder incrementally: ``start`` (or ``resume``), ``add`` per pair,
    then ``finish``. Every file error is a :class:`RecordError` naming the file."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.results: dict = {}

    @property
    def next_run_id(self) -> int:
        runs = self.results.get("runs", [])
        return max(r["run"] for r in runs) + 1 if runs else 0

    def start(self, spec, environment: dict, *, problems: list, config_name: str = "config.toml") -> None:
        """Write the config copy, the environment and an empty ``results.json`` (status running)."""
        remove_temporaries(self.run_dir)
        atomic_write(self.run_dir / config_name, spec.text)
        atomic_write(self.run_dir / "environment.json", json.dumps(_json_clean(environment), indent=2) + "\n")
        self.results = {
            "format": FORMAT_VERSION,
            "name": spec.name,
            "description": spec.description,
            "config": config_name,
            "config_sha256": config_digest(spec.text),
            "source": spec.source,
            "status": "running",
            "started": now_iso(),
            "finished": None,
            "resumed": [],
            "seed": spec.seed,
            "dtype": spec.dtype,
            "device": environment.get("device"),
            "problems": problems,
            "optimizers": [
                {"label": o.label, "method": o.method, "options": o.options, "max_iter": o.max_iter,
                 "gtol": o.gtol}
                for o in spec.optimizers
            ],
            "pairs": [],
            "runs": [],
        }
        atomic_write(self.run_dir / "trace.csv", _TRACE_HEADER)
        self._write_results()

    def resume(self, data: "RunData", keep) -> None:
        """Continue a stored run, keeping the pairs ``(problem, label)`` in ``keep``.

        Their runs and trace rows stay; everything else is dropped (to be run again), and
        the run is marked running.
        """
        remove_temporaries(self.run_dir)
        results = dict(data.results)
        results["pairs"] = [p for p in results["pairs"] if (p["problem"], p["label"]) in keep]
        results["runs"] = [r for r in results["runs"] if (r["problem"], r["label"]) in keep]
        results["status"] = "running"
        results["resumed"] = list(results.get("resumed", [])) + [now_iso()]
        results["finished"] = None
        self.results = results
        ids = np.asarray([r["run"] for r in results["runs"]], dtype=np.int64)
        rows = np.isin(data.trace["run"], ids)
        kept = trace_chunk({k: v[rows] for k, v in data.trace.items()}) if rows.any() else ""
        atomic_write(self.run_dir / "trace.csv", _TRACE_HEADER + kept)
        self._keep_spectra(keep)
        self._write_results()

    def add(self, pair: dict, runs: list[dict], trace_columns: dict | None, spectra: list | None = None) -> None:
        """Record one finished (problem, optimizer) pair: its trace rows (and its spectral
        densities, ``spectra.json``), then its runs."""
        if trace_columns is not None and len(trace_columns["run"]):
            append(self.run_dir / "trace.csv", trace_chunk(trace_columns))
        if spectra:
            self._add_spectra(spectra)
        results = dict(self.results)
        results["pairs"] = self.results["pairs"] + [pair]
        results["runs"] = self.results["runs"] + list(runs)
        self._write_results(results)
        self.results = results

    def _add_spectra(self, entries: list) -> None:
        """Add density entries to ``spectra.json`` (replaced whole): an entry of the same
        problem, label and point replaces the stored one; a problem's start is kept once."""
        stored = read_spectra(self.run_dir) or {"format": FORMAT_VERSION, "entries": []}
        keys = {(e["problem"], e["label"], e["point"]) for e in entries}
        kept = [e for e in stored["entries"] if (e["problem"], e["label"], e["point"]) not in keys]
        stored["entries"] = kept + list(entries)
        atomic_write(self.run_dir / SPECTRA_FILE, json.dumps(_json_clean(stored), allow_nan=False) + "\n")

    def _keep_spectra(self, keep) -> None:
        """On resume: keep the densities of the kept pairs (and the starts of their problems)."""
        stored = read_spectra(self.run_dir)
        if stored is None:
            return
        problems = {problem for problem, _ in keep}
        stored["entries"] = [e for e in stored["entries"]
                             if (e["problem"], e["label"]) in keep or (e["label"] is None and e["problem"] in problems)]
        atomic_write(self.run_dir / SPECTRA_FILE, json.dumps(_json_clean(stored), allow_nan=False) + "\n")

    def update_environment(self, **fields) -> None:
        """Rewrite ``environment.json`` with ``fields`` added or replaced (e.g. the
        compilation cache's hits and misses, known only at the end)."""
        path = self.run_dir / "environment.json"
        try:
            environment = json.loads(path.read_text())
        except (OSError, ValueError):
            environment = {}
        environment.update(fields)
        atomic_write(path, json.dumps(_json_clean(environment), indent=2) + "\n")

    def finish(self, status: str) -> None:
        """Final state: ``complete``, ``interrupted`` or ``failed``."""
        self.results["status"] = status
        self.results["finished"] = now_iso()
        self._write_results()

    def _write_results(self, results: dict | None = None) -> None:
        text = json.dumps(_json_clean(self.results if results is None else results), indent=1, allow_nan=False)
        atomic_write(self.run_dir / "results.json", text + "\n")

"""Results on disk: the config copy, ``results.json``, ``trace.csv`` and ``environment.json``.

Every file is written to a temporary name in the same folder and moved into place with
``os.replace`` (atomic on POSIX and Windows), so a reader never sees a half-written file.
``results.json`` is rewritten after every (problem, optimizer) pair; ``trace.csv`` (tidy long
form, one row per run and iteration) at most every few seconds and when the run ends or is
interrupted. A missing value in the CSV is an empty field; in JSON a non-finite number is null.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "RESULT_FIELDS",
    "RunData",
    "RunWriter",
    "TRACE_COLUMNS",
    "atomic_write",
    "load_run",
    "new_run_dir",
]

TRACE_COLUMNS = (
    "run", "problem", "label", "method", "start", "iteration",
    "f", "gap", "grad_norm", "nfev", "ngev", "nhvp", "evaluations", "time",
    "x", "y", "eig_min", "eig_max",
)
_TEXT_COLUMNS = ("problem", "label", "method")
_INT_COLUMNS = ("run", "start", "iteration")
RESULT_FIELDS = (
    "run", "problem", "problem_name", "label", "method", "start", "f", "f_star", "gap", "grad_norm",
    "nit", "nfev", "ngev", "nhvp", "evaluations", "run_seconds", "compile_seconds", "batch",
    "status", "message", "success",
)
FORMAT_VERSION = 1


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def atomic_write(path, data) -> None:
    """Write ``data`` (str or bytes) to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": ""})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
            continue
    raise FileExistsError(f"could not create a fresh run folder under {base}")


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
    """CSV text (no header) for equal-length columns; NaN and None become empty fields."""
    n = len(columns["run"])
    out = []
    for name in TRACE_COLUMNS:
        col = columns.get(name)
        if col is None:
            out.append([""] * n)
        elif name in _TEXT_COLUMNS:
            out.append([_csv_text(v) for v in col])
        elif name in _INT_COLUMNS:
            out.append([str(int(v)) for v in col])
        else:
            arr = np.asarray(col, dtype=np.float64)
            out.append(["" if not math.isfinite(v) else repr(v) for v in arr.tolist()])
    return "".join(",".join(row) + "\n" for row in zip(*out))


def _csv_text(value: str) -> str:
    value = str(value)
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


class RunWriter:
    """Writes one run folder incrementally: ``start``, then ``add`` per pair, then ``finish``."""

    TRACE_EVERY_SECONDS = 5.0

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.results: dict = {}
        self.chunks: list[str] = []
        self._last_trace_write = 0.0
        self._trace_dirty = False

    @property
    def next_run_id(self) -> int:
        runs = self.results.get("runs", [])
        return max(r["run"] for r in runs) + 1 if runs else 0

    def start(self, spec, environment: dict, *, problems: list, config_name: str = "config.toml") -> None:
        """Write the config copy, the environment and an empty ``results.json`` (status running)."""
        atomic_write(self.run_dir / config_name, spec.text)
        atomic_write(self.run_dir / "environment.json", json.dumps(_json_clean(environment), indent=2) + "\n")
        self.results = {
            "format": FORMAT_VERSION,
            "name": spec.name,
            "description": spec.description,
            "config": config_name,
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
        self._write_results()
        self._write_trace()

    def resume(self, data: "RunData", keep) -> None:
        """Continue a stored run, keeping the pairs ``(problem, label)`` in ``keep``.

        Their runs and trace rows stay; everything else is dropped (to be run again), and
        the run is marked running.
        """
        results = dict(data.results)
        results["pairs"] = [p for p in results["pairs"] if (p["problem"], p["label"]) in keep]
        results["runs"] = [r for r in results["runs"] if (r["problem"], r["label"]) in keep]
        results["status"] = "running"
        results["resumed"] = list(results.get("resumed", [])) + [now_iso()]
        results["finished"] = None
        self.results = results
        ids = np.asarray([r["run"] for r in results["runs"]], dtype=np.int64)
        rows = np.isin(data.trace["run"], ids)
        self.chunks = [trace_chunk({k: v[rows] for k, v in data.trace.items()})] if rows.any() else []
        self._write_trace()
        self._write_results()

    def add(self, pair: dict, runs: list[dict], trace_columns: dict | None) -> None:
        """Record one finished (problem, optimizer) pair: its runs and its trace rows."""
        self.results["pairs"].append(pair)
        self.results["runs"].extend(runs)
        if trace_columns is not None and len(trace_columns["run"]):
            self.chunks.append(trace_chunk(trace_columns))
            self._trace_dirty = True
        self._write_results()
        if time.monotonic() - self._last_trace_write > self.TRACE_EVERY_SECONDS:
            self._write_trace()

    def finish(self, status: str) -> None:
        """Final state: ``complete``, ``interrupted`` or ``failed``; flushes the trace."""
        self.results["status"] = status
        self.results["finished"] = now_iso()
        self._write_trace()
        self._write_results()

    def _write_results(self) -> None:
        text = json.dumps(_json_clean(self.results), indent=1, allow_nan=False)
        atomic_write(self.run_dir / "results.json", text + "\n")

    def _write_trace(self) -> None:
        atomic_write(self.run_dir / "trace.csv", ",".join(TRACE_COLUMNS) + "\n" + "".join(self.chunks))
        self._last_trace_write = time.monotonic()
        self._trace_dirty = False


@dataclass
class RunData:
    """A stored run read back: ``results`` (the JSON), ``trace`` (column -> numpy array)."""

    run_dir: Path
    results: dict
    trace: dict
    config_text: str
    environment: dict

    def trace_of(self, run: int) -> dict:
        """The trace rows of run id ``run``, sorted by iteration (empty arrays if none)."""
        if not hasattr(self, "_rows"):
            order = np.lexsort((self.trace["iteration"], self.trace["run"]))
            ids, first, counts = np.unique(self.trace["run"][order], return_index=True, return_counts=True)
            self._rows = {int(i): order[a:a + c] for i, a, c in zip(ids, first, counts)}
        rows = self._rows.get(int(run), np.zeros(0, dtype=np.int64))
        return {k: v[rows] for k, v in self.trace.items()}


def load_run(run_dir) -> RunData:
    """Read a run folder written by :class:`RunWriter` (complete or interrupted)."""
    run_dir = Path(run_dir)
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no results.json here; expected a folder written by 'curvax run'")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    if results.get("format") != FORMAT_VERSION:
        raise ValueError(f"{results_path}: unsupported format {results.get('format')!r} (expected {FORMAT_VERSION})")
    trace = read_trace(run_dir / "trace.csv")
    config_path = run_dir / results.get("config", "config.toml")
    config_text = config_path.read_text(encoding="utf-8") if config_path.is_file() else ""
    env_path = run_dir / "environment.json"
    environment = json.loads(env_path.read_text(encoding="utf-8")) if env_path.is_file() else {}
    # A run that was killed outright may list runs whose trace rows were not flushed yet;
    # keep only runs that are fully recorded in both files.
    if results["runs"] and trace["run"].size:
        present = set(np.unique(trace["run"]).tolist())
        results["runs"] = [r for r in results["runs"] if r["run"] in present]
    elif not trace["run"].size:
        results["runs"] = []
    return RunData(run_dir, results, trace, config_text, environment)


def read_trace(path) -> dict:
    """``trace.csv`` as column -> numpy array (floats with NaN for empty, ints, strings)."""
    cols: dict[str, list] = {name: [] for name in TRACE_COLUMNS}
    if Path(path).is_file():
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is not None and tuple(header) != TRACE_COLUMNS:
                raise ValueError(f"{path}: unexpected columns {header}; expected {list(TRACE_COLUMNS)}")
            for row in reader:
                for name, value in zip(TRACE_COLUMNS, row):
                    cols[name].append(value)
    out = {}
    for name, values in cols.items():
        if name in _TEXT_COLUMNS:
            out[name] = np.asarray(values, dtype=object)
        elif name in _INT_COLUMNS:
            out[name] = np.asarray([int(v) for v in values], dtype=np.int64)
        else:
            out[name] = np.asarray([float(v) if v else math.nan for v in values], dtype=np.float64)
    return out

"""Reading a run folder back: ``results.json`` and ``trace.csv`` checked field by field
(a damaged file is a ValueError naming the file, the line and the column), the config copy
and ``environment.json``, and ``spectra.json``. The writer is :mod:`experiments.records`."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.files import RecordError
from experiments.record_format import (
    FORMAT_VERSION,
    INT_COLUMNS,
    RESULT_FIELDS,
    SPECTRA_FILE,
    TEXT_COLUMNS,
    TRACE_COLUMNS,
)

__all__ = ["RunData", "load_run", "read_results", "read_spectra", "read_trace"]


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


# What load_run needs of results.json, by key: the type, and for lists of records the
# fields every record must carry.
_RESULTS_SHAPE = {"runs": RESULT_FIELDS, "pairs": ("problem", "label", "starts"),
                  "problems": ("label", "name", "dim"), "optimizers": ("label", "method")}


def _read_text(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RecordError(path, err, "read") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start}); "
                         f"expected the {what} written by 'curvax run'") from None


def read_results(path) -> dict:
    """``results.json``, checked: valid JSON, the right format and the fields the plots and
    the summary read; ValueError naming the file and what is wrong."""
    path = Path(path)
    text = _read_text(path, "results.json")
    damaged = "; the file is damaged (an interrupted copy?) or not written by curvax"
    if not text.strip():
        raise ValueError(f"{path}: the file is empty{damaged}")
    try:
        results = json.loads(text)
    except json.JSONDecodeError as err:
        where = f"{err.msg} at line {err.lineno}, column {err.colno}"
        raise ValueError(f"{path}: not valid JSON ({where}){damaged}") from None
    if not isinstance(results, dict):
        raise ValueError(f"{path}: expected a JSON object, found a {type(results).__name__}{damaged}")
    if results.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format {results.get('format')!r} (expected {FORMAT_VERSION})")
    for key, fields in _RESULTS_SHAPE.items():
        records = results.get(key)
        if not isinstance(records, list):
            raise ValueError(f"{path}: {key!r} is missing or not a list{damaged}")
        for i, record in enumerate(records):
            missing = [f for f in fields if not isinstance(record, dict) or f not in record]
            if missing:
                raise ValueError(f"{path}: {key}[{i}] lacks the field(s) {', '.join(missing)}{damaged}")
    return results


def load_run(run_dir, *, trace_required: bool = True) -> RunData:
    """Read a run folder written by :class:`experiments.records.RunWriter` (complete, interrupted or failed).

    Raises FileNotFoundError when ``results.json`` (or, with ``trace_required``, ``trace.csv``)
    is missing, ValueError naming the file and the fault when either is damaged, and
    :class:`RecordError` when a file cannot be read. Runs listed in ``results.json`` without
    trace rows (a folder of an older version killed before its trace was flushed) are
    dropped, so that what is returned is fully recorded.
    """
    run_dir = Path(run_dir)
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no results.json here; expected a folder written by 'curvax run'")
    results = read_results(results_path)
    trace_path = run_dir / "trace.csv"
    if trace_required and not trace_path.is_file():
        raise FileNotFoundError(f"{trace_path}: missing; the per-iteration records of this run are gone "
                                f"(re-run it, or 'curvax resume {run_dir}' to run its pairs again)")
    trace = read_trace(trace_path)
    config_path = run_dir / results.get("config", "config.toml")
    config_text = _read_text(config_path, "config copy") if config_path.is_file() else ""
    env_path = run_dir / "environment.json"
    try:
        environment = json.loads(_read_text(env_path, "environment.json")) if env_path.is_file() else {}
    except json.JSONDecodeError:
        environment = {}  # informational only: a damaged copy does not stop a plot
    present = set(np.unique(trace["run"]).tolist())
    results["runs"] = [r for r in results["runs"] if r["run"] in present]
    return RunData(run_dir, results, trace, config_text, environment)


def read_spectra(run_dir):
    """``spectra.json`` of a run folder (``format`` and ``entries``: one Hessian spectral
    density per problem start and per pair's end point, see :mod:`experiments.spectra`), or
    None when the run has none; ValueError naming the file when it is damaged."""
    path = Path(run_dir) / SPECTRA_FILE
    if not path.is_file():
        return None
    text = _read_text(path, SPECTRA_FILE)
    try:
        stored = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); the file is damaged") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("entries"), list) or any(
            not isinstance(e, dict) or not {"problem", "label", "point"} <= set(e) for e in stored["entries"]):
        raise ValueError(f"{path}: expected an object with a list of entries (problem, label, point); "
                         "the file is damaged")
    return stored


def read_trace(path) -> dict:
    """``trace.csv`` as column -> numpy array (floats with NaN for empty, ints, strings).

    A missing file reads as no rows. A last line without its newline (a process killed
    in the middle of an append) is dropped; any other malformed row raises ValueError
    naming the file, the line and the column.
    """
    path = Path(path)
    rows: list = []
    if path.is_file():
        text = _read_text(path, "trace.csv")
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # a torn final row
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is not None and tuple(header) != TRACE_COLUMNS:
            raise ValueError(f"{path}: unexpected columns {header}; expected {list(TRACE_COLUMNS)}")
        rows = list(reader)
        width = len(TRACE_COLUMNS)
        for line, row in enumerate(rows, start=2):
            if len(row) != width:
                raise ValueError(f"{path}: line {line} has {len(row)} fields, expected {width}; "
                                 "the file is damaged")
    columns = list(zip(*rows)) if rows else [()] * len(TRACE_COLUMNS)
    out = {}
    for name, values in zip(TRACE_COLUMNS, columns):
        parse = str if name in TEXT_COLUMNS else int if name in INT_COLUMNS else _float_field
        try:
            parsed = list(values) if parse is str else [parse(v) for v in values]
        except ValueError:
            line, bad = next((ln, v) for ln, v in enumerate(values, start=2) if not _parses(parse, v))
            raise ValueError(f"{path}: line {line}, column {name!r}: {bad!r} is not "
                             f"{'an integer' if parse is int else 'a number'}; the file is damaged") from None
        dtype = object if parse is str else np.int64 if parse is int else np.float64
        out[name] = np.asarray(parsed, dtype=dtype)
    return out


def _float_field(value: str) -> float:
    return float(value) if value else math.nan


def _parses(parse, value) -> bool:
    try:
        parse(value)
        return True
    except ValueError:
        return False

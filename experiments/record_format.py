"""The format of a run folder's records, shared by their writer (:mod:`experiments.records`)
and their reader (:mod:`experiments.run_reader`): the columns of ``trace.csv``, the fields
of a run in ``results.json``, the format version, the spectra file's name."""

from __future__ import annotations

__all__ = ["FORMAT_VERSION", "INT_COLUMNS", "RESULT_FIELDS", "SPECTRA_FILE", "TEXT_COLUMNS", "TRACE_COLUMNS"]

TRACE_COLUMNS = (
    "run", "problem", "label", "method", "start", "iteration",
    "f", "gap", "grad_norm", "nfev", "ngev", "nhvp", "evaluations", "time",
    "x", "y", "eig_min", "eig_max",
)
TEXT_COLUMNS = ("problem", "label", "method")
INT_COLUMNS = ("run", "start", "iteration")
RESULT_FIELDS = (
    "run", "problem", "problem_name", "label", "method", "start", "f", "f_star", "gap", "grad_norm",
    "nit", "nfev", "ngev", "nhvp", "evaluations", "run_seconds", "compile_seconds", "batch",
    "status", "message", "success",
)
FORMAT_VERSION = 1
SPECTRA_FILE = "spectra.json"

"""Records on disk: atomic writes, fresh run folders, the tidy CSV round trip, and the
terminal report (progress bar, summary table, solved/failed table) from hand-made results."""

import io
import json
import math
import os

import numpy as np
import pytest

from experiments.records import (
    RESULT_FIELDS,
    TRACE_COLUMNS,
    RunWriter,
    atomic_write,
    load_run,
    new_run_dir,
    read_trace,
    trace_chunk,
)
from experiments.report import ProgressBar, solved_csv, solved_rows, solved_table, summary_rows, summary_table


def test_atomic_write_replaces_whole_files_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    atomic_write(target, "old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"

    def interrupted(fd):  # Ctrl-C in the middle of writing the temporary file
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "partial")
    assert target.read_bytes() == b"new"  # the old content survives
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left


def test_new_run_dir_never_reuses_a_folder(tmp_path):
    first = new_run_dir(tmp_path, "exp")
    second = new_run_dir(tmp_path, "exp")
    assert first != second and first.parent == second.parent == tmp_path / "exp"
    assert first.is_dir() and second.is_dir()


def test_trace_round_trip_keeps_values_and_missing_fields(tmp_path):
    cols = {"run": [0, 0, 1], "problem": ["p", "p", "q, r"], "label": ["A", "A", "B"], "method": ["gd"] * 3,
            "start": [0, 0, 2], "iteration": [0, 1, 0], "f": [1.5, 1e-300, -np.inf],
            "gap": [np.nan, 0.1 + 0.2, 3.0], "time": [0.0, 1.25e-6, np.nan]}
    path = tmp_path / "trace.csv"
    path.write_text(",".join(TRACE_COLUMNS) + "\n" + trace_chunk(cols))
    back = read_trace(path)
    assert list(back) == list(TRACE_COLUMNS)
    assert back["problem"].tolist() == ["p", "p", "q, r"]
    assert back["start"].tolist() == [0, 0, 2] and back["iteration"].dtype == np.int64
    assert back["f"][:2].tolist() == [1.5, 1e-300] and math.isnan(back["f"][2])  # non-finite -> empty
    assert math.isnan(back["gap"][0]) and back["gap"][1] == 0.1 + 0.2  # full precision survives
    assert np.all(np.isnan(back["x"]))  # columns not given are empty


def test_trace_with_foreign_columns_is_refused(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="unexpected columns"):
        read_trace(path)


class _Spec:
    name, description, source, seed, dtype, optimizers = "s", "", "s.toml", 0, "float64", ()
    text = 'name = "s"\n'


def _runs(pair, ids):
    return [{**dict.fromkeys(RESULT_FIELDS), "run": i, "problem": pair[0], "label": pair[1]} for i in ids]


def _rows(ids):
    n = len(ids)
    return {"run": ids, "problem": ["p"] * n, "label": ["A"] * n, "method": ["gd"] * n, "start": [0] * n,
            "iteration": [0] * n, "f": [1.0] * n}


def test_a_pair_is_on_disk_in_both_files_when_add_returns(tmp_path):
    writer = RunWriter(tmp_path)
    writer.start(_Spec(), {"device": "cpu"}, problems=[])
    writer.add({"problem": "p", "label": "A", "starts": 1}, _runs(("p", "A"), [0]), _rows([0]))
    assert [r["run"] for r in json.loads((tmp_path / "results.json").read_text())["runs"]] == [0]
    assert read_trace(tmp_path / "trace.csv")["run"].tolist() == [0]  # no flush window
    writer.add({"problem": "p", "label": "B", "starts": 1}, _runs(("p", "B"), [1]), _rows([1]))
    assert read_trace(tmp_path / "trace.csv")["run"].tolist() == [0, 1]
    assert [r["run"] for r in load_run(tmp_path).results["runs"]] == [0, 1]


def test_spectra_are_kept_per_pair_and_on_resume(tmp_path):
    from experiments.records import read_spectra

    def entry(problem, label, point):
        return {"problem": problem, "label": label, "point": point, "nodes": [[1.0]], "weights": [[1.0]]}

    writer = RunWriter(tmp_path)
    writer.start(_Spec(), {"device": "cpu"}, problems=[])
    assert read_spectra(tmp_path) is None  # none asked for
    writer.add({"problem": "p", "label": "A", "starts": 1}, _runs(("p", "A"), [0]), _rows([0]),
               [entry("p", None, "start"), entry("p", "A", "end")])
    writer.add({"problem": "p", "label": "B", "starts": 1}, _runs(("p", "B"), [1]), _rows([1]),
               [entry("p", None, "start"), entry("p", "B", "end")])
    stored = read_spectra(tmp_path)["entries"]
    assert [(e["label"], e["point"]) for e in stored] == [("A", "end"), (None, "start"), ("B", "end")]
    RunWriter(tmp_path).resume(load_run(tmp_path), {("p", "A")})  # B is run again
    assert [(e["label"], e["point"]) for e in read_spectra(tmp_path)["entries"]] == [("A", "end"), (None, "start")]
    (tmp_path / "spectra.json").write_text("{")
    with pytest.raises(ValueError, match="spectra.json: not valid JSON"):
        read_spectra(tmp_path)


def test_load_run_drops_runs_without_trace_rows(tmp_path):
    writer = RunWriter(tmp_path)
    writer.start(_Spec(), {"device": "cpu"}, problems=[])
    writer.add({"problem": "p", "label": "A", "starts": 1}, _runs(("p", "A"), [0]), _rows([0]))
    writer.add({"problem": "p", "label": "B", "starts": 1}, _runs(("p", "B"), [1]), None)
    # results.json lists 2 runs, trace.csv holds rows of 1 (a folder of an older version)
    assert len(json.loads((tmp_path / "results.json").read_text())["runs"]) == 2
    data = load_run(tmp_path)
    assert [r["run"] for r in data.results["runs"]] == [0]
    assert data.results["status"] == "running"


def test_summary_table_medians_and_status(tmp_path):
    runs = []
    for start, (f, nit, ok) in enumerate([(1e-9, 10, True), (3e-9, 30, True), (0.5, 100, False)]):
        runs.append({"problem": "p", "label": "A", "f": f, "f_star": 0.0, "gap": f, "nit": nit, "evaluations": 2 * nit,
                     "status": 0 if ok else 1, "success": ok,
                     "message": "converged: ..." if ok else "maximum number of iterations reached"})
    runs.append({"problem": "q", "label": "A", "f": -2.0, "f_star": None, "gap": None, "nit": 5, "evaluations": 9,
                 "status": 0, "success": True, "message": "converged"})
    results = {"runs": runs, "pairs": [{"problem": "p", "label": "A", "run_seconds": 0.25, "compile_seconds": 1.5}]}
    rows = summary_rows(results)
    assert rows[0]["value"] == 3e-9 and rows[0]["nit"] == 30 and rows[0]["evaluations"] == 60
    assert rows[0]["status"] == "converged 2/3, maximum number of iterations reached 1"
    assert rows[1]["value"] == -2.0 and not rows[1]["value_is_gap"]
    table = summary_table(results)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["problem", "method", "starts"]
    assert lines[2].split()[:7] == ["p", "A", "3", "3.00e-09", "30", "60", "0.25"]
    assert lines[3].split()[:5] == ["q", "A", "1", "-2.00e+00", "(f)"]
    assert "one Hv" not in table and "2 nhvp" in table
    assert lines[2].split()[-1] == "2/3" and lines[3].split()[-1] == "1/1"
    assert "  maximum number of iterations reached: 1 run(s) (A 1)" in lines


def test_summary_table_fits_100_columns_whatever_the_labels():
    runs = [{"problem": "cutest_" + "x" * 60 + str(i), "label": "Trust-NCG with a very long label indeed", "f": 1.0,
             "f_star": 0.0, "gap": 1.0, "nit": 12345, "evaluations": 99999, "status": 1, "success": False,
             "message": "maximum number of iterations reached"} for i in range(3)]
    results = {"runs": runs, "pairs": [{"problem": r["problem"], "label": r["label"], "run_seconds": 123.456,
                                        "compile_seconds": 1.5} for r in runs]}
    table = summary_table(results)
    assert max(len(line) for line in table.splitlines()) <= 100
    assert table.splitlines()[2].startswith("cutest_xx...")


def test_solved_table_counts_each_case_against_the_best_f_reached():
    def run(problem, label, f, status, start=0):
        return {"problem": problem, "start": start, "label": label, "method": label.lower(), "f": f,
                "status": status, "success": status == 0}

    runs = [run("p", "A", 1.0, 0), run("p", "B", 1.0 + 5e-7, 0),            # both solve (|f_best| = 1)
            run("q", "A", 3.0, 0), run("q", "B", -200.0, 0),              # A stopped at another point
            run("r", "A", -1e-3, 1), run("r", "B", None, 4),              # max_iter; non-finite
            run("s", "A", 0.0, 2), run("s", "B", 0.0, 3, start=0),        # no progress; non-finite at x0
            run("q", "A", -200.0 * (1 + 2e-6), 0, start=1), run("q", "B", -200.0, 0, start=1)]
    results = {"runs": runs, "optimizers": [{"label": "A"}, {"label": "B"}]}
    rows = solved_rows(results, tol=1e-6)
    assert [(r["label"], r["solved"], r["other_point"], r["max_iter"], r["no_progress"], r["nonfinite"],
             r["nonfinite_x0"], r["total"]) for r in rows] == [("A", 2, 1, 1, 1, 0, 0, 5), ("B", 2, 1, 0, 0, 1, 1, 5)]
    table = solved_table(rows).splitlines()
    assert table[0].split() == ["method", "solved", "max", "iter", "no", "progress", "non-finite", "x0",
                                "non-finite", "other", "point", "total"]
    assert table[2].split() == ["A", "2", "1", "1", "0", "0", "1", "5"]
    assert "lowest f any method reached" in table[-1]
    assert solved_csv(rows).splitlines() == [
        "label,method,solved,max_iter,no_progress,nonfinite_x0,nonfinite,other_point,total",
        "A,a,2,1,1,0,0,1,5", "B,b,2,0,0,1,1,1,5"]


def test_progress_bar_prints_one_line_per_pair_off_a_terminal():
    stream = io.StringIO()
    now = [100.0]
    bar = ProgressBar(4, stream=stream, clock=lambda: now[0])
    bar.show("compiling")  # not a terminal: nothing is redrawn in place
    bar.step("kept", kept=True)  # finished by an interrupted run: no time, not in the estimate
    for name, seconds in (("a", 10.0), ("b", 20.0), ("c", 61.0)):
        now[0] += seconds
        bar.step(name)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines == ["[######------------------] 1/4  0:00 elapsed  kept",
                     "[############------------] 2/4  0:10 elapsed  a",
                     "[##################------] 3/4  0:30 elapsed, ~0:15 left  b",  # 30 s / 2 pairs x 1 left
                     "[########################] 4/4  1:31 elapsed  c"]

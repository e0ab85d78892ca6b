"""Terminal output: a text progress bar over the (problem, optimizer) pairs, the summary table
and, for suites, the solved/failed counts per method."""

from __future__ import annotations

import csv
import io
import math
import sys
import textwrap
from collections import Counter

import numpy as np

__all__ = ["ProgressBar", "SOLVED_COLUMNS", "SUITE_MIN_PROBLEMS", "TABLE_WIDTH", "solved_csv", "solved_rows",
           "solved_table", "summary_rows", "summary_table"]


class ProgressBar:
    """``[#####-----]  7/24  0:41 elapsed, ~1:10 left  problem x method: compiling`` on a
    stream (stderr by default).

    On a terminal the bar is redrawn in place (cut to the terminal's width); otherwise one
    line is printed per finished pair, with the elapsed time. The estimate of the time left
    is the mean time per finished pair so far times the pairs left (shown from the second
    finished pair on; pairs kept from an interrupted run do not count).
    """

    def __init__(self, total: int, stream=None, width: int = 24, clock=None):
        import time

        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.done = 0
        self.kept = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_len = 0
        self._clock = clock or time.monotonic
        self._start = self._clock()

    def _bar(self) -> str:
        filled = int(round(self.width * self.done / self.total))
        return "[" + "#" * filled + "-" * (self.width - filled) + f"] {self.done:>{len(str(self.total))}}/{self.total}"

    def _times(self) -> str:
        elapsed = self._clock() - self._start
        text = f"{_clock_text(elapsed)} elapsed"
        ran = self.done - self.kept
        left = self.total - self.done
        if ran >= 2 and left > 0:
            text += f", ~{_clock_text(elapsed / ran * left)} left"
        return text

    def show(self, text: str) -> None:
        """Show ``text`` beside the bar without advancing it (the pair now running)."""
        if self.tty:
            self._write(f"{self._bar()}  {self._times()}  {text}")

    def step(self, text: str, kept: bool = False) -> None:
        """Advance by one finished pair and show ``text``; ``kept``: a pair an interrupted
        run had finished (not counted in the estimate)."""
        self.done += 1
        self.kept += bool(kept)
        line = f"{self._bar()}  {self._times()}  {text}"
        if self.tty:
            self._write(line)
            if self.done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last_len and self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self, line: str) -> None:
        import shutil

        columns = shutil.get_terminal_size((100, 24)).columns
        if len(line) >= columns:
            line = line[: max(columns - 4, 10)] + "..."
        pad = max(self._last_len - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._last_len = len(line)


def _clock_text(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _median(values):
    """Median of the finite values (halved first, so that -1e308 and -1e308 do not overflow)."""
    vals = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    return float(np.median(vals / 2) * 2) if vals.size else math.nan


def summary_rows(results: dict) -> list[dict]:
    """One row per (problem, optimizer) pair: medians over starts and the status counts."""
    pairs = {}
    for run in results.get("runs", []):
        pairs.setdefault((run["problem"], run["label"]), []).append(run)
    times = {(p["problem"], p["label"]): p for p in results.get("pairs", [])}
    rows = []
    for (problem, label), runs in pairs.items():
        gaps = [r["gap"] if r["gap"] is not None or r["f_star"] is None else math.inf for r in runs]
        has_gap = any(r["f_star"] is not None for r in runs)
        counts = Counter(r["status"] for r in runs)
        converged = sum(1 for r in runs if r["success"])
        pair = times.get((problem, label), {})
        rows.append({
            "problem": problem,
            "label": label,
            "starts": len(runs),
            "value": _median(gaps) if has_gap else _median([r["f"] for r in runs]),
            "value_is_gap": has_gap,
            "nit": _median([r["nit"] for r in runs]),
            "evaluations": _median([r["evaluations"] for r in runs]),
            "run_seconds": pair.get("run_seconds", math.nan),
            "compile_seconds": pair.get("compile_seconds", math.nan),
            "converged": converged,
            "statuses": counts,
            "status": _status_text(runs, converged),
        })
    return rows


def _status_text(runs, converged) -> str:
    """``converged 3/5, maximum number of iterations reached 1, no further progress 1``:
    each reason a run did not converge, with its own count, most frequent first."""
    text = f"converged {converged}/{len(runs)}"
    reasons = Counter(r["message"].split(":")[0].split(";")[0] for r in runs if not r["success"])
    return ", ".join([text] + [f"{reason} {count}" for reason, count in reasons.most_common()])


def _fmt(value, kind) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
    if kind == "e":
        return f"{value:.2e}"
    if kind == "i":
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    if kind == "s":
        return f"{value:.3g}"
    return str(value)


#: The widest line the end-of-run table prints (the note below it is wrapped to it too).
TABLE_WIDTH = 100


def summary_table(results: dict, width: int = TABLE_WIDTH) -> str:
    """The end-of-run table: problem x method -> f - f* (or f), iterations, evaluations,
    times, and how many starts converged; then why the others did not, counted per reason.

    f - f*, iterations and evaluations are medians over the starts; run s is the measured
    time of the pair's one vmapped call (all starts), compile s apart. No line is wider
    than ``width``: long problem and method labels are cut (``...``) to fit.
    """
    rows = summary_rows(results)
    header = ["problem", "method", "starts", "f - f*", "iters", "evals", "run s", "compile s", "converged"]
    table = [header]
    for r in rows:
        value = _fmt(r["value"], "e") + ("" if r["value_is_gap"] else " (f)")
        table.append([r["problem"], r["label"], str(r["starts"]), value, _fmt(r["nit"], "i"),
                      _fmt(r["evaluations"], "i"), _fmt(r["run_seconds"], "s"), _fmt(r["compile_seconds"], "s"),
                      f"{r['converged']}/{r['starts']}"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    over = sum(widths) + 2 * (len(widths) - 1) - width
    for col in (0, 1):  # cut the label columns, problem first, to no less than 12 characters
        if over > 0:
            cut = min(over, max(widths[col] - 12, 0))
            widths[col] -= cut
            over -= cut
    right = {2, 3, 4, 5, 6, 7, 8}
    lines = []
    for j, row in enumerate(table):
        cells = [_clip(c, w).rjust(w) if i in right else _clip(c, w).ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += _failure_lines(results, width)
    note = ("f - f*: median gap to the known minimum ((f): median f, where none is known); iters, evals: "
            "medians over starts; evals = nfev + ngev + 2 nhvp; run s: one vmapped call for all starts")
    return "\n".join(lines) + "\n" + "\n".join(textwrap.wrap(note, width))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 1)] + "..."


def _failure_lines(results: dict, width: int) -> list[str]:
    """``not converged: maximum number of iterations reached 9 (GD 6, Adam 3); ...``, one
    reason per line (wrapped), the runs of each method counted; nothing when all converged."""
    reasons: dict = {}
    for r in results.get("runs", []):
        if not r["success"]:
            reason = r["message"].split(":")[0].split(";")[0]
            reasons.setdefault(reason, Counter())[r["label"]] += 1
    if not reasons:
        return []
    out = ["", "not converged:"]
    for reason, by_label in sorted(reasons.items(), key=lambda kv: -sum(kv[1].values())):
        detail = ", ".join(f"{label} {n}" for label, n in by_label.most_common())
        out += textwrap.wrap(f"{reason}: {sum(by_label.values())} run(s) ({detail})", width,
                             initial_indent="  ", subsequent_indent="    ")
    return out


# The outcome of a run in the solved/failed table: solved, else why not (by optimizer status).
SOLVED_COLUMNS = ("solved", "max_iter", "no_progress", "nonfinite_x0", "nonfinite", "other_point")
_STATUS_COLUMN = {1: "max_iter", 2: "no_progress", 3: "nonfinite_x0", 4: "nonfinite"}
_COLUMN_TEXT = {"max_iter": "max iter", "no_progress": "no progress", "nonfinite_x0": "non-finite x0",
                "nonfinite": "non-finite", "other_point": "other point"}
# The table is printed for runs of at least this many problem instances (suites).
SUITE_MIN_PROBLEMS = 5


def solved_rows(results: dict, tol: float = 1e-6) -> list[dict]:
    """Per method (label): how many (problem, start) cases it solved and why the others failed.

    A case is solved when the method reports success (gradient norm <= gtol) and its f is
    within ``tol * max(1, |f_best|)`` of f_best, the lowest finite f any method reached on
    that case. Otherwise it counts under the optimizer's stopping reason (``max_iter``,
    ``no_progress``, ``nonfinite_x0``, ``nonfinite``), or ``other_point`` for a success at
    a stationary point above f_best (a local minimum or a saddle another method got past).
    """
    best = {}
    for r in results.get("runs", []):
        f = r.get("f")
        if f is not None and math.isfinite(f):
            case = (r["problem"], r["start"])
            best[case] = min(best.get(case, math.inf), f)
    order = [o["label"] for o in results.get("optimizers", [])]
    counts = {}
    for r in results.get("runs", []):
        row = counts.setdefault(r["label"], {"label": r["label"], "method": r["method"],
                                             **{c: 0 for c in SOLVED_COLUMNS}, "total": 0})
        row["total"] += 1
        if r["success"]:
            f_best = best.get((r["problem"], r["start"]), math.inf)
            f = r.get("f")
            near = f is not None and math.isfinite(f) and f - f_best <= tol * max(1.0, abs(f_best))
            row["solved" if near else "other_point"] += 1
        else:
            row[_STATUS_COLUMN.get(r["status"], "nonfinite" if r.get("f") is None else "no_progress")] += 1
    return sorted(counts.values(), key=lambda row: order.index(row["label"]) if row["label"] in order else len(order))


def solved_table(rows: list[dict], tol: float = 1e-6) -> str:
    """``method  solved  max iter  no progress ...  total``: the failure columns that occur."""
    shown = ["solved"] + [c for c in SOLVED_COLUMNS[1:] if any(r[c] for r in rows)]
    header = ["method"] + [_COLUMN_TEXT.get(c, c) for c in shown] + ["total"]
    table = [header] + [[r["label"]] + [str(r[c]) for c in shown] + [str(r["total"])] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for j, row in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    note = (f"solved: converged with f within {tol:g} max(1, |f_best|) of the lowest f any method reached "
            "on the (problem, start); other point: converged, but above that")
    return "\n".join(lines) + "\n" + note


def solved_csv(rows: list[dict]) -> str:
    """The rows as CSV text: ``label,method,solved,max_iter,...,other_point,total``."""
    columns = ("label", "method") + SOLVED_COLUMNS + ("total",)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r[c] for c in columns] for r in rows)
    return out.getvalue()

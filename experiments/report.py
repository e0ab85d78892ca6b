"""Terminal output: a text progress bar over the (problem, optimizer) pairs and the summary table."""

from __future__ import annotations

import math
import sys
from collections import Counter

import numpy as np

__all__ = ["ProgressBar", "summary_rows", "summary_table"]


class ProgressBar:
    """``[#####-----]  7/24  problem x method  ...`` on a stream (stderr by default).

    On a terminal the bar is redrawn in place; otherwise one line is printed per step.
    """

    def __init__(self, total: int, stream=None, width: int = 24):
        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.done = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_len = 0

    def _bar(self) -> str:
        filled = int(round(self.width * self.done / self.total))
        return "[" + "#" * filled + "-" * (self.width - filled) + f"] {self.done:>{len(str(self.total))}}/{self.total}"

    def show(self, text: str) -> None:
        """Show ``text`` beside the bar without advancing it (the pair now running)."""
        if self.tty:
            self._write(f"{self._bar()}  {text}")

    def step(self, text: str) -> None:
        """Advance by one finished pair and show ``text``."""
        self.done += 1
        line = f"{self._bar()}  {text}"
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
        pad = max(self._last_len - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._last_len = len(line)


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


def summary_table(results: dict) -> str:
    """The end-of-run table: problem x method -> gap (or f), iterations, evaluations, time, status.

    Gap, iterations and evaluations are medians over the starts; time is the measured run
    time of the pair's one vmapped call (all starts), compile time apart.
    """
    rows = summary_rows(results)
    header = ["problem", "method", "starts", "f - f* / f", "iters", "evals", "run s", "compile s", "status"]
    table = [header]
    for r in rows:
        value = _fmt(r["value"], "e") + ("" if r["value_is_gap"] else " (f)")
        table.append([r["problem"], r["label"], str(r["starts"]), value, _fmt(r["nit"], "i"),
                      _fmt(r["evaluations"], "i"), _fmt(r["run_seconds"], "s"), _fmt(r["compile_seconds"], "s"),
                      r["status"]])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = {2, 3, 4, 5, 6, 7}
    lines = []
    for j, row in enumerate(table):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    note = ("f - f* / f: median gap to the known minimum (or median f where none is known); "
            "iters, evals: medians over starts; evals = nfev + ngev + 2 nhvp; run s: one vmapped call for all starts")
    return "\n".join(lines) + "\n" + note

"""Compile cost of ``minimize`` per (problem, method), for before/after comparisons.

    python benchmarks/compile_time.py --json now.json
    python benchmarks/compile_time.py --before then.json      # a table with both

For every More-Garbow-Hillstrom problem of the experiments registry (``--problems`` for a
subset) and every method named in ``--methods`` that this checkout has, it lowers and
compiles ``jax.jit(lambda x0: minimize(fun, x0, method, max_iter=5000))`` and records the
process CPU time (``time.process_time``: all threads, so it does not depend on how busy
the other cores are) of lowering + compiling, and the wall time. It uses nothing but
``optimizers.minimize`` and ``experiments.problems``, so the same file runs on an older
checkout (``git worktree add ../old REV && cd ../old && python /path/to/compile_time.py``):
that is how the "before" numbers of docs/benchmarks-optimizers.md were taken. Prints
median, 90th percentile and max per method. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

sys.path.insert(0, os.getcwd())
import experiments.problems as problems  # noqa: E402
import optimizers  # noqa: E402

METHODS = ["lbfgs", "bfgs", "newton", "newton-cg", "trust-ncg", "trust-krylov", "trust-exact", "hessian-free"]


def compile_cost(fun, x0, method):
    """(CPU s, wall s) of lowering and compiling one minimize call."""
    run = jax.jit(lambda x: optimizers.minimize(fun, x, method, max_iter=5000))
    c0, w0 = time.process_time(), time.perf_counter()
    run.lower(x0).compile()
    return time.process_time() - c0, time.perf_counter() - w0


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--problems", help="comma-separated subset of the MGH problems")
    ap.add_argument("--json", help="write every record here")
    ap.add_argument("--before", help="a --json file of another checkout, shown beside this one")
    a = ap.parse_args(argv)
    have = set(optimizers.method_names())
    methods = [m for m in a.methods.split(",") if m in have]
    names = a.problems.split(",") if a.problems else problems.names("mgh")
    records = []
    for name in names:
        p = problems.get(name)
        x0 = jnp.asarray(p.x0, jnp.float64)
        for m in methods:
            cpu, wall = compile_cost(p.fun, x0, m)
            records.append({"problem": name, "method": m, "cpu_s": cpu, "wall_s": wall})
            print(f"{name:28s} {m:13s} cpu {cpu:6.2f} s  wall {wall:6.2f} s", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"jax": jax.__version__, "machine": platform.platform(), "records": records}, fh, indent=1)
    before = {}
    if a.before:
        with open(a.before) as fh:
            for r in json.load(fh)["records"]:
                before.setdefault(r["method"], []).append(r["cpu_s"])
    print("\n| method | median CPU s | p90 | max |" + (" before: median | p90 | max |" if before else ""))
    print("|---|---:|---:|---:|" + ("---:|---:|---:|" if before else ""))
    for m in methods:
        cpu = [r["cpu_s"] for r in records if r["method"] == m]
        row = f"| {m} | {statistics.median(cpu):.2f} | {_pct(cpu, 0.9):.2f} | {max(cpu):.2f} |"
        if before:
            b = before.get(m)
            row += (f" {statistics.median(b):.2f} | {_pct(b, 0.9):.2f} | {max(b):.2f} |" if b else " - | - | - |")
        print(row)


if __name__ == "__main__":
    main()

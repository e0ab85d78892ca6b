"""Wall and CPU time of the main job (``curvax run CONFIG``), cold and warm cache, and of
``curvax --help`` / ``curvax list``.

    python benchmarks/main_job.py                         # configs/quickstart.toml
    python benchmarks/main_job.py --config configs/mgh_suite.toml --warm 0
    python benchmarks/main_job.py --json main_job.json

Each command is a fresh process, as a user runs it: ``curvax run`` with a new, empty cache
folder (cold: everything compiled), then again with that folder (warm: every program loaded
from it), then with ``--no-cache``. CPU time is the child's user + system time (all its
threads), which depends less than wall time on what else the machine runs. The run folders
and the cache go to a temporary folder that is removed at the end. Not a test: nothing
here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv, env) -> dict:
    """Run ``python -m experiments ARGV``: wall seconds, CPU seconds (user + sys), exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "experiments", *argv], env=env, cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"curvax {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/quickstart.toml")
    ap.add_argument("--warm", type=int, default=1, help="warm runs after the cold one (default 1)")
    ap.add_argument("--no-plots", action="store_true", help="pass --no-plots to every run")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args()

    out: dict = {"config": args.config, "python": sys.version.split()[0], "machine": platform.machine(),
                 "cpu_count": os.cpu_count(), "xla_flags": os.environ.get("XLA_FLAGS")}
    with tempfile.TemporaryDirectory(prefix="curvax-bench-") as tmp:
        env = {**os.environ, "CURVAX_CACHE_DIR": str(Path(tmp) / "cache"), "CURVAX_CACHE": "1"}
        extra = ["--no-plots"] if args.no_plots else []
        out["help"] = timed(["--help"], env)
        out["list"] = timed(["list"], env)
        out["list_methods"] = timed(["list", "methods"], env)
        out["cold"] = timed(["run", args.config, "--out", str(Path(tmp) / "cold"), *extra], env)
        out["warm"] = [timed(["run", args.config, "--out", str(Path(tmp) / f"warm{i}"), *extra], env)
                       for i in range(args.warm)]
        record = json.loads((Path(tmp) / "cold" / "environment.json").read_text()).get("compilation_cache")
        out["cold_cache"] = record
        if args.warm:
            out["warm_cache"] = json.loads((Path(tmp) / "warm0" / "environment.json").read_text()).get(
                "compilation_cache")
    for key in ("help", "list", "list_methods", "cold"):
        print(f"{key:<14} wall {out[key]['wall_s']:7.2f} s   cpu {out[key]['cpu_s']:7.2f} s")
    for i, w in enumerate(out["warm"]):
        print(f"{'warm ' + str(i):<14} wall {w['wall_s']:7.2f} s   cpu {w['cpu_s']:7.2f} s")
    if out.get("warm_cache"):
        print(f"cache: cold run {out['cold_cache']['misses']} programs written; warm run "
              f"{out['warm_cache']['hits']} loaded, {out['warm_cache']['misses']} compiled")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

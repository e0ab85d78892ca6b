"""Run every chapter of the tutorial and write the figures its blocks draw.

    python docs/tutorial/make_figures.py                 # figures into docs/tutorial/
    python docs/tutorial/make_figures.py --out /tmp/fig  # somewhere else
    python docs/tutorial/make_figures.py 03-hessians.md  # one chapter

Each chapter (``NN-*.md`` beside this file) runs as a reader would run it: its ```python
blocks in file order, in one fresh interpreter, with the figure folder as the working
directory (a block saves its figure under a plain file name). ``--outputs FILE`` also writes
what each block printed, as JSON, for tests/test_tutorial.py to compare with the text.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import re
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from experiments.xla_flags import set_cli_flags  # noqa: E402  (standard library only; no JAX)

BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)

RUNNER = """
import contextlib, io, json, sys, time, traceback
import matplotlib
matplotlib.use("Agg")
import jax
jax.config.update("jax_enable_x64", True)
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__tutorial__"}
printed = []
for name, code in blocks:
    out, start, cpu = io.StringIO(), time.perf_counter(), time.process_time()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, name, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"FAILED: {name}", file=sys.stderr)
        sys.exit(1)
    printed.append((out.getvalue(), time.perf_counter() - start, time.process_time() - cpu))
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
sys.stdout.write(json.dumps(printed))
"""


def chapters() -> list[pathlib.Path]:
    """The chapters, in reading order."""
    return sorted(HERE.glob("[0-9][0-9]-*.md"))


def blocks(path: pathlib.Path) -> list[tuple[str, str]]:
    """(name, code) of the chapter's ```python blocks in file order; name is file:line."""
    text = path.read_text()
    return [(f"{path.name}:{text.count(chr(10), 0, m.start(1)) + 1}", m.group(1)) for m in BLOCK.finditer(text)]


def run_chapter(path: pathlib.Path, out: pathlib.Path) -> list[dict]:
    """Run one chapter in a fresh interpreter; what each block printed."""
    todo = blocks(path)
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    set_cli_flags(env)         # the CLI's faster-compiling XLA options, where jaxlib has them
    run = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(todo), capture_output=True,
                         text=True, cwd=out, env=env, timeout=300)
    if run.returncode != 0:
        raise RuntimeError(f"{path.name} failed:\n{run.stderr[-4000:]}")
    printed = json.loads(run.stdout)
    return [{"block": name, "stdout": text, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}
            for (name, _), (text, seconds, cpu) in zip(todo, printed)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=HERE,
                        help="folder for the figures (default: docs/tutorial)")
    parser.add_argument("--outputs", type=pathlib.Path, help="write what every block printed to this JSON file")
    parser.add_argument("chapters", nargs="*", help="only these chapters (file names, e.g. 03-hessians.md)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="chapters run at once, each in its own interpreter (default: 2, or 1 on one core)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    before = {p: p.stat().st_mtime_ns for p in out.glob("*.png")}
    start = time.perf_counter()

    def timed(path):
        t = time.perf_counter()
        return run_chapter(path, out), time.perf_counter() - t

    todo = [p for p in chapters() if not args.chapters or p.name in args.chapters]
    unknown = set(args.chapters) - {p.name for p in todo}
    if unknown:
        parser.error(f"no such chapter: {', '.join(sorted(unknown))}")
    record = {}
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for path, (blocks_run, seconds) in zip(todo, pool.map(timed, todo)):
            record[path.name] = blocks_run
            print(f"{path.name}: {len(blocks_run)} blocks, {seconds:.1f} s", flush=True)
    written = sorted(p.name for p in out.glob("*.png") if before.get(p) != p.stat().st_mtime_ns)
    print(f"{len(written)} figures in {out} ({time.perf_counter() - start:.0f} s): {', '.join(written)}")
    if args.outputs:
        args.outputs.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

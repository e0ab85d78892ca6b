"""Every ```python block of the README and docs/*.md runs, as a reader would paste it: the
blocks of one file in order, in one fresh interpreter (a block may use names an earlier
block of its file defined; registering a method in one file cannot leak into the tests).

A block is left out only when the line before it says why: ``<!-- fragment: ... -->`` (a
call's signature, not a program) or ``<!-- requires: MODULE -->`` (run when MODULE
imports, e.g. sif2jax from the ``cutest`` extra)."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# docs/*.md only, not docs/tutorial/: tests/test_tutorial.py runs the tutorial's chapters (and
# checks what they print), so they are not run twice.
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:^<!-- (fragment|requires): ?([^>]*?) ?-->\n)?^```python\n(.*?)^```", re.M | re.S)

RUNNER = """
import json, sys, traceback
import jax
jax.config.update("jax_enable_x64", True)
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__docs__"}
for name, code in blocks:
    try:
        exec(compile(code, name, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"FAILED: {name}", file=sys.stderr)
        sys.exit(1)
"""


def blocks(path: pathlib.Path) -> list[tuple[str, str]]:
    """(name, code) of the blocks of ``path`` that run here, in file order."""
    text = path.read_text()
    out = []
    for m in BLOCK.finditer(text):
        kind, what, code = m.groups()
        if kind == "fragment":
            continue
        if kind == "requires" and importlib.util.find_spec(what) is None:
            continue
        line = text.count("\n", 0, m.start(3)) + 1
        out.append((f"{path.relative_to(ROOT)}:{line}", code))
    return out


DOCS = [p for p in FILES if "```python" in p.read_text()]


def test_the_block_pattern_sees_every_block():
    for path in DOCS:
        text = path.read_text()
        assert len(BLOCK.findall(text)) == text.count("```python\n"), path


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_python_blocks_run(path):
    todo = blocks(path)
    if not todo:
        pytest.skip(f"{path.name}: every block needs a module not installed here")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(todo), capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]

"""benchmarks/gpu.sh runs on a CPU with --cpu (small sizes, few iterations) and writes its
Markdown tables: the check that the GPU script is not broken where no GPU is at hand."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_script_runs_on_the_cpu(tmp_path):
    out = tmp_path / "cpu.md"
    env = {**os.environ, "CURVAX_CACHE": "0", "PYTHON": sys.executable}
    run = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--cpu", "--iters", "5", "--no-quickstart",
                          "--out", str(out)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=480)
    assert run.returncode == 0, run.stderr[-3000:]
    text = out.read_text()
    for words in ("| extended Rosenbrock | 1e+04 | lbfgs |", "| extended Rosenbrock | 1e+05 | trust-ncg |",
                  "hessian-free", "| hvp / grad |"):
        assert words in text, words

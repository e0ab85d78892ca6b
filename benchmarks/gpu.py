"""The GPU figures in one go: large-n L-BFGS / Newton-CG / trust-ncg, Hessian-free on an
MLP, Hessian-vector product over gradient cost, and the quickstart's wall time, written as
Markdown to paste into docs/benchmarks.md.

    bash benchmarks/gpu.sh --out gpu.md          # on a machine with one CUDA GPU (< 8 min)
    bash benchmarks/gpu.sh --cpu --out cpu.md    # the same script on the CPU, smaller sizes

Sizes: extended Rosenbrock at n = 1e6 and 1e7 (``--cpu``: 1e4 and 1e5), each method run to
``--iters`` iterations at most (gtol 1e-6) and timed after an untimed warm-up call, as time
per iteration; Hessian-free (Gauss-Newton products) on a tanh MLP of about 1e5 parameters
(``--cpu``: 1e4) for 20 iterations; hvp/grad on both problems (median of interleaved
calls); and ``curvax run configs/quickstart.toml`` in a subprocess, cold (``--no-cache``)
and warm (with the cache it fills), as wall seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]  # benchmarks/curvature.py
sys.path.insert(0, os.path.dirname(_HERE))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import optimizers  # noqa: E402

# benchmarks/curvature.py's problems and hvp/grad timing, loaded by path (its name would
# shadow the curvature package as a plain import)
_spec = importlib.util.spec_from_file_location("curvature_benchmark", os.path.join(_HERE, "curvature.py"))
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
hvp_over_grad, mlp_problem, n_params, rosenbrock_problem = (
    _bench.hvp_over_grad, _bench.mlp_problem, _bench.n_params, _bench.rosenbrock_problem)


def _device(cpu: bool):
    if cpu:
        return jax.devices("cpu")[0]
    try:
        return jax.devices("gpu")[0]
    except RuntimeError:
        raise SystemExit("benchmarks/gpu.py: JAX sees no GPU here; pass --cpu to run the CPU sizes") from None


def timed_minimize(fun, x0, method, iters, **options):
    """Compile seconds, best-of-2 run seconds and the result of one ``minimize`` call."""
    solve = jax.jit(lambda x: optimizers.minimize(fun, x, method, gtol=1e-6, max_iter=iters, **options))
    t0 = time.perf_counter()
    compiled = solve.lower(x0).compile()
    compile_s = time.perf_counter() - t0
    res = jax.block_until_ready(compiled(x0))
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        res = jax.block_until_ready(compiled(x0))
        best = min(best, time.perf_counter() - t0)
    return compile_s, best, res


def quickstart_seconds(extra) -> float:
    env = {**os.environ, "CURVAX_CACHE_DIR": extra["cache"]}
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "experiments", "run", os.path.join("configs", "quickstart.toml"),
                        "--out", os.path.join(out, "run"), *extra["flags"]], check=True, env=env,
                       cwd=os.path.dirname(_HERE), stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="run on the CPU with the small sizes")
    ap.add_argument("--out", default=None, help="write the Markdown here too")
    ap.add_argument("--iters", type=int, default=None, help="iterations per run (default 200 GPU, 50 CPU)")
    ap.add_argument("--no-quickstart", action="store_true", help="skip the quickstart timing")
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    device = _device(args.cpu)
    sizes = (10_000, 100_000) if args.cpu else (1_000_000, 10_000_000)
    iters = args.iters or (50 if args.cpu else 200)
    lines = [f"Device: {device.device_kind} ({device.platform}), jax {jax.__version__}, float64.", "",
             "| problem | n | method | iterations | compile s | run s | ms / iteration | f |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    hvp_rows = []
    with jax.default_device(device):
        for n in sizes:
            fun, x0 = rosenbrock_problem(n, jnp.float64)
            for method in ("lbfgs", "newton-cg", "trust-ncg"):
                c, r, res = timed_minimize(fun, x0, method, iters)
                k = max(int(res.nit), 1)
                lines.append(f"| extended Rosenbrock | {n:.0e} | {method} | {int(res.nit)} | {c:.2f} | {r:.3f} | "
                             f"{1e3 * r / k:.2f} | {float(res.fun):.3g} |")
                print(lines[-1], flush=True)
            hvp_rows.append(hvp_over_grad(f"extended Rosenbrock n = {n:.0e}", fun, x0, 5))
        width = 64 if args.cpu else 300  # about 1e5 parameters on the GPU
        sizes_mlp = (32, width, width, 10)
        loss, params = mlp_problem(sizes_mlp, 512 if args.cpu else 4096, jnp.float64)
        model_n = n_params(params)
        c, r, res = timed_minimize(loss, params, "hessian-free", 20)
        lines.append(f"| tanh MLP {sizes_mlp} | {model_n:.1e} | hessian-free | {int(res.nit)} | {c:.2f} | {r:.3f} | "
                     f"{1e3 * r / max(int(res.nit), 1):.2f} | {float(res.fun):.3g} |")
        print(lines[-1], flush=True)
        hvp_rows.append(hvp_over_grad(f"tanh MLP {sizes_mlp}", loss, params, 5))
    lines += ["", "| function | n | grad ms | hvp ms | hvp / grad |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {h['name']} | {h['n']} | {h['grad_ms']:.3f} | {h['hvp_ms']:.3f} | {h['ratio']:.2f} |"
              for h in hvp_rows]
    if not args.no_quickstart:
        with tempfile.TemporaryDirectory() as cache:
            device_flag = ["--device", "cpu" if args.cpu else "gpu"]
            cold = quickstart_seconds({"cache": cache, "flags": device_flag})
            warm = quickstart_seconds({"cache": cache, "flags": device_flag})
        lines += ["", f"curvax run configs/quickstart.toml: {cold:.1f} s with an empty compilation cache, "
                      f"{warm:.1f} s with the cache it filled."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

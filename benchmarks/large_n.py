"""One large model over 1 and over 4 devices: extended Rosenbrock and an MLP loss with
about 1e7 parameters, the parameters sharded over the devices, time per iteration and
memory per device.

    python benchmarks/large_n.py                       # n = 1e7, 1 and 4 CPU devices
    python benchmarks/large_n.py --n 1000000 --iters 3 --devices 1,2,4 --out large_n.md

Each device count runs in its own process (``XLA_FLAGS=--xla_force_host_platform_device_count=D``
on the CPU, set before jax is imported): x0 (the Rosenbrock vector; each MLP weight along
its first axis) is placed with ``NamedSharding(Mesh(devices, ("d",)), P("d"))``, and
``jax.jit(minimize)`` runs ``--iters`` iterations (gtol 1e-300, so every iteration is done),
compiled ahead of time, then called twice; the second call is timed. Per device:
``compiled.memory_analysis()`` (arguments + outputs + temporaries of the partitioned
program, i.e. what one device holds) and the all-gathers of the compiled program with the
largest one's size (a full-size vector gathered would show n; the MLP's matmuls gather
their small activations). Host: the process's peak resident memory.
Forced host devices share the machine's cores, so on the CPU this shows the memory split
and the partitioning, not a speed-up; on a machine with several accelerators (``--platform
gpu``) the same script measures both. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]  # benchmarks/optimizers.py
sys.path.insert(0, os.path.dirname(_HERE))

CASES = (  # (problem, method, options)
    ("rosenbrock", "lbfgs", {}),
    ("rosenbrock", "newton-cg", {"cg_max_iter": 20}),
    ("rosenbrock", "trust-ncg", {"cg_max_iter": 20}),
    ("mlp", "lbfgs", {}),
    ("mlp", "newton-cg", {"cg_max_iter": 10}),
)


def _mlp_sizes(n: int, devices: int) -> tuple:
    """Layer sizes (in, h, h, out) of a tanh MLP with about ``n`` parameters, every weight's
    first axis a multiple of 4 devices' worth of 64 rows."""
    h = max(64, int(((n / 2) ** 0.5) // 64 * 64))
    inputs = max(64, int((n - h * h) / h) // 64 * 64)
    return inputs, h, h, 16


def _problem(name: str, n: int, devices: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    if name == "rosenbrock":
        def f(x):
            odd, even = x[0::2], x[1::2]
            return jnp.sum(100.0 * (even - odd ** 2) ** 2 + (1.0 - odd) ** 2)

        return f, jnp.tile(jnp.asarray([-1.2, 1.0]), n // 2), None
    sizes = _mlp_sizes(n, devices)
    rng = np.random.default_rng(0)
    batch = 32
    x = jnp.asarray(rng.standard_normal((batch, sizes[0])))
    y = jnp.asarray(rng.integers(0, sizes[-1], batch))
    params = [{"w": jnp.asarray(rng.standard_normal((a, b)) / np.sqrt(a)), "b": jnp.zeros(b)}
              for a, b in zip(sizes[:-1], sizes[1:])]

    def loss(ps):
        h = x
        for layer in ps[:-1]:
            h = jnp.tanh(h @ layer["w"] + layer["b"])
        logits = h @ ps[-1]["w"] + ps[-1]["b"]
        return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, y[:, None], 1)[:, 0])

    return loss, params, sizes


def _placed(tree, devices):
    """Every leaf split along its first axis over ``devices`` where it divides, else copied."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = Mesh(np.asarray(devices), ("d",))

    def put(leaf):
        spec = P("d") if leaf.ndim and leaf.shape[0] % len(devices) == 0 else P()
        return jax.device_put(leaf, NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(put, tree)


def _gathers(hlo: str) -> tuple:
    """(count, largest result in numbers) of the compiled program's all-gathers."""
    sizes = []
    for line in hlo.splitlines():
        if "all-gather(" in line:
            m = re.search(r"\[([\d,]*)\]", line.split("all-gather(")[0])
            sizes.append(math.prod(int(d) for d in m.group(1).split(",") if d) if m else 0)
    return len(sizes), max(sizes, default=0)


def child(args) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    import optimizers

    devices = jax.devices(args.platform)[: args.devices]
    if len(devices) < args.devices:
        raise SystemExit(f"asked for {args.devices} {args.platform} devices, JAX sees {len(devices)}")
    for problem, method, options in CASES:
        if args.only and problem not in args.only.split(","):
            continue
        fun, x0, sizes = _problem(problem, args.n, args.devices)
        x0 = _placed(x0, devices)
        n = sum(leaf.size for leaf in jax.tree_util.tree_leaves(x0))
        solve = jax.jit(lambda x, fun=fun, method=method, options=options: optimizers.minimize(
            fun, x, method, gtol=1e-300, max_iter=args.iters, **options))
        t0 = time.perf_counter()
        compiled = solve.lower(x0).compile()
        compile_s = time.perf_counter() - t0
        mem = compiled.memory_analysis()
        per_device = None
        if mem is not None:
            per_device = (mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                          - getattr(mem, "alias_size_in_bytes", 0))
        gathers = _gathers(compiled.as_text())
        jax.block_until_ready(compiled(x0))
        t0 = time.perf_counter()
        res = jax.block_until_ready(compiled(x0))
        run_s = time.perf_counter() - t0
        nit = int(res.nit)
        leaf = jax.tree_util.tree_leaves(res.x)[0]
        row = dict(problem=problem, method=method, n=int(n), sizes=sizes, devices=args.devices,
                   platform=devices[0].platform, compile_s=compile_s, run_s=run_s, nit=nit,
                   s_per_iter=run_s / max(nit, 1), nfev=int(res.nfev), ngev=int(res.ngev), nhvp=int(res.nhvp),
                   f0=float(fun(x0)), f=float(res.fun), per_device_bytes=per_device, all_gathers=gathers,
                   x_sharding=str(leaf.sharding.spec) if hasattr(leaf.sharding, "spec") else str(leaf.sharding),
                   peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        print("ROW " + json.dumps(row), flush=True)
        del compiled, res, x0
    return 0


def _mib(b) -> str:
    return "-" if b is None else f"{b / 2 ** 20:,.0f}"


def table(rows) -> str:
    out = ["| problem | n | method | devices | s / iteration | iterations (f, g, Hv) | compile s | "
           "MiB per device | all-gathers (largest, numbers) | host peak MiB | f0 -> f |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['problem']} | {r['n']:.3g} | {r['method']} | {r['devices']} | {r['s_per_iter']:.3f} | "
                   f"{r['nit']} ({r['nfev']}, {r['ngev']}, {r['nhvp']}) | {r['compile_s']:.1f} | "
                   f"{_mib(r['per_device_bytes'])} | {r['all_gathers'][0]} ({r['all_gathers'][1]:,}) | "
                   f"{_mib(r['peak_rss_bytes'])} | "
                   f"{r['f0']:.4g} -> {r['f']:.4g} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="parameters (default 1e7)")
    ap.add_argument("--iters", type=int, default=5, help="iterations per run (default 5)")
    ap.add_argument("--devices", default="1,4", help="device counts, comma-separated (default 1,4)")
    ap.add_argument("--platform", default="cpu", help="cpu (forced host devices) or gpu")
    ap.add_argument("--only", default="", help="problems to run: rosenbrock, mlp (default both)")
    ap.add_argument("--out", default=None, help="also write the Markdown table here")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        args.devices = args.child
        return child(args)
    rows = []
    for count in [int(c) for c in args.devices.split(",")]:
        env = dict(os.environ)
        if args.platform == "cpu":
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={count}").strip()
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(count), "--n", str(args.n),
               "--iters", str(args.iters), "--platform", args.platform, "--only", args.only]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        got = [json.loads(line[4:]) for line in proc.stdout.splitlines() if line.startswith("ROW ")]
        for r in got:
            print(f"{r['problem']} {r['method']} devices {count}: {r['s_per_iter']:.3f} s/iteration, "
                  f"{_mib(r['per_device_bytes'])} MiB per device, all-gathers {r['all_gathers']}", file=sys.stderr)
        rows += got
    text = table(rows)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

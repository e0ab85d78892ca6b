"""trust-krylov's cost per solve as n grows (the GLTR tridiagonal solve).

    python benchmarks/trust_krylov_scaling.py              # n = 10, 100, 300, 1000, 2592
    python benchmarks/trust_krylov_scaling.py 1000 4000    # chosen sizes

The objective, sum_i (cos x_i - 1/2)^2 + x_i^4 / 10 + x_i x_{i+1} / 100 from linspace(-1, 1, n),
is solved by ``optimizers.minimize(..., "trust-krylov", max_iter=200)`` (default Lanczos buffer
max_iter = n). Per n: compile CPU seconds (``lower(...).compile()``), the seconds of one
compiled call, iterations and Hessian-vector products. The boundary steps of GLTR solve the
subproblem on the tridiagonal T_k; this shows that cost grows with the Lanczos steps taken,
not with the buffer size n (docs/benchmarks.md records both versions).
"""

from __future__ import annotations

import os
import sys
import time

# benchmarks/optimizers.py would shadow the package: drop this folder, add the repo root
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import optimizers  # noqa: E402

jax.config.update("jax_enable_x64", True)


def objective(x):
    return jnp.sum((jnp.cos(x) - 0.5) ** 2 + 0.1 * x**4) + 0.01 * jnp.sum(x[1:] * x[:-1])


def main(sizes):
    print(f"{'n':>6} {'compile cpu s':>14} {'run s':>8} {'nit':>4} {'nhvp':>5}")
    for n in sizes:
        x0 = jnp.linspace(-1.0, 1.0, n)
        cpu = time.process_time()
        solve = jax.jit(lambda x: optimizers.minimize(objective, x, "trust-krylov", max_iter=200))
        compiled = solve.lower(x0).compile()
        cpu = time.process_time() - cpu
        jax.block_until_ready(compiled(x0))  # warm
        wall = time.perf_counter()
        res = jax.block_until_ready(compiled(x0))
        wall = time.perf_counter() - wall
        print(f"{n:>6} {cpu:>14.2f} {wall:>8.3f} {int(res.nit):>4} {int(res.nhvp):>5}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 300, 1000, 2592])

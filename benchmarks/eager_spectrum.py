"""First vs later eager ``curvature.eigenvalues`` calls with a new matrix (no compilation after the first).

    PYTHONPATH=. python benchmarks/eager_spectrum.py                  # n = 300, top-20, float64
    PYTHONPATH=. python benchmarks/eager_spectrum.py --n 500 --k 10 --repeats 20 --json out.json

A symmetric n x n matrix A = Q diag(lambda) Q^T (Q Haar-random; lambda_i = 100 / i, a
decaying spectrum like a Hessian's), wrapped by ``curvature.linear_operator(A)`` (A is the
operator's leaf; the matvec is A @ v), and its top-k eigenvalues by an eager
``curvature.eigenvalues(op, k)`` with default settings. First call: the compile of the
Lanczos program plus one run. Later call: a NEW matrix of the same shape each time (new Q
and a slightly perturbed spectrum), best of ``--repeats``; it must not compile (the
program's XLA compilations are counted from ``jax.log_compiles`` and printed). Each result
is checked against ``numpy.linalg.eigvalsh``.

Matvecs: the Lanczos steps of the best later call (and of the slowest, printed apart),
counted on the host in a separate run by an operator whose matvec makes a
``jax.debug.callback``. Matvec time: one jitted
``op.matvec(v)`` call, best of 200 (at n = 300 mostly dispatch); "in loop": the same
matvec inside one compiled ``fori_loop`` of 200, per matvec. Ratio: later call /
(matvecs x matvec time); the goal is <= 3. For contrast, the trap the docs warn about: a
fresh ``lambda v: A @ v`` operator per call, which compiles every time (timed once).
Wall time of the call including ``block_until_ready`` of the result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

# This folder holds a curvature.py: drop it from the path, add the repo root.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import curvature  # noqa: E402
from benchmarks.eager_calls import CompileCounter, timed  # noqa: E402


def matrix(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q = q * np.sign(np.diag(r))
    eigs = 100.0 / np.arange(1, n + 1) * (1 + 0.01 * rng.uniform(-1, 1, n))
    a = (q * eigs) @ q.T
    return (a + a.T) / 2


STEPS: list = []


def counted_matvec(a, v):
    """A @ v that tells the host it ran (one Lanczos step)."""
    jax.debug.callback(lambda: STEPS.append(1))
    return a @ v


def lanczos_steps(a, k):
    """Matvecs eigenvalues(linear_operator(a), k) takes, counted on the host."""
    STEPS.clear()
    op = curvature.LinearOperator(counted_matvec, jnp.asarray(a), a.shape, a.dtype)
    jax.block_until_ready(curvature.eigenvalues(op, k))
    jax.effects_barrier()
    return len(STEPS)


def matvec_times(a, calls=200):
    """(best single jitted matvec call, per-matvec time inside one compiled loop) in s."""
    op = curvature.linear_operator(jnp.asarray(a))
    v = jnp.ones(a.shape[0]) / np.sqrt(a.shape[0])
    one = jax.jit(lambda op, v: op.matvec(v))
    loop = jax.jit(lambda op, v: jax.lax.fori_loop(0, calls, lambda i, u: op.matvec(u) / 100.0, v))
    jax.block_until_ready((one(op, v), loop(op, v)))
    best = min(timed(lambda: one(op, v))[0] for _ in range(calls))
    in_loop = min(timed(lambda: loop(op, v))[0] for _ in range(5)) / calls
    return best, in_loop


def bench(n, k, repeats, rng, counter):
    def check(a, values):
        assert np.allclose(values, np.linalg.eigvalsh(a)[-k:], rtol=0, atol=1e-8 * np.linalg.norm(a, 2))

    a = matrix(rng, n)
    counter.count = 0
    first, values = timed(lambda: curvature.eigenvalues(curvature.linear_operator(a), k))
    first_a, first_values = a, values
    first_compiles = counter.count
    later, results = [], []
    mats = [matrix(rng, n) for _ in range(repeats)]
    for a in mats:  # checked after all timings: numpy's eigvalsh leaves BLAS threads spinning
        t, values = timed(lambda: curvature.eigenvalues(curvature.linear_operator(a), k))
        later.append((t, a))
        results.append(values)
    later_compiles = counter.count - first_compiles
    later_s, a_best = min(later, key=lambda pair: pair[0])
    slowest_s, a_slow = max(later, key=lambda pair: pair[0])
    steps = lanczos_steps(a_best, k)
    matvec_s, in_loop_s = matvec_times(a_best)
    aj = jnp.asarray(a_best)
    fresh, _ = timed(lambda: curvature.eigenvalues(curvature.linear_operator(lambda v: aj @ v, shape=n), k))
    for a, values in zip([first_a, *mats], [first_values, *results]):  # after every timing
        check(a, values)
    return {"n": n, "k": k, "first_s": first, "later_s": later_s, "first_compiles": first_compiles,
            "later_compiles": later_compiles, "matvecs": steps, "matvec_s": matvec_s,
            "matvec_in_loop_s": in_loop_s, "ratio": later_s / (steps * matvec_s),
            "ratio_in_loop": later_s / (steps * in_loop_s), "fresh_lambda_s": fresh,
            "slowest_later_s": slowest_s, "slowest_matvecs": lanczos_steps(a_slow, k)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="operator size")
    ap.add_argument("--k", type=int, default=20, help="top eigenvalues wanted")
    ap.add_argument("--repeats", type=int, default=10, help="later calls, each with a new matrix (best is kept)")
    ap.add_argument("--json", default=None, help="write the figures to this file")
    opts = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    counter = CompileCounter("_eigenvalues").attach()
    with jax.log_compiles():
        r = bench(opts.n, opts.k, opts.repeats, rng, counter)
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {platform.processor() or platform.machine()}; "
          f"eigenvalues(linear_operator(A), {r['k']}), A {r['n']} x {r['n']} float64, "
          f"later = best of {opts.repeats} calls with a new A")
    print(f"{'first call':>11} {'later call':>11} {'compiles first/later':>21} {'matvecs':>8} "
          f"{'matvec':>9} {'in loop':>9} {'ratio':>6} {'(in loop)':>9} {'fresh lambda':>13}")
    print(f"{r['first_s']:>10.3f}s {1e3 * r['later_s']:>9.2f}ms {r['first_compiles']:>12}/{r['later_compiles']:<8} "
          f"{r['matvecs']:>8} {1e6 * r['matvec_s']:>7.1f}us {1e6 * r['matvec_in_loop_s']:>7.1f}us "
          f"{r['ratio']:>6.2f} {r['ratio_in_loop']:>9.1f} {r['fresh_lambda_s']:>12.3f}s")
    print(f"ratio = later / (matvecs x matvec): {r['ratio']:.2f} (goal <= 3); slowest later call "
          f"{1e3 * r['slowest_later_s']:.2f}ms ({r['slowest_matvecs']} matvecs)")
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump({"repeats": opts.repeats, **r}, fh, indent=1)


if __name__ == "__main__":
    main()

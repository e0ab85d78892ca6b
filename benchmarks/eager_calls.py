"""First vs later eager ``minimize`` calls with new data in ``args`` (no compilation after the first).

    python benchmarks/eager_calls.py                 # ridge regression, 2000 x 50, three methods
    python benchmarks/eager_calls.py --repeats 10 --json out.json

Ridge regression f(w; X, y, lam) = ||Xw - y||^2 / 2 + lam ||w||^2 / 2, solved eagerly by
``minimize(ridge, w0, method, args=(X, y, lam))``. First call: the compile of the whole loop
plus one run. Later call: a NEW data set of the same shapes (X, y, lam all new) each time,
best of ``--repeats``; it must not compile (the XLA compilations of the loop are counted
from ``jax.log_compiles`` and printed). For contrast, the trap the docs warn about: a fresh
``lambda w: ridge(w, X, y, lam)`` per call, which compiles every time (timed once).
Wall time of the call including ``block_until_ready`` of the result.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import optimizers  # noqa: E402

METHODS = ("newton-cg", "lbfgs", "trust-ncg")


def ridge(w, X, y, lam):
    r = X @ w - y
    return 0.5 * jnp.sum(r * r) + 0.5 * lam * jnp.sum(w * w)


class CompileCounter(logging.Handler):
    """Counts the XLA compilations of one jitted program (default: minimize's loop,
    ``_solve``) while ``jax.log_compiles`` is on."""

    def __init__(self, program: str = "_solve"):
        super().__init__()
        self.prefix = f"Compiling jit({program})"
        self.count = 0

    def emit(self, record):
        if record.getMessage().startswith(self.prefix):
            self.count += 1

    def attach(self) -> "CompileCounter":
        """Make this the jax logger's only handler: count the compile log, do not print it."""
        logger = logging.getLogger("jax")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(self)
        logger.propagate = False
        return self


def data(rng, m, d):
    X = rng.normal(size=(m, d))
    return jnp.asarray(X), jnp.asarray(X @ rng.normal(size=d) + 0.1 * rng.normal(size=m)), float(rng.uniform(0.1, 1))


def timed(call):
    t = time.perf_counter()
    res = jax.block_until_ready(call())
    return time.perf_counter() - t, res


def bench(method, m, d, repeats, rng, counter):
    w0 = jnp.zeros(d)
    counter.count = 0
    first, res = timed(lambda: optimizers.minimize(ridge, w0, method, args=data(rng, m, d)))
    first_compiles = counter.count
    later = []
    for _ in range(repeats):
        args = data(rng, m, d)
        t, res = timed(lambda: optimizers.minimize(ridge, w0, method, args=args))
        later.append(t)
        X, y, lam = (np.asarray(a) for a in args)
        want = np.linalg.solve(X.T @ X + lam * np.eye(d), X.T @ y)
        assert bool(res.success) and np.allclose(res.x, want, rtol=1e-6, atol=1e-8), method
    later_compiles = counter.count - first_compiles
    X, y, lam = data(rng, m, d)
    fresh, _ = timed(lambda: optimizers.minimize(lambda w: ridge(w, X, y, lam), w0, method))
    return {"method": method, "first_s": first, "later_s": min(later), "fresh_lambda_s": fresh,
            "first_compiles": first_compiles, "later_compiles": later_compiles, "nit": int(res.nit)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, default=2000, help="samples")
    ap.add_argument("--d", type=int, default=50, help="features")
    ap.add_argument("--repeats", type=int, default=5, help="later calls, each with new data (best is kept)")
    ap.add_argument("--json", default=None, help="write the figures to this file")
    opts = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    counter = CompileCounter().attach()
    rows = []
    with jax.log_compiles():
        for method in METHODS:
            rows.append(bench(method, opts.m, opts.d, opts.repeats, rng, counter))
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {platform.processor() or platform.machine()}; "
          f"ridge {opts.m} x {opts.d}, later = best of {opts.repeats} calls with new data")
    print(f"{'method':<10} {'first call':>11} {'later call':>11} {'ratio':>7} {'fresh lambda':>13} "
          f"{'compiles first/later':>21} {'nit':>4}")
    for r in rows:
        print(f"{r['method']:<10} {r['first_s']:>10.3f}s {1e3 * r['later_s']:>9.2f}ms "
              f"{r['first_s'] / r['later_s']:>6.0f}x {r['fresh_lambda_s']:>12.3f}s "
              f"{r['first_compiles']:>12}/{r['later_compiles']:<8} {r['nit']:>4}")
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump({"m": opts.m, "d": opts.d, "repeats": opts.repeats, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()

"""Cost of curvature products and of extreme Hessian eigenvalues, in gradient units.

    python benchmarks/curvature.py                  # full run: ~1e5 and ~1e6 parameters
    python benchmarks/curvature.py --quick          # small sizes, a smoke run
    python benchmarks/curvature.py --x64            # float64 instead of float32

Part 1: time(hvp) / time(grad) for an MLP loss on synthetic data and the extended
Rosenbrock function, each at ~1e5 and ~1e6 parameters. ``curvature.hvp`` is
forward-over-reverse (jvp of grad); the goal is <= 3. Rosenbrock is timed twice: with
strided slices (as usually written) and with contiguous pairs (reshape), the same function.

Part 2: the top-20 Hessian eigenvalues of the ~1e5-parameter MLP loss with
``curvature.eigenvalues`` (Lanczos with full reorthogonalization, stopping when the 20
Ritz residuals are below tol ||T||), against the time of the Hessian-vector products it
used: time(eigenvalues) / (matvecs x time(one matvec)); the goal is <= 1.5. The matvec
count comes from a separate, untimed run whose operator counts its calls on the host.
For comparison, ARPACK (``scipy.sparse.linalg.eigsh``, implicitly restarted Lanczos)
on the same jitted matvec, with its matvec count.

Part 3: accuracy and matvec count of ``curvature.eigenvalues`` with default settings on
synthetic spectra (n = 1000, float64) against ``numpy.linalg.eigh``.

Timing: every function is jitted and run once to compile; then the functions compared
in a row are timed in turn for ``--repeats`` rounds (so load changes hit both alike), each
call ended by ``block_until_ready`` and timed by ``time.perf_counter``, and the median per
function is kept. Fast calls are repeated within a round until the batch lasts >= 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# This file is named like the package: drop its folder from the path, add the repo root.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import curvature  # noqa: E402


def median_times(calls, repeats: int = 5, min_batch_s: float = 0.2) -> list:
    """Seconds per call for each ``(fn, args)`` in ``calls``: each is compiled and warmed
    up, then the calls are timed in turn, ``repeats`` rounds (so a change in machine load
    hits all of them alike), and the median per call is returned. A fast call is repeated
    within a round until the batch lasts ``min_batch_s``."""
    per_batch = []
    for fn, args in calls:
        jax.block_until_ready(fn(*args))
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        per_batch.append(max(1, int(min_batch_s / max(time.perf_counter() - t0, 1e-6))))
    times = [[] for _ in calls]
    for _ in range(repeats):
        for i, (fn, args) in enumerate(calls):
            t0 = time.perf_counter()
            for _ in range(per_batch[i]):
                out = fn(*args)
            jax.block_until_ready(out)
            times[i].append((time.perf_counter() - t0) / per_batch[i])
    return [statistics.median(t) for t in times]


def mlp_problem(sizes, batch: int, dtype, seed: int = 0):
    """Softmax cross-entropy of a tanh MLP ``sizes`` on Gaussian inputs, random labels."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((batch, sizes[0])), dtype)
    y = jnp.asarray(rng.integers(0, sizes[-1], batch))
    params = [
        (
            jnp.asarray(rng.standard_normal((a, b)) / np.sqrt(a), dtype),
            jnp.asarray(0.1 * rng.standard_normal(b), dtype),
        )
        for a, b in zip(sizes[:-1], sizes[1:])
    ]

    def loss(ps):
        h = x
        for w, b in ps[:-1]:
            h = jnp.tanh(h @ w + b)
        w, b = ps[-1]
        logits = h @ w + b
        return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, y[:, None], 1)[:, 0])

    return loss, params


def rosenbrock_problem(n: int, dtype, pairs: bool = False):
    """Extended Rosenbrock (More, Garbow & Hillstrom 1981, problem 21) at its standard
    start (-1.2, 1, -1.2, 1, ...): sum_i 100 (x_{2i} - x_{2i-1}^2)^2 + (1 - x_{2i-1})^2.
    Written with strided slices x[0::2], x[1::2], or (``pairs``) as x.reshape(-1, 2)."""

    def f(x):
        if pairs:
            z = x.reshape(-1, 2)
            odd, even = z[:, 0], z[:, 1]
        else:
            odd, even = x[0::2], x[1::2]
        return jnp.sum(100.0 * (even - odd**2) ** 2 + (1.0 - odd) ** 2)

    return f, jnp.tile(jnp.asarray([-1.2, 1.0], dtype), n // 2)


def n_params(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


def hvp_over_grad(name, f, x, repeats):
    v = jax.tree_util.tree_map(lambda a: jnp.ones_like(a) / np.sqrt(a.size), x)
    grad = jax.jit(jax.grad(f))
    hvp = jax.jit(lambda x, v: curvature.hvp(f, x, v))
    t_grad, t_hvp = median_times([(grad, (x,)), (hvp, (x, v))], repeats)
    return dict(name=name, n=n_params(x), grad_ms=1e3 * t_grad, hvp_ms=1e3 * t_hvp, ratio=t_hvp / t_grad)


def counting(op, calls: list):
    """``op`` with a matvec that appends to ``calls`` on the host each time it runs."""

    def counted(v):
        jax.debug.callback(lambda: calls.append(1))
        return op.matvec(v)

    return curvature.linear_operator(counted, shape=op.shape, dtype=op.dtype)


def count_matvecs(loss, params, k):
    """Matvecs used by eigenvalues(hessian_operator(loss, params), k), counted on the host."""
    calls = []
    run = jax.jit(lambda p: curvature.eigenvalues(counting(curvature.hessian_operator(loss, p), calls), k))
    jax.block_until_ready(run(params))
    return len(calls)


def eigen_cost(loss, params, k, repeats, peer: bool):
    eig = jax.jit(lambda p: curvature.eigenvalues(curvature.hessian_operator(loss, p), k))
    matvec = jax.jit(lambda p, v: curvature.hessian_operator(loss, p).matvec(v))
    n = n_params(params)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    v = jnp.ones(n, dtype) / np.sqrt(n)
    calls = [(eig, (params,)), (matvec, (params, v))]
    if peer:
        arpack_calls = []
        run_arpack = arpack(matvec, params, n, k, dtype, arpack_calls)
        calls.append((run_arpack, ()))
    times = median_times(calls, repeats)
    count = count_matvecs(loss, params, k)
    values = np.asarray(eig(params))
    row = dict(n=n, k=k, eig_s=times[0], matvecs=count, matvec_ms=1e3 * times[1],
               ratio=times[0] / (count * times[1]), top=values[-1], kth=values[0])
    if peer:
        arpack_calls.clear()
        vals = run_arpack()
        row.update(arpack_s=times[2], arpack_matvecs=len(arpack_calls),
                   agree=float(np.max(np.abs(vals - values) / np.abs(vals).max())))
    return row


def arpack(matvec, params, n, k, dtype, calls: list):
    """A call running scipy.sparse.linalg.eigsh (ARPACK, implicitly restarted Lanczos) for
    the k largest eigenvalues on the same jitted matvec; ``calls`` counts its matvecs."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    def mv(v):
        calls.append(1)
        return np.asarray(matvec(params, jnp.asarray(np.ravel(v), dtype)), np.float64)

    op = LinearOperator((n, n), matvec=mv, dtype=np.float64)
    v0 = np.random.default_rng(0).standard_normal(n)
    tol = float(max(1e-10, 10 * np.finfo(dtype).eps))
    return lambda: np.sort(eigsh(op, k=k, which="LA", v0=v0, tol=tol, return_eigenvectors=False))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--x64", action="store_true", help="float64 instead of float32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1024, help="MLP data points")
    parser.add_argument("--k", type=int, default=20, help="eigenvalues in part 2")
    parser.add_argument("--no-peer", action="store_true", help="skip the ARPACK comparison")
    parser.add_argument("--part", choices=("1", "2", "3", "all"), default="all", help="run one part only")
    args = parser.parse_args(argv)
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.float64 if args.x64 else jnp.float32
    batch = 64 if args.quick else args.batch

    # ~1e5: 64-256-256-64-10 (99,530); ~1e6: 784-1024-256-10 (1,068,810)
    mlp_sizes = {"1e5": (64, 256, 256, 64, 10), "1e6": (784, 1024, 256, 10)}
    ros_sizes = {"1e5": 100_000, "1e6": 1_000_000}
    if args.quick:
        mlp_sizes, ros_sizes = {"1e3": (16, 32, 16, 10)}, {"1e3": 1_000}
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}, {dtype.__name__}, "
          f"MLP batch {batch}, median of {args.repeats}")

    if args.part in ("1", "all"):
        part1(mlp_sizes, ros_sizes, batch, dtype, args.repeats)
    if args.part in ("2", "all"):
        part2(mlp_sizes, batch, dtype, args)
    if args.part in ("3", "all"):
        part3(100 if args.quick else 1000)


def part1(mlp_sizes, ros_sizes, batch, dtype, repeats):
    rows = []
    for size, sizes in mlp_sizes.items():
        loss, params = mlp_problem(sizes, batch, dtype)
        rows.append(hvp_over_grad(f"mlp-{size}", loss, params, repeats))
    for pairs in (False, True):
        for size, n in ros_sizes.items():
            f, x0 = rosenbrock_problem(n, dtype, pairs)
            name = f"rosenbrock-{size}" + (" (pairs)" if pairs else "")
            rows.append(hvp_over_grad(name, f, x0, repeats))
    print("\nPart 1: Hessian-vector product vs gradient (goal: hvp/grad <= 3)")
    print(f"{'function':24s} {'params':>10s} {'grad ms':>10s} {'hvp ms':>10s} {'hvp/grad':>9s}")
    for r in rows:
        print(f"{r['name']:24s} {r['n']:>10,d} {r['grad_ms']:>10.3f} {r['hvp_ms']:>10.3f} {r['ratio']:>9.2f}")


def part2(mlp_sizes, batch, dtype, args):
    first = next(iter(mlp_sizes))
    loss, params = mlp_problem(mlp_sizes[first], batch, dtype)
    k = min(args.k, n_params(params))
    e = eigen_cost(loss, params, k, max(3, args.repeats // 2), peer=not args.no_peer)
    print(f"\nPart 2: top-{k} Hessian eigenvalues of mlp-{first} ({e['n']:,d} params; "
          f"goal: time / (matvecs x matvec time) <= 1.5)")
    print(f"{'':12s} {'time s':>8s} {'matvecs':>8s} {'matvec ms':>10s} {'ratio':>6s}")
    print(f"{'curvature':12s} {e['eig_s']:>8.2f} {e['matvecs']:>8d} {e['matvec_ms']:>10.2f} {e['ratio']:>6.2f}")
    if "arpack_s" in e:
        ratio = e["arpack_s"] / (e["arpack_matvecs"] * e["matvec_ms"] / 1e3)
        print(f"{'ARPACK':12s} {e['arpack_s']:>8.2f} {e['arpack_matvecs']:>8d} {e['matvec_ms']:>10.2f} {ratio:>6.2f}"
              f"   (max |difference| to ours: {e['agree']:.1e} x lambda_max)")
    print(f"lambda_max = {e['top']:.6g}, lambda_{k} = {e['kth']:.6g}")


def part3(n: int):
    """Accuracy of eigenvalues() with default settings on synthetic spectra (float64)."""
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q = q * np.sign(np.diag(r))
    spectra = {
        "4 clusters, width 1e-3": np.repeat([1.0, 2.0, 5.0, 10.0], n // 4) + 1e-3 * rng.standard_normal(n),
        "indefinite, |l| in [0.1, 3]": rng.choice([-1.0, 1.0], n) * np.linspace(0.1, 3.0, n),
        "geometric 1e-8..1": np.geomspace(1e-8, 1.0, n),
        "uniform [1, 2]": np.linspace(1.0, 2.0, n),
    }
    cases = [(5, "largest"), (5, "smallest"), (20, "largest")]
    print(f"\nPart 3: eigenvalues() defaults, n = {n}, float64: max relative error vs "
          "numpy.linalg.eigh (matvecs used)")
    print(f"{'spectrum':30s}" + "".join(f"{f'{k} {w}':>24s}" for k, w in cases))
    for name, lam in spectra.items():
        a = (q * lam) @ q.T
        a = (a + a.T) / 2
        true = np.linalg.eigvalsh(a)
        cells = []
        for k, which in cases:
            calls = []
            op = counting(curvature.linear_operator(jnp.asarray(a)), calls)
            got = np.asarray(jax.jit(lambda o: curvature.eigenvalues(o, k, which))(op))
            ref = true[-k:] if which == "largest" else true[:k]
            err = np.max(np.abs(got - ref) / np.abs(ref))
            cells.append(f"{err:.0e} ({len(calls)})")
        print(f"{name:30s}" + "".join(f"{c:>24s}" for c in cells))


if __name__ == "__main__":
    main()

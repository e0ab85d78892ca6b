"""Robustness of the second-order methods: hard starts, and the CUTEst problems against scipy.

    python benchmarks/robustness.py --only mgh --out mgh.md --json mgh.json
    python benchmarks/robustness.py --only cutest --out cutest.md --json cutest.json
    python benchmarks/robustness.py --only mgh --before mgh_before.json --out mgh.md  # before/after

Part ``mgh``: every More-Garbow-Hillstrom problem of the experiments registry
(``experiments.problems.names("mgh")``) from 10 x its standard start, for every
second-order method (dogleg only on the problems tagged ``convex``), ``gtol = 1e-6``
(``||g||_inf``), ``max_iter = 5000``. A run is *solved* when it reports success and its f
is within ``1e-6 * max(1, |f_best|)`` of ``f_best``, the lowest f any method reached on
that problem. Per (problem, method) it also times the compile: process CPU time
(``time.process_time``, all threads) around ``jax.jit(run).lower(x0).compile()``, reported
per method as median, p90 and max.

Part ``cutest``: the unconstrained CUTEst problems of sif2jax with n <= ``--max-n`` (100),
from the SIF start, for lbfgs, bfgs, newton-cg, trust-ncg, trust-krylov, newton and
trust-exact, and scipy's L-BFGS-B, BFGS, Newton-CG, trust-ncg and trust-krylov given the
same jitted f, gradient and Hessian-vector product. Same solved rule (f_best over every
curvax and scipy run); scipy's success is its own flag (L-BFGS-B: pgtol = 1e-6 or its
relative-f test; BFGS, trust-ncg, trust-krylov: gtol = 1e-6; Newton-CG: its xtol test,
1e-9 here). A problem whose f or gradient is not finite at x0 is skipped. ``--sample K``
takes every K-th problem; ``--problems`` a comma-separated subset. ``--time-box S`` runs
each (problem, method) in a worker process and counts a run that takes more than S seconds
(compile included) as unsolved, status TIME_BOX: a few problems (DMN15103LS: ~35 min for
newton's 5000 iterations of 99 products each) otherwise hold the whole part for hours.
scipy's records are named "scipy <method>" (its trust-ncg is not ours).

``--json`` writes every run (problem, method, f, ||g||_inf, status, nit, compile CPU s);
``--before FILE`` adds that file's solved counts and compile times as "before" columns.
Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import queue
import sys
import time
import types

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import experiments.problems as problems  # noqa: E402
import optimizers  # noqa: E402

GTOL = 1e-6
MAX_ITER = 5000
F_RTOL = 1e-6
MGH_METHODS = ["newton", "newton-cg", "trust-ncg", "trust-krylov", "trust-exact", "bfgs", "lbfgs",
               "nonlinear-cg", "dogleg"]
CUTEST_METHODS = ["lbfgs", "bfgs", "newton-cg", "trust-ncg", "trust-krylov", "newton", "trust-exact"]
SCIPY_METHODS = ["L-BFGS-B", "BFGS", "Newton-CG", "trust-ncg", "trust-krylov"]
#: scipy method -> the curvax family it is compared with
FAMILY = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS", "newton-cg": "Newton-CG", "trust-ncg": "trust-ncg",
          "trust-krylov": "trust-krylov", "newton": "Newton-CG", "trust-exact": "trust-krylov"}


def _status_name(code):
    try:
        return optimizers.Status(int(code)).name
    except ValueError:
        return str(code)


def run_curvax(fun, x0, method):
    """Compile (timed, process CPU) and run one minimize; a record dict."""
    run = jax.jit(lambda z: optimizers.minimize(fun, z, method, gtol=GTOL, max_iter=MAX_ITER))
    t0 = time.process_time()
    compiled = run.lower(x0).compile()
    compile_s = time.process_time() - t0
    t1 = time.perf_counter()
    res = jax.device_get(compiled(x0))
    run_s = time.perf_counter() - t1
    return dict(method=method, f=float(res.fun), gnorm=float(res.grad_norm), status=_status_name(res.status),
                success=bool(res.success), nit=int(res.nit), compile_s=compile_s, run_s=run_s)


def run_scipy(fun, x0, method, cache):
    """scipy.optimize.minimize with the same jitted f, g, Hv (compiled once per problem)."""
    import scipy.optimize as so

    if "f" not in cache:
        cache["f"] = jax.jit(fun)
        cache["g"] = jax.jit(jax.grad(fun))
        cache["hvp"] = jax.jit(lambda x, v: jax.jvp(jax.grad(fun), (x,), (v,))[1])
    f, g, hvp = cache["f"], cache["g"], cache["hvp"]
    kw = dict(fun=lambda x: float(f(x)), x0=np.asarray(x0), jac=lambda x: np.asarray(g(x)), method=method)
    if method in ("Newton-CG", "trust-ncg", "trust-krylov"):
        kw["hessp"] = lambda x, v: np.asarray(hvp(x, v))
    opts = {"maxiter": MAX_ITER}
    if method == "Newton-CG":
        opts["xtol"] = 1e-9
    elif method == "L-BFGS-B":
        opts["gtol"] = GTOL
        opts["maxfun"] = 10 * MAX_ITER
    else:
        opts["gtol"] = GTOL
    t1 = time.perf_counter()
    try:
        res = so.minimize(options=opts, **kw)
        fx, x, ok, nit, msg = float(res.fun), res.x, bool(res.success), int(res.nit), str(res.message)
    except Exception as err:  # noqa: BLE001  (a peer that raises counts as not solved)
        fx, x, ok, nit, msg = math.nan, np.asarray(x0), False, 0, f"raised {type(err).__name__}: {err}"
    gn = float(np.max(np.abs(np.asarray(g(jnp.asarray(x)))))) if np.all(np.isfinite(x)) else math.nan
    return dict(method=scipy_label(method), f=fx, gnorm=gn, status=msg[:60], success=ok, nit=nit,
                compile_s=None, run_s=time.perf_counter() - t1)


def scipy_label(method):
    """The record name of a peer method: "scipy trust-ncg" is not curvax's "trust-ncg";
    ``optimistix:BFGS`` is recorded as "optimistix BFGS"."""
    if method.startswith(OPTX):
        return f"optimistix {method[len(OPTX):]}"
    return f"scipy {method}"


#: The --peers prefix of an optimistix solver (``optimistix:BFGS``, ``optimistix:LBFGS``).
OPTX = "optimistix:"


def _peer_name(label):
    """The --peers name of a record's method label (inverse of :func:`scipy_label`), or None."""
    if label.startswith("scipy "):
        return label[len("scipy "):]
    if label.startswith("optimistix "):
        return OPTX + label[len("optimistix "):]
    return None


def run_optimistix(fun, x0, method, cache):
    """optimistix.minimise with its BFGS or LBFGS (history 10; rtol = atol = 1e-8 on its
    Cauchy test of steps and values, max_steps 5000), compiled once per (problem, solver);
    success is its own ``RESULTS.successful``."""
    import optimistix as optx

    name = method[len(OPTX):]
    key = "optx " + name
    if key not in cache:
        extra = {"history_length": 10} if name == "LBFGS" else {}  # the memory of curvax's lbfgs
        solver = getattr(optx, name)(rtol=1e-8, atol=1e-8, **extra)

        def solve(y0, solver=solver):  # the solution's state holds jaxprs: return arrays only
            sol = optx.minimise(lambda y, args: fun(y), solver, y0, max_steps=MAX_ITER, throw=False)
            return sol.value, sol.result == optx.RESULTS.successful, sol.stats["num_steps"]

        cache[key] = jax.jit(solve)
    t1 = time.perf_counter()
    try:
        value, ok, nit = cache[key](x0)
        x, ok, nit = np.asarray(value), bool(ok), int(nit)
        msg = "successful" if ok else "not successful"
        fx = float(fun(jnp.asarray(x)))
    except Exception as err:  # noqa: BLE001  (a peer that raises counts as not solved)
        fx, x, ok, nit, msg = math.nan, np.asarray(x0), False, 0, f"raised {type(err).__name__}: {err}"
    g = jax.grad(fun)
    gn = float(np.max(np.abs(np.asarray(g(jnp.asarray(x)))))) if np.all(np.isfinite(x)) else math.nan
    return dict(method=scipy_label(method), f=fx, gnorm=gn, status=msg[:60], success=ok, nit=nit,
                compile_s=None, run_s=time.perf_counter() - t1)


def mark_solved(records):
    """Add ``solved`` to each record of one problem (module docstring's rule)."""
    fs = [r["f"] for r in records if math.isfinite(r["f"])]
    f_best = min(fs) if fs else math.nan
    for r in records:
        r["f_best"] = f_best
        r["solved"] = bool(r["success"] and math.isfinite(r["f"])
                           and r["f"] <= f_best + F_RTOL * max(1.0, abs(f_best)))
    return records


# ---------------------------------------------------------------------------------- mgh


def mgh_runs(names, methods, log):
    out = []
    for name in names:
        p = problems.get(name)
        x0 = 10.0 * jnp.asarray(p.x0, jnp.float64)
        recs = []
        for method in methods:
            if method == "dogleg" and "convex" not in p.tags:
                continue
            r = run_curvax(p.fun, x0, method)
            r["problem"] = name
            r["n"] = int(x0.size)
            recs.append(r)
            log(f"{name:28s} {method:13s} f={r['f']:.6e} |g|={r['gnorm']:.1e} {r['status']:12s} "
                f"nit={r['nit']:5d} compile={r['compile_s']:.2f}s run={r['run_s']:.2f}s")
        out.extend(mark_solved(recs))
    return out


# ------------------------------------------------------------------------------- cutest


def cutest_problems(max_n):
    """(name, fun, x0) of sif2jax's unconstrained problems with n <= max_n.

    ``import sif2jax`` builds every problem of the package (a minute or more); only the
    unconstrained subpackage is loaded here, under stand-in parent packages.
    """
    spec = importlib.util.find_spec("sif2jax")
    if spec is None:
        raise SystemExit("sif2jax is not installed: no CUTEst part")
    root = spec.submodule_search_locations[0]
    alias = "_robustness_sif2jax"
    for pkg, path in ((alias, root), (f"{alias}.cutest", os.path.join(root, "cutest"))):
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = [path]
            m.__spec__ = importlib.machinery.ModuleSpec(pkg, None, is_package=True)
            m.__spec__.submodule_search_locations = [path]
            sys.modules[pkg] = m
    mod = importlib.import_module(f"{alias}.cutest._unconstrained_minimisation")
    seen, out = set(), []
    for prob in mod.unconstrained_minimisation_problems:
        if prob.name in seen:
            continue
        seen.add(prob.name)
        n = int(math.prod(jax.eval_shape(lambda q=prob: q.y0).shape))
        if n > max_n:
            continue

        def fun(x, q=prob):
            return jnp.asarray(q.objective(x, q.args)).astype(x.dtype).reshape(())

        out.append((prob.name, fun, jnp.asarray(prob.y0, jnp.float64).ravel(), n))
    return out


def run_one(fun, x0, method, peer, cache):
    """One record: scipy's ``method`` when ``peer``, else curvax's (an exception is a record)."""
    if peer:
        return (run_optimistix if method.startswith(OPTX) else run_scipy)(fun, x0, method, cache)
    try:
        return run_curvax(fun, x0, method)
    except Exception as err:  # noqa: BLE001
        return dict(method=method, f=math.nan, gnorm=math.nan, status=f"raised {type(err).__name__}",
                    success=False, nit=0, compile_s=None, run_s=0.0)


def _worker(max_n, tasks, results):
    """The time box's child process: load the problems once, then run (name, method, peer)
    tasks until killed."""
    problems_by_name = {p[0]: p for p in cutest_problems(max_n)}
    results.put("ready")
    last, cache = None, {}
    while True:
        name, method, peer = tasks.get()
        if name != last:
            last, cache = name, {}
        _, fun, x0, _ = problems_by_name[name]
        results.put(run_one(fun, x0, method, peer, cache))


class TimeBox:
    """Runs each (problem, method) in a worker process and replaces the worker when a run
    takes more than ``seconds`` (compile included); the overrun is a record with status
    TIME_BOX, not solved. A compiled while_loop cannot be interrupted in process."""

    def __init__(self, seconds: float, max_n: int):
        self.seconds, self.max_n = seconds, max_n
        self.ctx = multiprocessing.get_context("spawn")
        self.proc = None

    def _start(self):
        self.tasks, self.results = self.ctx.Queue(), self.ctx.Queue()
        self.proc = self.ctx.Process(target=_worker, args=(self.max_n, self.tasks, self.results), daemon=True)
        self.proc.start()
        if self.results.get() != "ready":  # loading the problems is not part of any run
            raise RuntimeError("time-box worker failed to start")

    def run(self, name, method, peer):
        if self.proc is None or not self.proc.is_alive():
            self._start()
        self.tasks.put((name, method, peer))
        try:
            return self.results.get(timeout=self.seconds)
        except queue.Empty:
            self.proc.kill()
            self.proc.join()
            self.proc = None
            return dict(method=scipy_label(method) if peer else method, f=math.nan, gnorm=math.nan,
                        status="TIME_BOX", success=False, nit=0, compile_s=None, run_s=self.seconds)


def cutest_runs(selected, methods, peers, log, box=None, pooled=None):
    """Every (problem, method) record; ``pooled``: problem -> peer records of an earlier run,
    judged with this run's (one solved rule over both)."""
    out, pooled = [], pooled or {}
    for name, fun, x0, n in selected:
        f0, g0 = jax.jit(jax.value_and_grad(fun))(x0)
        if not (np.isfinite(float(f0)) and np.all(np.isfinite(np.asarray(g0)))):
            log(f"{name}: f or g not finite at x0, skipped")
            continue
        recs, cache = [], {}
        for method, peer in [(m, False) for m in methods] + [(m, True) for m in peers]:
            recs.append(box.run(name, method, peer) if box else run_one(fun, x0, method, peer, cache))
        for r in recs:
            r["problem"], r["n"] = name, n
        recs += [dict(r) for r in pooled.get(name, [])]
        mark_solved(recs)
        for r in recs:
            log(f"{name:12s} n={n:3d} {r['method']:18s} f={r['f']:.6e} |g|={r['gnorm']:.1e} "
                f"{str(r['status'])[:24]:24s} nit={r['nit']:5d} solved={int(r['solved'])}")
        out.extend(recs)
    return out


# ------------------------------------------------------------------------------ reports


def _pct(values, q):
    return float(np.percentile(values, q)) if values else math.nan


def solved_table(records, methods, before=None, total_label="problems"):
    lines = ["| method | solved | of | " + ("solved before | " if before else "") + "unsolved |",
             "| --- | --- | --- | " + ("--- | " if before else "") + "--- |"]
    for m in methods:
        rs = [r for r in records if r["method"] == m]
        if not rs:
            continue
        miss = sorted(r["problem"] for r in rs if not r["solved"])
        row = f"| {m} | {sum(r['solved'] for r in rs)} | {len(rs)} | "
        if before:
            bs = [r for r in before if r["method"] == m]
            row += f"{sum(r['solved'] for r in bs)} | " if bs else "- | "
        lines.append(row + (", ".join(miss) or "-") + " |")
    return "\n".join(lines)


def compile_table(records, methods, before=None):
    head = "| method | median s | p90 s | max s |"
    sep = "| --- | --- | --- | --- |"
    if before:
        head += " before: median s | p90 s | max s |"
        sep += " --- | --- | --- |"
    lines = [head, sep]
    for m in methods:
        cs = [r["compile_s"] for r in records if r["method"] == m and r["compile_s"] is not None]
        if not cs:
            continue
        row = f"| {m} | {np.median(cs):.2f} | {_pct(cs, 90):.2f} | {max(cs):.2f} |"
        if before:
            bs = [r["compile_s"] for r in before if r["method"] == m and r["compile_s"] is not None]
            row += (f" {np.median(bs):.2f} | {_pct(bs, 90):.2f} | {max(bs):.2f} |" if bs else " - | - | - |")
        lines.append(row)
    return "\n".join(lines)


def runs_table(records):
    lines = ["| problem | n | method | f | best f | ‖g‖∞ | status | nit | solved |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in records:
        lines.append(f"| {r['problem']} | {r['n']} | {r['method']} | {r['f']:.6e} | {r['f_best']:.6e} | "
                     f"{r['gnorm']:.1e} | {str(r['status'])[:40]} | {r['nit']} | {'yes' if r['solved'] else 'no'} |")
    return "\n".join(lines)


def family_table(records):
    lines = ["| curvax method | solved | peer (scipy) | peer solved | ratio |", "| --- | --- | --- | --- | --- |"]
    for m, peer in FAMILY.items():
        ours = sum(r["solved"] for r in records if r["method"] == m)
        theirs = sum(r["solved"] for r in records if r["method"] == scipy_label(peer))
        if not any(r["method"] == m for r in records) or not any(r["method"] == scipy_label(peer) for r in records):
            continue
        ratio = ours / theirs if theirs else math.inf
        lines.append(f"| {m} | {ours} | {peer} | {theirs} | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["mgh", "cutest"], default="mgh")
    ap.add_argument("--out", help="markdown report file (default: stdout only)")
    ap.add_argument("--json", help="write every run's record here")
    ap.add_argument("--before", help="a --json file of an earlier run, for before/after columns")
    ap.add_argument("--methods", help="comma-separated subset of the methods ('' for none: peers only)")
    ap.add_argument("--problems", help="comma-separated subset of the problems")
    ap.add_argument("--max-n", type=int, default=100, help="cutest: largest n (default 100)")
    ap.add_argument("--sample", type=int, default=1, help="cutest: every K-th problem (default 1: all)")
    ap.add_argument("--peers", help="cutest: scipy methods (default: all five; '' for none); "
                                    "optimistix:BFGS and optimistix:LBFGS add optimistix's")
    ap.add_argument("--peers-from", metavar="JSON",
                    help="cutest: take the scipy peers' records from this earlier --json run instead of running "
                         "them (scipy's runs do not depend on curvax; run them once with --methods '')")
    ap.add_argument("--time-box", type=float, default=0.0,
                    help="cutest: seconds per (problem, method), compile included, each run in a worker "
                         "process replaced on overrun (default 0: no box, runs in this process)")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    subset = None if not args.problems else set(args.problems.split(","))
    t_start = time.perf_counter()
    if args.only == "mgh":
        methods = MGH_METHODS if args.methods is None else [m for m in args.methods.split(",") if m]
        names = [n for n in problems.names("mgh") if subset is None or n in subset]
        records = mgh_runs(names, methods, log)
        peers = []
    else:
        methods = CUTEST_METHODS if args.methods is None else [m for m in args.methods.split(",") if m]
        peers = [p for p in (",".join(SCIPY_METHODS) if args.peers is None else args.peers).split(",") if p]
        pooled = {}
        if args.peers_from:
            with open(args.peers_from) as fh:
                for r in json.load(fh)["records"]:
                    if _peer_name(r["method"]) is not None:
                        pooled.setdefault(r["problem"], []).append(r)
            if args.peers is not None:
                raise SystemExit("--peers and --peers-from exclude each other: the peers are those of the file")
            peers = sorted({_peer_name(r["method"]) for rs in pooled.values() for r in rs},
                           key=lambda m: SCIPY_METHODS.index(m) if m in SCIPY_METHODS else len(SCIPY_METHODS))
        probs = cutest_problems(args.max_n)
        probs = [p for p in probs if subset is None or p[0] in subset][:: args.sample]
        log(f"{len(probs)} CUTEst problems with n <= {args.max_n}")
        missing = [p[0] for p in probs if args.peers_from and p[0] not in pooled]
        if missing:
            log(f"warning: {args.peers_from} has no peer records for {len(missing)} of these problems "
                f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): they are judged without peers")
        box = TimeBox(args.time_box, args.max_n) if args.time_box > 0 else None
        records = cutest_runs(probs, methods, [] if args.peers_from else peers, log, box, pooled)
    wall = time.perf_counter() - t_start
    before = None
    if args.before:
        with open(args.before) as fh:
            before = json.load(fh)["records"]
    head = (f"python {' '.join(sys.argv)}  \n{platform.processor() or platform.machine()}, jax {jax.__version__}, "
            f"{time.strftime('%Y-%m-%d %H:%M')}, wall {wall:.0f} s")
    parts = [head, "", "Solved:", "", solved_table(records, methods + [scipy_label(p) for p in peers], before)]
    if args.only == "cutest" and peers:
        parts += ["", "Against the best scipy peer of the family:", "", family_table(records)]
    parts += ["", "Compile CPU time per (problem, method):", "", compile_table(records, methods, before),
              "", "Every run:", "", runs_table(records)]
    report = "\n".join(parts) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(report)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"argv": sys.argv, "records": records}, fh, indent=1)


if __name__ == "__main__":
    main()

"""Second-order methods on a ~1e5-parameter MLP: cost of a Gauss-Newton product, and time
to a target training loss for adam, lbfgs, hessian-free and saddle-free-newton.

    python benchmarks/second_order_nets.py                 # full run, ~1e5 parameters
    python benchmarks/second_order_nets.py --quick         # small sizes, a smoke run
    python benchmarks/second_order_nets.py --out DIR       # also write results.json + PNG
    python benchmarks/second_order_nets.py --from-json DIR/results.json   # tables again
    python benchmarks/second_order_nets.py --costs-only --repeats 9       # part 1 only

Part 1 (per-iteration cost of hessian-free). Times, each the median of ``--repeats`` runs
of a compiled loop of ``--products`` evaluations: the gradient (at a moving point); the
Gauss-Newton product J^T H_L J v as hessian-free computes it (``curvature.ggn_operator``
at a fixed point, which re-linearizes the model in every product: XLA can hoist that
loop-invariant work); the same with ``jax.linearize`` done once outside the loop; and the
Hessian-vector product (``curvature.hessian_operator``, as saddle-free-newton uses it). The
cost of a hessian-free iteration in gradient units is then
(CG products per iteration) x cost(gnvp) / cost(grad) + (other f and gradient
evaluations per iteration), with the CG counts taken from the part-2 run.

Part 2 (time to target). Full-batch training with ``optimizers.minimize``; the wall clock
of each iteration comes from host timestamps taken by ``callback=`` (iteration 0 is
stamped after compilation and the first evaluation, so compile time is excluded; each
callback costs tens of microseconds against iterations of several milliseconds here).
The targets are ``--targets`` x the initial loss; the plot marks the first one. Adam's
learning rate is the best of ``--adam-rates`` after ``--adam-probe`` iterations (one
vmapped run, not timed); lbfgs, hessian-free and saddle-free-newton run with defaults
(hessian-free: Gauss-Newton curvature from the model/loss split, initial damping 1e-2).

Problem: the registry's ``mlp_regression`` (``experiments/problems/ml.py``): a tanh MLP
2 -> width -> width -> 1 fitted to v = sin(2 u1) cos(u2) at seeded uniform points u, with
``noise=0`` so the loss can go far below its start; width 320 gives 104,001 parameters.
float32, as networks are trained.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import curvature  # noqa: E402
import optimizers  # noqa: E402
from experiments import problems  # noqa: E402


def make_problem(points: int, width: int, seed: int = 0):
    """The registry's ``mlp_regression``: 2 -> width -> width -> 1 (tanh), noise-free targets."""
    return problems.get("mlp_regression", n_samples=points, hidden=(width, width), noise=0.0,
                        seed=seed)


def _median_time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile + warm up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def product_costs(model, loss, z0, products: int, repeats: int) -> dict:
    """Seconds per evaluation: gradient, Gauss-Newton product as hessian-free computes it
    (``curvature.ggn_operator``), the same with ``jax.linearize`` done once, and the
    Hessian-vector product (``curvature.hessian_operator``, as saddle-free-newton uses it)."""
    flat_model = model
    f = lambda z: loss(flat_model(z))  # noqa: E731
    v0 = jax.random.normal(jax.random.PRNGKey(1), z0.shape, z0.dtype) * 1e-3

    def loop(make_step):
        """products evaluations in a fori_loop; make_step(z) -> u -> vector."""

        @jax.jit
        def run(z, v):
            step = make_step(z)
            return jax.lax.fori_loop(0, products, lambda i, u: u + 1e-6 * step(u), v)

        return run

    def linearized_once(z):
        out, jvp = jax.linearize(flat_model, z)
        vjp = jax.linear_transpose(jvp, z)
        hl = jax.linearize(jax.grad(loss), out)[1]
        return lambda u: vjp(hl(jvp(u)))[0]

    variants = {
        # the gradient at a moving point, as an optimizer needs it (nothing to hoist)
        "grad": lambda z: (lambda u: jax.grad(f)(z + u)),
        "gnvp": lambda z: curvature.ggn_operator(flat_model, loss, z).matvec,
        "gnvp_linearized_once": linearized_once,
        "hvp": lambda z: curvature.hessian_operator(f, z).matvec,
    }
    return {k: _median_time(loop(make), z0, v0, repeats=repeats) / products
            for k, make in variants.items()}


def timed_run(fun, params, method: str, max_iter: int, **options) -> dict:
    """One minimize run; per-iteration wall clock from callback timestamps."""
    stamps: list[tuple[int, float]] = []

    def stamp(k, f, g):
        stamps.append((int(k), time.perf_counter()))

    res = optimizers.minimize(fun, params, method, max_iter=max_iter, gtol=1e-12,
                              callback=stamp, **options)
    jax.block_until_ready(res.x)
    nit = int(res.nit)
    stamps.sort()
    t0 = stamps[0][1]
    wall = np.full(max_iter + 1, np.nan)
    for k, t in stamps:
        wall[k] = t - t0
    tr = res.trace
    return {
        "method": method, "options": {k: v for k, v in options.items() if not callable(v)},
        "nit": nit, "status": int(res.status), "final_loss": float(res.fun),
        "nfev": int(res.nfev), "ngev": int(res.ngev), "nhvp": int(res.nhvp),
        "loss": np.asarray(tr.f[: nit + 1], float).tolist(),
        "wall": wall[: nit + 1].tolist(),
        "grad_equiv": (np.asarray(tr.ngev[: nit + 1]) + np.asarray(tr.nfev[: nit + 1])
                       + 2 * np.asarray(tr.nhvp[: nit + 1])).tolist(),
    }


def time_to(run: dict, target: float):
    """(seconds, iterations, gradient-equivalents) at the first loss <= target, or None."""
    loss = np.asarray(run["loss"])
    hit = np.flatnonzero(loss <= target)
    if hit.size == 0:
        return None
    k = int(hit[0])
    return run["wall"][k], k, run["grad_equiv"][k]


def plot(runs, target, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.plots.colors import label_colors

    color = label_colors((_name(run), run["method"]) for run in runs)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for run in runs:
        label = _name(run)
        axes[0].semilogy(run["wall"], run["loss"], label=label, color=color[label])
        axes[1].semilogy(run["grad_equiv"], run["loss"], label=label, color=color[label])
    for ax, xlabel in zip(axes, ("wall time [s] (compile excluded)",
                                 "gradient evaluations + f evaluations + 2 x products")):
        ax.axhline(target, color="k", lw=0.8, ls="--", label="target")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
    # one legend for both panels, in a strip below them: inside a panel it covered the
    # Adam curves (the same colours as the experiments' figures, experiments/plots/colors.py)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False)
    fig.suptitle("MLP training loss, full batch")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _name(run) -> str:
    lr = run["options"].get("learning_rate")
    return run["method"] + (f" (lr {float(lr):g})" if lr is not None else "")


def report(costs, runs, f0, targets):
    """Print the cost table and the time-to-target tables (markdown)."""
    print("\n## cost per evaluation")
    print("| evaluation | ms | / gradient |\n| --- | --- | --- |")
    for k, v in costs.items():
        print(f"| {k} | {1e3 * v:.2f} | {v / costs['grad']:.2f} |")
    for rel in targets:
        target = rel * f0
        print(f"\n## time to loss <= {rel:g} x initial ({target:.3g}; initial {f0:.4g})")
        print("| method | time [s] | iterations | grad-equivalents | final loss | iterations run |")
        print("| --- | --- | --- | --- | --- | --- |")
        for run in runs:
            hit = time_to(run, target)
            cells = (("not reached", "-", "-") if hit is None
                     else (f"{hit[0]:.1f}", str(hit[1]), str(int(hit[2]))))
            print(f"| {_name(run)} | {' | '.join(cells)} | {run['final_loss']:.2e} | {run['nit']} |")
    ratio = costs["gnvp"] / costs["grad"]
    for run in runs:
        if run["method"] == "hessian-free" and run["nit"]:
            cg = run["nhvp"] / run["nit"]
            other = (run["ngev"] + run["nfev"]) / run["nit"]
            print(f"\nhessian-free: {cg:.1f} GNVPs per iteration x {ratio:.2f} + {other:.1f} other "
                  f"evaluations = {cg * ratio + other:.1f} gradient-evaluation units per iteration")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--points", type=int, default=2048)
    ap.add_argument("--width", type=int, default=320, help="hidden layer width (two layers)")
    ap.add_argument("--products", type=int, default=50, help="evaluations per timed loop")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--targets", default="1e-2,1e-4,1e-6",
                    help="comma-separated target losses relative to the initial loss")
    ap.add_argument("--out", default=None, help="directory for results.json and the plot")
    ap.add_argument("--methods", default="adam,lbfgs,hessian-free,saddle-free-newton")
    ap.add_argument("--adam-rates", default="1e-3,3e-3,1e-2,3e-2",
                    help="Adam learning rates tried for --adam-probe iterations; the best is timed")
    ap.add_argument("--adam-probe", type=int, default=300)
    ap.add_argument("--from-json", default=None, help="print the tables of a saved run")
    ap.add_argument("--costs-only", action="store_true", help="part 1 only (no training runs)")
    ap.add_argument("--merge", nargs="*", help="with --from-json: add the runs of these results.json "
                                               "(replacing runs of the same method and learning rate)")
    ap.add_argument("--budget", action="append", default=[], metavar="METHOD=ITERS",
                    help="iteration budget of a method (default adam=3000, lbfgs=5000, "
                         "hessian-free=60, saddle-free-newton=200)")
    args = ap.parse_args(argv)
    targets = [float(t) for t in args.targets.split(",")]
    if args.from_json:
        with open(args.from_json) as fh:
            saved = json.load(fh)
        runs = saved["runs"]
        for extra in args.merge or []:  # a run of a later file replaces one of the same name
            with open(extra) as fh:
                new = json.load(fh)["runs"]
            names = {_name(r) for r in new}
            runs = [r for r in runs if _name(r) not in names] + new
        report(saved["costs"], runs, saved["initial_loss"], targets)
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            plot(runs, targets[0] * saved["initial_loss"], os.path.join(args.out, "second_order_nets.png"))
        return
    if args.quick:
        args.points, args.width = 256, 32
        args.products, args.repeats = 10, 2
    budgets = {"adam": 3000, "lbfgs": 5000, "hessian-free": 60, "saddle-free-newton": 200}
    if args.quick:
        budgets = {k: max(5, v // 20) for k, v in budgets.items()}
    for item in args.budget:
        method, _, iters = item.partition("=")
        budgets[method] = int(iters)
    options = {"lbfgs": {}, "saddle-free-newton": {}}

    problem = make_problem(args.points, args.width)
    model, loss, params, fun = problem.model_fn, problem.loss_fn, problem.x0, problem.fun
    n = problem.dim
    print(f"# mlp_regression 2-{args.width}-{args.width}-1 (tanh), {n} parameters, "
          f"{args.points} points, {params.dtype}, {jax.devices()[0].platform}")

    costs = product_costs(model, loss, params, args.products, args.repeats)
    if args.costs_only:
        print("\n## cost per evaluation\n| evaluation | ms | / gradient |\n| --- | --- | --- |")
        for k, v in costs.items():
            print(f"| {k} | {1e3 * v:.2f} | {v / costs['grad']:.2f} |")
        return

    options["hessian-free"] = {"model_fn": model, "loss_fn": loss, "damping": 1e-2}
    if "adam" in args.methods.split(","):
        rates = jnp.asarray([float(r) for r in args.adam_rates.split(",")], jnp.float32)
        probe = jax.vmap(lambda lr: optimizers.minimize(
            fun, params, "adam", max_iter=args.adam_probe if not args.quick else 20, gtol=1e-12,
            learning_rate=lr).fun)(rates)
        best = float(rates[int(jnp.argmin(probe))])
        options["adam"] = {"learning_rate": best}
        print(f"  adam learning rate {best:g} (losses after the probe: "
              f"{np.asarray(probe).tolist()} for {np.asarray(rates).tolist()})", file=sys.stderr)
    f0 = float(jax.jit(fun)(params))
    runs = []
    for method in args.methods.split(","):
        t = time.perf_counter()
        run = timed_run(fun, params, method, budgets[method], **options.get(method, {}))
        run["elapsed_with_compile"] = time.perf_counter() - t
        runs.append(run)
        print(f"  {method}: {run['nit']} iterations, loss {run['final_loss']:.3e}, "
              f"{run['wall'][-1]:.1f} s", file=sys.stderr)

    report(costs, runs, f0, targets)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as fh:
            json.dump({"args": vars(args), "parameters": n, "costs": costs, "initial_loss": f0,
                       "runs": runs}, fh, indent=1,
                      default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o))
        plot(runs, targets[0] * f0, os.path.join(args.out, "second_order_nets.png"))
        print(f"\nwrote {args.out}/results.json and second_order_nets.png", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Several devices: a sweep's starts sharded over 4 forced host devices give the one-device
run's results start for start, a sharded x0 stays sharded through minimize (no all-gather of
a full-size vector in the compiled program), and asking for more devices than exist is one
clear message. All in one subprocess, since the device count is fixed when JAX starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent('''
    import contextlib, io, json, math, re, sys, tempfile
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import optimizers
    from experiments import load_run, loads, run_experiment
    from experiments.cli import main
    from experiments.problems import get
    from experiments.runner import compile_pair
    from experiments.sharding import Placement

    out = {"devices": len(jax.devices())}
    text = """
    name = "shards"
    devices = %d
    [budget]
    max_iter = 60
    [[problems]]
    name = "himmelblau"
    starts = 6
    [[problems]]
    name = "extended_rosenbrock"
    dim = 8
    starts = 3
    [[optimizers]]
    method = "lbfgs"
    [[optimizers]]
    method = "momentum"
    learning_rate = 0.002
    [plots]
    x_axis = ["iteration"]
    curvature = false
    """
    runs = {}
    for count in (1, 4):
        folder = tempfile.mkdtemp()
        run_experiment(loads(text % count), folder)
        data = load_run(folder)
        runs[count] = data
        out[f"env_devices_{count}"] = len(data.environment["devices"])
    one, four = runs[1], runs[4]
    out["runs"] = [len(one.results["runs"]), len(four.results["runs"])]
    out["same_keys"] = [(a["problem"], a["label"], a["start"]) for a in one.results["runs"]] == \\
                       [(b["problem"], b["label"], b["start"]) for b in four.results["runs"]]
    out["nit_equal"] = all(a["nit"] == b["nit"] and a["status"] == b["status"] and a["nfev"] == b["nfev"]
                           for a, b in zip(one.results["runs"], four.results["runs"]))
    out["f_diff"] = max(abs(a["f"] - b["f"]) / max(1.0, abs(a["f"])) for a, b in zip(one.results["runs"],
                                                                                     four.results["runs"]))
    out["trace_rows"] = [len(one.trace["f"]), len(four.trace["f"])]
    both = np.isfinite(one.trace["f"])
    out["trace_f_diff"] = float(np.max(np.abs(one.trace["f"][both] - four.trace["f"][both])
                                       / np.maximum(1.0, np.abs(one.trace["f"][both]))))
    out["trace_x_diff"] = float(np.nanmax(np.abs(one.trace["x"] - four.trace["x"])))

    # the compiled sweep takes its starts split over the 4 devices
    spec = loads(text % 4)
    placement = Placement(jax.devices())
    problem = get("himmelblau")
    x0s = placement.put(jnp.zeros((6, 2)))
    compiled = compile_pair(spec, problem, spec.optimizers[0], x0s, placement=placement)
    out["padded"] = int(x0s.shape[0])
    out["input_devices"] = len(compiled.executable.input_shardings[0][0].device_set)

    # one large model: a sharded x0 stays sharded through minimize
    n = 512
    def rosen(x):
        return jnp.sum(100 * (x[1::2] - x[::2] ** 2) ** 2 + (1 - x[::2]) ** 2)
    x0 = jnp.tile(jnp.array([-1.2, 1.0]), n // 2)
    mesh = Mesh(np.array(jax.devices()), ("x",))
    xs = jax.device_put(x0, NamedSharding(mesh, P("x")))
    for method in ("lbfgs", "newton-cg", "trust-ncg", "trust-krylov"):
        solve = jax.jit(lambda x, m=method: optimizers.minimize(rosen, x, m, max_iter=60))
        hlo = solve.lower(xs).compile().as_text()
        full = [g for g in re.findall(r"all-gather[^\\n]*", hlo) if re.search(r"\\[%d\\]" % n, g)]
        res, ref = solve(xs), solve(x0)
        out[method] = {"split": res.x.sharding.spec == P("x"), "devices": len(res.x.sharding.device_set),
                       "full_gathers": len(full), "x_diff": float(jnp.max(jnp.abs(res.x - ref.x))),
                       "nit": [int(res.nit), int(ref.nit)]}
    # the curvature tools on the same split x: Lanczos vectors and probes stay split
    import curvature
    key = jax.random.PRNGKey(0)
    tools = {
        "lanczos": lambda x: curvature.lanczos(curvature.hessian_operator(rosen, x), 20, key).alpha,
        "eigenvalues": lambda x: curvature.eigenvalues(curvature.hessian_operator(rosen, x), 3, key=key),
        "trace": lambda x: curvature.trace(curvature.hessian_operator(rosen, x), key, 10),
        "spectral_density": lambda x: curvature.spectral_density(curvature.hessian_operator(rosen, x), key, 2,
                                                                 10).density,
    }
    x1 = x0 + 0.01 * jnp.arange(n) / n
    x1s = jax.device_put(x1, NamedSharding(mesh, P("x")))
    for name, tool in tools.items():
        jitted = jax.jit(tool)
        hlo = jitted.lower(x1s).compile().as_text()
        full = [g for g in re.findall(r"all-gather[^\\n]*", hlo) if re.search(r"\\[(\\d+,)?%d\\]" % n, g)]
        a, b = jitted(x1s), jitted(x1)
        out["curvature_" + name] = {"full_gathers": len(full),
                                    "rel_diff": float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))}
    # the optax transform: its state built and updated split like the parameters
    opt = optimizers.lbfgs()
    state = opt.init(xs)
    split = lambda leaf: len(leaf.sharding.device_set) == 4 and not leaf.sharding.is_fully_replicated  # noqa: E731
    vectors = lambda s: [leaf for leaf in jax.tree_util.tree_leaves(s) if getattr(leaf, "size", 0) >= n]  # noqa: E731
    out["state_vectors"] = len(vectors(state))
    out["state_split"] = all(split(leaf) for leaf in vectors(state))
    value, grad = jax.value_and_grad(rosen)(xs)
    step = jax.jit(lambda g, s, p, v: opt.update(g, s, p, value=v, grad=g, value_fn=rosen))
    updates, state = step(grad, state, xs, value)
    out["update_split"] = updates.sharding.spec == P("x")
    out["updated_state_split"] = all(split(leaf) for leaf in vectors(state))

    # a pytree with several split leaves (and a replicated one): raveled block by block, so
    # nothing is gathered (optimizers/_ravel.py); ravel_pytree's concatenation gathers
    from jax.flatten_util import ravel_pytree
    tree = {"w": jnp.linspace(-1, 1, 128).reshape(16, 8), "b": jnp.linspace(0, 1, 8),
            "v": jnp.linspace(-2, 1, 64).reshape(4, 16)}
    specs = {"w": P("x", None), "b": P(), "v": P(None, "x")}
    trees = {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in tree.items()}
    def leafy(p):
        return sum(jnp.sum((jnp.cos(l) - 0.5) ** 2 + 0.1 * l ** 4) for l in jax.tree_util.tree_leaves(p))
    def gathers(hlo):  # all-gathers of a split leaf (shaped or flat) or of the whole flat vector
        return len([ln for ln in hlo.splitlines() if "all-gather(" in ln
                    and re.search(r"f64\\[(16,8|4,16|128|64|200)\\]", ln.split("all-gather(")[0])])
    out["ravel_pytree_gathers"] = gathers(jax.jit(lambda t: ravel_pytree(t)[0]).lower(trees).compile().as_text())
    same = lambda a, b: a.sharding.is_equivalent_to(b.sharding, b.ndim)  # noqa: E731
    from optimizers import _driver
    solve, programs = _driver._solve, []
    def reading(*a, **kw):  # minimize's own compiled loop, read as it is called
        programs.append(solve.lower(*a, **kw).compile().as_text())
        return solve(*a, **kw)
    for method in ("lbfgs", "trust-ncg"):
        _driver._solve = reading
        res = optimizers.minimize(leafy, trees, method, max_iter=60)
        _driver._solve = solve
        ref = optimizers.minimize(leafy, tree, method, max_iter=60)
        hlo = programs.pop()
        out["tree_" + method] = {
            "full_gathers": gathers(hlo), "nit": [int(res.nit), int(ref.nit)],
            "x_diff": max(float(jnp.max(jnp.abs(res.x[k] - ref.x[k]))) for k in tree),
            "kept": all(same(res.x[k], trees[k]) and same(res.grad[k], trees[k]) for k in tree)}
    # under the caller's own jit (auto mode: no placement in the types) the block layout is
    # assumed (one block per device, each leaf raveled): leaves split along their first
    # axis stay split; ravel_pytree's order here would gather every leaf
    big = {"w": jnp.linspace(-1, 1, 256 * 192).reshape(256, 192), "u": jnp.linspace(0, 1, 64 * 256).reshape(64, 256),
           "b": jnp.linspace(-1, 0, 256)}
    bigs = {k: jax.device_put(v, NamedSharding(mesh, P("x") if v.ndim == 1 else P("x", None))) for k, v in big.items()}
    def sizeable_gathers(hlo, least):  # all-gathers whose result holds `least` numbers or more
        shapes = [re.search(r"\\[([\\d,]*)\\]", ln.split("all-gather(")[0])
                  for ln in hlo.splitlines() if "all-gather(" in ln]
        return len([m for m in shapes if m and math.prod(int(d) for d in m.group(1).split(",") if d) >= least])
    jitted = jax.jit(lambda t: optimizers.minimize(leafy, t, "lbfgs", max_iter=30))
    res, ref = jitted(bigs), optimizers.minimize(leafy, big, "lbfgs", max_iter=30)
    out["jit_tree"] = {"gathers": sizeable_gathers(jitted.lower(bigs).compile().as_text(), 256),
                       "plain_gathers": sizeable_gathers(
                           jax.jit(lambda t: ravel_pytree(t)[0]).lower(bigs).compile().as_text(), 256),
                       "nit": [int(res.nit), int(ref.nit)],
                       "x_diff": max(float(jnp.max(jnp.abs(res.x[k] - ref.x[k]))) for k in big),
                       "split": all(not res.x[k].sharding.is_fully_replicated for k in big)}
    state = opt.init(trees)
    value, grad = jax.value_and_grad(leafy)(trees)
    updates, state = jax.jit(lambda g, s, p, v: opt.update(g, s, p, value=v, grad=g, value_fn=leafy))(
        grad, state, trees, value)
    out["tree_update_kept"] = all(same(updates[k], trees[k]) for k in tree)
    out["tree_state_split"] = all(split(leaf) for leaf in jax.tree_util.tree_leaves(state.method_state)
                                  if getattr(leaf, "size", 0) >= 200)

    # more devices than exist
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text % 8)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        out["too_many_status"] = main(["run", f.name, "--no-plots", "--out", tempfile.mkdtemp() + "/x"])
    out["too_many_message"] = err.getvalue().strip()
    print("RESULT " + json.dumps(out))
''')


@pytest.fixture(scope="module")
def four_devices():
    env = {**os.environ, "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"),
           "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]), "CURVAX_CACHE": "0"}
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_a_sweep_over_four_devices_matches_the_one_device_run(four_devices):
    got = four_devices
    assert got["devices"] == 4 and got["env_devices_1"] == 1 and got["env_devices_4"] == 4
    assert got["runs"] == [(6 + 3) * 2] * 2 and got["same_keys"]  # the padding's copies are dropped
    assert got["nit_equal"]
    assert got["trace_rows"][0] == got["trace_rows"][1]
    # the same iterations and stops; the values agree to rounding (a device running 2 starts
    # vectorizes differently from one running 6), which the iterations amplify a little
    assert got["f_diff"] <= 1e-8 and got["trace_f_diff"] <= 1e-8 and got["trace_x_diff"] <= 1e-6, got
    print(f"4 devices vs 1: max relative f difference {got['trace_f_diff']:.1e}, x {got['trace_x_diff']:.1e}")
    assert got["padded"] == 8 and got["input_devices"] == 4


@pytest.mark.parametrize("method", ["lbfgs", "newton-cg", "trust-ncg", "trust-krylov"])
def test_a_sharded_x0_stays_sharded_through_minimize(four_devices, method):
    got = four_devices[method]
    assert got["split"] and got["devices"] == 4
    assert got["full_gathers"] == 0, "the compiled loop gathers a full-size vector"
    assert got["nit"][0] == got["nit"][1] and got["x_diff"] <= 1e-10


@pytest.mark.parametrize("tool", ["lanczos", "eigenvalues", "trace", "spectral_density"])
def test_the_curvature_tools_keep_a_split_vector_split(four_devices, tool):
    got = four_devices["curvature_" + tool]
    assert got["full_gathers"] == 0  # before: Lanczos's restart direction (a cyclic shift) gathered it
    # the same Lanczos recurrence, its dot products summed in another order over 4 devices:
    # the Hessian here has ||H|| ~ 1e3, and 20 steps lose no more than a few hundred ulps
    assert got["rel_diff"] < 1e-10


def test_the_transform_state_stays_split_like_the_parameters(four_devices):
    got = four_devices
    assert got["state_vectors"] >= 2 and got["state_split"]  # L-BFGS's (2, m, n) history, the gradient
    assert got["update_split"] and got["updated_state_split"]


def test_a_pytree_of_split_leaves_is_raveled_without_a_gather(four_devices):
    got = four_devices
    assert got["ravel_pytree_gathers"] >= 2  # the count sees the gathers a plain ravel makes
    for method in ("lbfgs", "trust-ncg"):
        tree = got["tree_" + method]
        assert tree["full_gathers"] == 0, "the compiled loop gathers a split leaf or the flat vector"
        # the flat order is a permutation of ravel_pytree's: sums change order, nothing else
        assert tree["nit"][0] == tree["nit"][1] and tree["x_diff"] <= 1e-10 and tree["kept"], tree
    assert got["tree_update_kept"] and got["tree_state_split"]
    # the same under the caller's jit, where the layout is assumed rather than read
    tree = got["jit_tree"]
    assert tree["plain_gathers"] >= 2 and tree["gathers"] == 0, tree
    assert tree["nit"][0] == tree["nit"][1] and tree["x_diff"] <= 1e-10 and tree["split"], tree


def test_more_devices_than_exist_is_one_clear_message(four_devices):
    assert four_devices["too_many_status"] == 2
    message = four_devices["too_many_message"]
    assert "devices = 8 but the cpu platform has 4 device(s)" in message and len(message.splitlines()) == 1

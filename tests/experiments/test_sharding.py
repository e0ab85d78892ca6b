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
    import contextlib, io, json, re, sys, tempfile
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
    for method in ("lbfgs", "newton-cg", "trust-ncg"):
        solve = jax.jit(lambda x, m=method: optimizers.minimize(rosen, x, m, max_iter=60))
        hlo = solve.lower(xs).compile().as_text()
        full = [g for g in re.findall(r"all-gather[^\\n]*", hlo) if re.search(r"\\[%d\\]" % n, g)]
        res, ref = solve(xs), solve(x0)
        out[method] = {"split": res.x.sharding.spec == P("x"), "devices": len(res.x.sharding.device_set),
                       "full_gathers": len(full), "x_diff": float(jnp.max(jnp.abs(res.x - ref.x))),
                       "nit": [int(res.nit), int(ref.nit)]}
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


@pytest.mark.parametrize("method", ["lbfgs", "newton-cg", "trust-ncg"])
def test_a_sharded_x0_stays_sharded_through_minimize(four_devices, method):
    got = four_devices[method]
    assert got["split"] and got["devices"] == 4
    assert got["full_gathers"] == 0, "the compiled loop gathers a full-size vector"
    assert got["nit"][0] == got["nit"][1] and got["x_diff"] <= 1e-10


def test_the_transform_state_stays_split_like_the_parameters(four_devices):
    got = four_devices
    assert got["state_vectors"] >= 2 and got["state_split"]  # L-BFGS's (2, m, n) history, the gradient
    assert got["update_split"] and got["updated_state_split"]


def test_more_devices_than_exist_is_one_clear_message(four_devices):
    assert four_devices["too_many_status"] == 2
    message = four_devices["too_many_message"]
    assert "devices = 8 but the cpu platform has 4 device(s)" in message and len(message.splitlines()) == 1

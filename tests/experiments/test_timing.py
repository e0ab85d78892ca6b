"""The measured time axis: per-start gtol thresholds stop the same compiled call exactly at
the planned checkpoint iterations (checked against the stop rule itself and a real run)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import problems
from experiments.config import loads
from experiments.runner import compile_pair
from experiments.timing import (
    checkpoint_thresholds,
    interpolate_axis,
    measured_time_axis,
    record_iterations,
    timed_call,
)


def first_stop(grad_norm, gtol, nit):
    """The driver's rule: the first k with grad_norm[k] <= gtol, else the run's own end."""
    hits = np.flatnonzero(grad_norm[: nit + 1] <= gtol)
    return int(hits[0]) if hits.size else nit


def test_record_iterations_are_strict_running_minima():
    g = np.array([5.0, 6.0, 4.0, 4.0, 3.0, 7.0, 1.0, np.nan])
    assert record_iterations(g, 6).tolist() == [0, 2, 4, 6]
    assert record_iterations(g, 3).tolist() == [0, 2]


@pytest.mark.parametrize("seed", range(5))
def test_thresholds_stop_every_start_where_planned(seed):
    rng = np.random.default_rng(seed)
    starts, length = 4, 60
    nit = rng.integers(5, length, size=starts)
    # non-monotone gradient norms with a downward trend, NaN after each run's end
    g = np.exp(-0.1 * np.arange(length))[None, :] * rng.uniform(0.2, 5.0, size=(starts, length))
    g[np.arange(length)[None, :] > nit[:, None]] = np.nan
    gtol = 1e-12
    plans = checkpoint_thresholds(g, nit, gtol, points=8)
    assert plans and len({k for k, _ in plans}) == len(plans)
    for k, gtols in plans:
        stops = [first_stop(g[b], gtols[b], int(nit[b])) for b in range(starts)]
        assert max(stops) == k < nit.max()
        assert np.all(gtols > 0)


def test_interpolate_axis_is_measured_at_the_points_and_monotone():
    axis = interpolate_axis([(10, 2.0), (4, 1.0), (6, 0.9)], 11)
    assert axis[0] == 0.0 and axis[6] == 0.9 and axis[10] == 2.0
    assert axis[4] == 0.9  # a checkpoint slower than a later one is lowered (noise only adds time)
    assert np.all(np.diff(axis) >= 0)
    assert interpolate_axis([(0, 0.5), (2, 1.5)], 3).tolist() == [0.5, 1.0, 1.5]


def test_a_real_compiled_run_stops_at_each_checkpoint():
    spec = loads('name = "t"\n[budget]\nmax_iter = 60\ngtol = 1e-10\n[[problems]]\nname = "himmelblau"\nstarts = 3\n'
                 '[[optimizers]]\nmethod = "momentum"\nlearning_rate = 2e-3\n', source="t", check_options=False)
    opt = spec.optimizers[0]
    problem = problems.get("himmelblau")
    x0s = problem.sample_starts(jax.random.PRNGKey(0), 3)
    compiled = compile_pair(spec, problem, opt, x0s)
    executable = compiled[0]
    gtols = jnp.full((3,), opt.gtol)
    out, seconds = timed_call(executable, x0s, gtols)
    res = jax.device_get(out)
    assert seconds > 0 and compiled[1] > 0
    nit = np.asarray(res.nit)
    g = np.asarray(res.trace.grad_norm)
    plans = checkpoint_thresholds(g, nit, opt.gtol)
    assert len(plans) >= 4
    for k, thresholds in plans:
        again = jax.device_get(executable(x0s, jnp.asarray(thresholds)))
        expected = [first_stop(g[b], thresholds[b], int(nit[b])) for b in range(3)]
        assert np.asarray(again.nit).tolist() == expected and max(expected) == k
        # the shortened run repeats the main run exactly up to where it stops
        np.testing.assert_array_equal(np.asarray(again.trace.f)[0, : expected[0] + 1],
                                      np.asarray(res.trace.f)[0, : expected[0] + 1])
    axis, refined = measured_time_axis(executable, x0s, res, opt, seconds)
    k_max = int(nit.max())
    assert np.all(np.isfinite(axis[: k_max + 1])) and np.all(np.isnan(axis[k_max + 1:]))
    assert np.all(np.diff(axis[: k_max + 1]) >= 0)
    assert axis[k_max] == refined <= seconds  # the full call timed once more; the faster counts

"""The stopping tests besides gtol: relative_gtol, ftol (status FTOL), xtol (status XTOL), and
the Status codes with their messages.

The problem: f = 1e12 * Freudenstein-Roth (MGH #2) from its standard start, which trust-exact
takes to the local minimizer with f = 4.9e13. The absolute test ||g||_inf <= 1e-8 cannot be
met there: rounding x to its last bit alone changes g by 1e12 * |H| * eps |x| ~ 1e-1, so
without relative_gtol the run ends with NO_PROGRESS (the radius shrinks to nothing) or
MAX_ITER; with relative_gtol the test is ||g|| <= gtol * max(1, |f|) and it converges. Every
stopping decision is checked against the rule evaluated in numpy on the recorded path
(f and g written out by hand), so the step that stopped is the first that met the rule.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
from optimizers import STATUS_MESSAGES, Status

SCALE = 1e12
X0 = np.array([0.5, -2.0])
X_STAR = np.array([11.41277900335, -0.89680525814])  # MGH's 11 digits
GTOL = 1e-8
FTOL = 1e-12
XTOL = 1e-8


def fr_residuals(x):
    x1, x2 = x[..., 0], x[..., 1]
    return (-13 + x1 + ((5 - x2) * x2 - 2) * x2, -29 + x1 + ((x2 + 1) * x2 - 14) * x2)


def f(x):
    r1, r2 = fr_residuals(x)
    return SCALE * (r1**2 + r2**2)


def f_numpy(x):
    r1, r2 = fr_residuals(np.asarray(x))
    return SCALE * (r1**2 + r2**2)


def grad_numpy(x):
    x2 = x[1]
    r1, r2 = fr_residuals(np.asarray(x))
    dr1 = np.array([1.0, -3 * x2**2 + 10 * x2 - 2])
    dr2 = np.array([1.0, 3 * x2**2 + 2 * x2 - 14])
    return SCALE * 2 * (r1 * dr1 + r2 * dr2)


#: (ftol, xtol) rows of the absolute-gtol run (float tolerances: one compile for all)
ROWS = {"none": (0.0, 0.0), "ftol": (FTOL, 0.0), "xtol": (0.0, XTOL)}


@functools.lru_cache(maxsize=None)
def runs(relative_gtol):
    tols = np.array(list(ROWS.values()))
    run = jax.jit(jax.vmap(lambda t: optimizers.minimize(
        f, jnp.asarray(X0), "trust-exact", gtol=GTOL, ftol=t[0], xtol=t[1], relative_gtol=relative_gtol,
        max_iter=200, record_path=True)))
    res = jax.device_get(run(jnp.asarray(tols)))
    return {name: jax.tree_util.tree_map(lambda a, i=i: None if a is None else a[i], res)
            for i, name in enumerate(ROWS)}


def _path(res):
    k = int(res.nit)
    return res.trace.x[: k + 1], k


def test_absolute_gtol_is_out_of_reach_at_this_scale():
    res = runs(False)["none"]
    assert Status(int(res.status)) in (Status.NO_PROGRESS, Status.MAX_ITER)
    assert not bool(res.success)
    g = grad_numpy(res.x)
    assert np.abs(g).max() > GTOL
    # but it is a minimizer to the precision the scale allows: the relative test holds there
    assert np.abs(g).max() <= GTOL * abs(f_numpy(res.x))


def test_relative_gtol_converges_at_the_first_point_that_meets_it():
    res = runs(True)["none"]
    assert Status(int(res.status)) is Status.CONVERGED and bool(res.success)
    path, k = _path(res)
    met = [np.abs(grad_numpy(x)).max() <= GTOL * max(1.0, abs(f_numpy(x))) for x in path]
    assert met[k] and not any(met[:k])
    # ||g / 1e12||_2 <= sqrt(2) GTOL |f| / 1e12 bounds |x - x*| through the Hessian of FR at x*
    lam_min = np.linalg.eigvalsh(_fr_hessian(X_STAR))[0]
    tol = 2 * np.sqrt(2) * GTOL * abs(f_numpy(res.x)) / SCALE / lam_min + 1e-10 * np.abs(X_STAR).max()
    assert np.abs(res.x - X_STAR).max() <= tol


def _fr_hessian(x, h=1e-5):
    """Central differences of the hand-written gradient, unscaled."""
    cols = [(grad_numpy(x + h * e) - grad_numpy(x - h * e)) / (2 * h) for e in np.eye(2)]
    return np.array(cols) / SCALE


@pytest.mark.parametrize("relative", [False, True])
def test_ftol_stops_with_status_ftol_at_the_first_small_decrease(relative):
    res = runs(relative)["ftol"]
    path, k = _path(res)
    fs = [f_numpy(x) for x in path]
    small = [bool(np.any(path[j] != path[j - 1])) and fs[j - 1] - fs[j] <= FTOL * max(1.0, abs(fs[j - 1]))
             for j in range(1, k + 1)]
    grad_met = [np.abs(grad_numpy(x)).max() <= GTOL * (max(1.0, abs(f_numpy(x))) if relative else 1.0)
                for x in path]
    assert not any(small[:-1]) and not any(grad_met[:k])  # nothing stopped it earlier
    if grad_met[k]:  # the gradient test takes precedence when both hold
        assert Status(int(res.status)) is Status.CONVERGED
    else:
        assert small[-1]
        assert Status(int(res.status)) is Status.FTOL and bool(res.success)
        assert res.message == STATUS_MESSAGES[Status.FTOL]
    assert np.abs(res.x - X_STAR).max() <= 1e-6


def test_xtol_stops_with_status_xtol_at_the_first_short_step():
    res = runs(False)["xtol"]
    assert Status(int(res.status)) is Status.XTOL and bool(res.success)
    assert res.message == STATUS_MESSAGES[Status.XTOL]
    path, k = _path(res)
    short = [bool(np.any(path[j] != path[j - 1]))
             and np.abs(path[j] - path[j - 1]).max() <= XTOL * max(1.0, np.abs(path[j - 1]).max())
             for j in range(1, k + 1)]
    assert short[-1] and not any(short[:-1])
    # a short step of a superlinearly converging method: x is near the minimizer
    assert np.abs(res.x - X_STAR).max() <= 1e-6


def test_each_status_is_a_status_member_with_a_message():
    codes = [int(runs(False)[name].status) for name in ROWS] + [int(runs(True)["none"].status)]
    assert all(isinstance(Status(c), Status) for c in codes)
    assert set(STATUS_MESSAGES) == set(Status)
    for s in Status:
        assert isinstance(STATUS_MESSAGES[s], str) and STATUS_MESSAGES[s]
        assert optimizers.status_message(int(s)) == STATUS_MESSAGES[s]
    assert len(set(STATUS_MESSAGES.values())) == len(Status)
    success = {s: bool(optimizers._status.is_success(int(s))) for s in Status}
    assert {s for s, ok in success.items() if ok} == {Status.CONVERGED, Status.FTOL, Status.XTOL}

"""levenberg-marquardt and gauss-newton against scipy.optimize.least_squares ('lm', MINPACK,
and 'trf'), through ``optimizers.least_squares`` (cost ||r||^2 / 2) and through
``minimize(sum(r^2), residual=r)``, on zero-residual (Rosenbrock, Brown badly scaled) and
nonzero-residual (Freudenstein-Roth's local minimizer, Jennrich-Sampson, a linear problem
solved in closed form by numpy.linalg.lstsq) problems; reference_batches.

Tolerances from the conditioning: a point whose cost gradient is at most gtol (inf-norm) is
within sqrt(n) gtol / lambda_min(H*) of x* (H* the cost's Hessian at x*, J^T J plus the
residual curvature), twice that for the second-order terms, plus eps |x*| per coordinate;
scipy's point is within its own gradient's share of that. The cost then agrees to second
order, lambda_max tol^2 / 2 + |g| tol, plus rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from .reference_batches import (
    EPS,
    LIN_A,
    LIN_B,
    LS_NAMES,
    LS_PROBLEMS,
    ls_gtols,
    ls_hessian,
    ls_solved,
    residual,
    scipy_least_squares,
)

METHODS = ["levenberg-marquardt", "gauss-newton"]
VIAS = ["least_squares", "minimize"]
KNOWN = {"rosenbrock": (1.0, 1.0), "brown_badly_scaled": (1e6, 2e-6)}


def _truth(k):
    """The solution: known, closed form, or scipy 'lm' at its tolerance floor."""
    name = LS_NAMES[k]
    if name in KNOWN:
        return np.array(KNOWN[name])
    if name == "linear":
        return np.linalg.lstsq(LIN_A, LIN_B, rcond=None)[0]
    return scipy_least_squares("lm", k).x


def _tolerances(k, g_other):
    """(x tolerance per coordinate, cost tolerance) between our point, whose cost gradient
    is <= ls_gtols()[k], and a point whose cost gradient is g_other (inf-norm)."""
    x_star = _truth(k)
    lam = np.linalg.eigvalsh(ls_hessian(x_star, k))
    g = ls_gtols()[k] + g_other
    x_tol = 2 * np.sqrt(2) * g / lam[0] + 10 * EPS * np.abs(x_star)
    cost_star = 0.5 * np.sum(residual(x_star, k) ** 2)
    cost_tol = 0.5 * lam[-1] * np.max(x_tol) ** 2 + g * np.max(x_tol) + 10 * EPS * max(cost_star, EPS)
    return x_tol, cost_tol


def _ours(method, via, k):
    res = ls_solved(method, via)
    x = res.x[k]
    r = residual(x, k)  # the residual evaluated afresh at the returned point
    assert int(res.status[k]) == 0 and bool(res.success[k]), (method, via, LS_NAMES[k], int(res.status[k]))
    if via == "least_squares":
        np.testing.assert_allclose(res.fun[k], r, rtol=0, atol=0)  # fun: the residual at x
        np.testing.assert_allclose(res.cost[k], 0.5 * r @ r, rtol=1e-14, atol=1e-300)
        cost = float(res.cost[k])
    else:
        np.testing.assert_allclose(res.fun[k], r @ r, rtol=1e-14, atol=1e-300)  # fun: sum(r^2)
        cost = float(res.fun[k]) / 2
    return x, cost


@pytest.mark.parametrize("k", range(len(LS_NAMES)), ids=LS_NAMES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("method", METHODS)
def test_solution_and_cost_like_scipy_least_squares(method, via, k):
    x, cost = _ours(method, via, k)
    x_tol, cost_tol = _tolerances(k, 0.0)
    assert np.all(np.abs(x - _truth(k)) <= x_tol), (x, _truth(k), x_tol)
    for scipy_method in ("lm", "trf"):
        ref = scipy_least_squares(scipy_method, k)
        assert ref.status > 0, ref.message  # converged by one of its tolerances
        x_tol, cost_tol = _tolerances(k, np.abs(ref.grad).max())
        assert np.all(np.abs(x - ref.x) <= 2 * x_tol), (scipy_method, x, ref.x, x_tol)
        assert abs(cost - ref.cost) <= cost_tol, (scipy_method, cost, ref.cost, cost_tol)
    if LS_PROBLEMS[LS_NAMES[k]][2]:
        assert cost <= cost_tol  # a zero-residual problem solved to zero


def test_gauss_newton_solves_the_linear_problem_in_one_step():
    # G = J^T J is the exact Hessian of a linear least-squares cost: the first Gauss-Newton
    # direction (CG on G, n = 2 steps) is the closed-form solution, and the unit step is taken
    k = LS_NAMES.index("linear")
    for via in VIAS:
        res = ls_solved("gauss-newton", via)
        assert int(res.nit[k]) == 1
        np.testing.assert_allclose(res.trace.x[k, 1], _truth(k), rtol=1e-12)


def test_levenberg_marquardt_decreases_the_cost_monotonically():
    # a damped step is taken only when rho > eta > 0: the cost never increases
    for via in VIAS:
        res = ls_solved("levenberg-marquardt", via)
        for k in range(len(LS_NAMES)):
            n = int(res.nit[k])
            costs = [0.5 * np.sum(residual(x, k) ** 2) for x in res.trace.x[k, : n + 1]]
            assert np.all(np.diff(costs) <= 10 * EPS * np.array(costs[:-1])), (via, LS_NAMES[k])


def test_repeated_calls_with_one_residual_compile_once():
    # minimize compiles per objective function (a static argument of its jit); least_squares
    # builds the cost from the residual, so it must hand minimize the same cost function for
    # the same residual, or every call compiles the whole loop again
    import jax.numpy as jnp

    import optimizers
    import optimizers._driver

    solve = optimizers._driver._solve
    if not hasattr(solve, "_cache_size"):
        pytest.skip("this jax's jit has no _cache_size")

    def r(x):
        return jnp.stack([x[0] - 1.0, 2.0 * (x[1] + x[0])])

    sizes = []
    for x0 in ([0.0, 0.0], [3.0, -1.0], [-2.0, 5.0]):
        res = optimizers.least_squares(r, jnp.asarray(x0), "gauss-newton")
        assert bool(res.success)
        np.testing.assert_allclose(res.x, [1.0, -1.0], atol=1e-12)
        sizes.append(solve._cache_size())
    assert sizes[2] == sizes[1] == sizes[0], sizes

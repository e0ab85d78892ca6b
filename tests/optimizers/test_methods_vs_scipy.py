"""trust-exact, trust-krylov, dogleg, nonlinear-cg (and newton, trust-ncg) against scipy's
method of the same name (nonlinear-cg: scipy's ``CG``, Polak-Ribière with another line
search) on Rosenbrock, Beale, helical valley and Wood, padded to n = 4, with scipy given the
very same jitted f, g and Hessian (reference_batches).

Final points: both within the distance from the known minimizer that ||g||_inf <= gtol
allows at its Hessian's smallest eigenvalue (reference_batches.x_tolerance), so within twice
that of each other. Iteration counts: the trust regions are the same algorithm as scipy's
(radius 1, max 1000, eta 0.15, rho < 1/4 -> radius / 4, rho > 3/4 on the boundary ->
doubled; every trial counts as an iteration in both), so the counts agree within a margin
set from the measured ones (the subproblem solvers differ in their inner tolerances:
scipy's trust-exact stops at k_easy = 0.1, ours solves nearly exactly; trust-krylov's
TRLIB and our GLTR have different forcing sequences). Measured (ours / scipy), rows as in
ROW_IDS: trust-exact 25/25 8/8 9/9 44/43 7/7 9/8 7/7; trust-krylov 38/38 12/11 13/12 91/86
9/9 9/8 9/9; dogleg on the positive definite rows 24/24 7/7 9/9 7/7; nonlinear-cg vs CG
24/37 15/27 30/56 31/56 12/13 14/40 24/42; trust-ncg equal on every row.
"""

from __future__ import annotations

import numpy as np
import pytest

from .reference_batches import MINIMIZERS, ROW_IDS, ROWS, scipy_solved, solved, x_tolerance

ROW_RANGE = range(len(ROWS))
PD_ROWS = [i for i, row in enumerate(ROWS) if row[2]]

#: ours -> scipy's method of the same algorithm
SCIPY = {"trust-exact": "trust-exact", "trust-krylov": "trust-krylov", "dogleg": "dogleg",
         "nonlinear-cg": "CG", "trust-ncg": "trust-ncg", "newton": "Newton-CG"}


def _ours(method, row):
    res = solved(method)
    assert int(res.status[row]) == 0, (method, ROW_IDS[row], int(res.status[row]), int(res.nit[row]))
    return res.x[row], int(res.nit[row])


def _check_final_point(method, row):
    tol = x_tolerance(row)
    x, _ = _ours(method, row)
    assert np.abs(x - MINIMIZERS[row]).max() <= tol, (ROW_IDS[row], x, tol)
    ref = scipy_solved(SCIPY[method], row)
    if method == "dogleg" and row not in PD_ROWS:
        # scipy's dogleg refuses a Hessian that is not positive definite (status 3 or a
        # LinAlgError); ours takes the Cauchy point there and still gets to x*
        assert isinstance(ref, Exception) or ref.status == 3, ref
        return
    assert ref.status == 0, (SCIPY[method], ROW_IDS[row], ref.message)
    assert np.abs(ref.x - MINIMIZERS[row]).max() <= tol
    assert np.abs(x - ref.x).max() <= 2 * tol


@pytest.mark.parametrize("row", ROW_RANGE, ids=ROW_IDS)
@pytest.mark.parametrize("method", ["trust-exact", "trust-krylov", "dogleg", "nonlinear-cg"])
def test_final_point_is_scipys_and_the_known_minimizer(method, row):
    _check_final_point(method, row)


@pytest.mark.slow
@pytest.mark.parametrize("row", ROW_RANGE, ids=ROW_IDS)
@pytest.mark.parametrize("method", ["newton", "trust-ncg"])
def test_final_point_of_the_older_methods_unchanged(method, row):
    _check_final_point(method, row)


def _counts(method, rows):
    ours = np.array([_ours(method, i)[1] for i in rows])
    ref = np.array([scipy_solved(SCIPY[method], i).nit for i in rows])
    return ours, ref


@pytest.mark.parametrize("method, rows, margin", [
    ("trust-exact", ROW_RANGE, lambda n: 1),
    ("trust-krylov", ROW_RANGE, lambda n: max(1, int(0.1 * n))),
    ("dogleg", PD_ROWS, lambda n: 1),
])
def test_trust_region_iteration_counts_agree_with_scipy(method, rows, margin):
    ours, ref = _counts(method, rows)
    assert np.all(np.abs(ours - ref) <= [margin(n) for n in ref]), list(zip(ours, ref))


@pytest.mark.slow
def test_trust_ncg_iteration_counts_are_scipys():
    ours, ref = _counts("trust-ncg", ROW_RANGE)
    assert np.all(np.abs(ours - ref) <= 1), list(zip(ours, ref))


def test_nonlinear_cg_iterations_of_the_same_order_as_scipys_cg():
    ours, ref = _counts("nonlinear-cg", ROW_RANGE)
    ratio = ours / ref
    assert np.all((ratio >= 0.25) & (ratio <= 4)), list(zip(ours, ref))


def test_trust_krylov_not_many_more_iterations_than_trust_ncg_same_minimizers():
    """GLTR never stops the subproblem earlier than Steihaug's CG would, so its steps are at
    least as good in model value; on these problems that never costs it more than twice
    the iterations (measured: at most 38 vs 30). trust-ncg is scipy's, the same algorithm
    as ours (test_trust_ncg_iteration_counts_are_scipys)."""
    krylov, _ = _counts("trust-krylov", ROW_RANGE)
    steihaug = np.array([scipy_solved("trust-ncg", i).nit for i in ROW_RANGE])
    assert np.all(krylov <= 2 * steihaug), list(zip(krylov, steihaug))
    for i in ROW_RANGE:
        ref = scipy_solved("trust-ncg", i)
        assert ref.status == 0
        assert np.abs(solved("trust-krylov").x[i] - ref.x).max() <= 2 * x_tolerance(i)

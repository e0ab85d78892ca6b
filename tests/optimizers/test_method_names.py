"""Method names as scipy.optimize and optimistix users type them: their spellings of our
methods resolve to the same record (so the same compiled program and the same result), the
scipy methods curvax does not have are refused with the reason and an alternative, and a
misspelling gets the nearest names."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
from optimizers._registry import canonical_name

SPELLINGS = [
    # scipy.optimize.minimize(method=...)
    ("Newton-CG", "newton-cg"), ("BFGS", "bfgs"), ("CG", "nonlinear-cg"), ("trust-ncg", "trust-ncg"),
    ("trust-krylov", "trust-krylov"), ("trust-exact", "trust-exact"), ("dogleg", "dogleg"),
    # optimistix class names, and the usual variants
    ("LBFGS", "lbfgs"), ("L-BFGS", "lbfgs"), ("GaussNewton", "gauss-newton"),
    ("LevenbergMarquardt", "levenberg-marquardt"), ("Dogleg", "dogleg"), ("NonlinearCG", "nonlinear-cg"),
    ("GradientDescent", "gd"), ("trust_ncg", "trust-ncg"), ("Saddle Free Newton", "saddle-free-newton"),
]


@pytest.mark.parametrize("spelling, name", SPELLINGS)
def test_other_libraries_spellings_name_our_methods(spelling, name):
    assert canonical_name(spelling) == name
    assert optimizers.get_method(spelling) is optimizers.get_method(name)


def test_a_scipy_spelling_runs_the_same_program():
    def rosen(x):
        return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    x0 = jnp.array([-1.2, 1.0])
    ours = optimizers.minimize(rosen, x0, "newton-cg")
    theirs = optimizers.minimize(rosen, x0, "Newton-CG")
    assert int(theirs.nit) == int(ours.nit) and bool(theirs.success)
    np.testing.assert_array_equal(theirs.x, ours.x)  # one record, one compiled program
    np.testing.assert_allclose(theirs.x, [1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("spelling, advice", [
    ("L-BFGS-B", "use 'lbfgs'"), ("TNC", "use 'newton-cg'"), ("Nelder-Mead", "derivative-free"),
    ("Powell", "derivative-free"), ("COBYLA", "constrained"), ("SLSQP", "constrained"),
    ("trust-constr", "'trust-ncg'"),
])
def test_scipy_methods_curvax_lacks_are_refused_with_advice(spelling, advice):
    with pytest.raises(ValueError, match=f"unknown method '{spelling}': .*{advice}"):
        optimizers.minimize(lambda x: jnp.sum(x**2), jnp.ones(2), spelling)


@pytest.mark.parametrize("typo, near", [("lbgfs", "'lbfgs'"), ("newton-raphson", "'newton'"),
                                        ("trust-nc", "'trust-ncg'")])
def test_a_misspelling_gets_the_nearest_names(typo, near):
    with pytest.raises(ValueError, match=f"did you mean {near}"):
        optimizers.get_method(typo)


def test_nothing_near_lists_every_method():
    with pytest.raises(ValueError) as err:
        optimizers.get_method("zzz")
    assert "did you mean" not in str(err.value)
    assert all(name in str(err.value) for name in optimizers.method_names())

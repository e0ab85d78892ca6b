"""Bad input to optimizers.minimize and the optax transforms: one clear TypeError/ValueError
naming the argument or option, raised before anything compiles. One table per class of
input; most cases never compile anything."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

import optimizers

X0 = jnp.array([-1.2, 1.0])


def quad(x):
    return jnp.sum((x - 1.0) ** 2)


# ------------------------------------------------------------ line-search constants

WOLFE_METHODS = [m for m in optimizers.method_names()
                 if {"c1", "c2"} <= set(optimizers.method_options(m))]


def test_the_wolfe_table_covers_the_line_search_methods():
    assert {"lbfgs", "bfgs", "newton", "newton-cg"} <= set(WOLFE_METHODS)


LINE_SEARCH_CASES = [
    *[(m, dict(c1=0.95, c2=0.1), r"'c1' and 'c2'.*0 < c1 < c2 < 1, got c1=0.95, c2=0.1")
      for m in WOLFE_METHODS],
    *[(m, dict(c1=0.5, c2=0.5), r"'c1' and 'c2'.*0 < c1 < c2 < 1") for m in WOLFE_METHODS],
    ("lbfgs", dict(c2=1e-5), r"'c1' and 'c2'.*got c1=0.0001, c2=1e-05"),  # against the default c1
    ("lbfgs", dict(c1=0.0), r"option 'c1': expected a real number in \(0, 1\)"),
    ("bfgs", dict(c2=1.0), r"option 'c2': expected a real number in \(0, 1\)"),
    ("hessian-free", dict(ls_c1=0.0), r"option 'ls_c1': expected a real number in \(0, 1\)"),
    ("hessian-free", dict(ls_c1=1.0), r"option 'ls_c1'"),
    ("hessian-free", dict(ls_shrink=1.0), r"option 'ls_shrink'"),
]


@pytest.mark.parametrize("method, options, match", LINE_SEARCH_CASES)
def test_line_search_constants_are_checked_by_minimize_and_the_transforms(method, options, match):
    with pytest.raises(ValueError, match=f"method '{method}'.*{match}"):
        optimizers.minimize(quad, X0, method, **options)
    with pytest.raises(ValueError, match=f"method '{method}'.*{match}"):
        optimizers.make_transform(method, **options)


def test_named_transform_factories_refuse_inconsistent_wolfe_constants():
    for factory in (optimizers.lbfgs, optimizers.bfgs, optimizers.newton, optimizers.newton_cg):
        with pytest.raises(ValueError, match="0 < c1 < c2 < 1"):
            factory(c1=0.95, c2=0.1)

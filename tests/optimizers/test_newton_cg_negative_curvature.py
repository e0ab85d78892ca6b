"""Newton-CG's step along negative curvature (optimizers.newton_cg.negative_curvature_step).

Where CG meets p.Hp < 0 the CG iterate alone is limited by H's large eigenvalues; the step
adds a move along p, downhill, of length ||g|| / kappa (kappa = -p.Hp / ||p||^2) capped at
max(1, ||x||). Checked here on the math itself (a quadratic with known eigenvalues); its
effect on the MGH problems where plain Newton-CG crawled is checked in
tests/experiments/test_methods_on_problems.py, which uses the problem registry."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from optimizers._krylov import NEGATIVE_CURVATURE, truncated_cg
from optimizers.newton_cg import negative_curvature_step

H = jnp.diag(jnp.array([100.0, 1.0, -0.01]))


def test_the_step_leaves_along_negative_curvature_downhill_with_the_balanced_length():
    g = jnp.array([1.0, 0.5, 0.02])
    x = jnp.array([3.0, 4.0, 0.0])  # ||x|| = 5: the cap
    cg = truncated_cg(lambda v: H @ v, -g, rtol=1e-12, max_iter=10)
    assert int(cg.status) == NEGATIVE_CURVATURE
    p = np.asarray(cg.negative_direction)
    kappa = -float(cg.negative_curvature) / (p @ p)
    assert kappa > 0
    step = np.asarray(negative_curvature_step(cg, g, x))
    np.testing.assert_allclose(np.linalg.norm(step), min(np.linalg.norm(g) / kappa, 5.0), rtol=1e-12)
    assert step @ np.asarray(g) < 0  # downhill
    np.testing.assert_allclose(np.cross(step, p), 0, atol=1e-12 * np.linalg.norm(step) * np.linalg.norm(p))
    assert (np.asarray(cg.x) + step) @ np.asarray(g) < 0  # the sum is still a descent direction


def test_no_step_where_the_curvature_is_positive():
    A = jnp.diag(jnp.array([100.0, 1.0, 0.01]))
    g = jnp.array([1.0, 0.5, 0.02])
    cg = truncated_cg(lambda v: A @ v, -g, rtol=1e-12, max_iter=10)
    assert int(cg.status) != NEGATIVE_CURVATURE
    np.testing.assert_array_equal(negative_curvature_step(cg, g, jnp.ones(3)), 0.0)

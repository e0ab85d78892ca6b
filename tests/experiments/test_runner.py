"""Runner pieces not covered end to end: curvature along a path above the dense limit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import problems
from experiments.runner import curvature_along_path


@pytest.mark.slow
def test_lanczos_curvature_along_a_path_matches_dense_eigvalsh():
    problem = problems.get("extended_rosenbrock", dim=80)  # above the dense limit of 64
    x0 = np.asarray(problem.x0)
    path = np.full((1, 6, 80), np.nan)
    path[0, :4] = x0 + 0.1 * np.arange(4)[:, None]
    eig = curvature_along_path(problem.fun, path, np.array([3]))
    hess = jax.jit(jax.hessian(problem.fun))
    for k in range(4):
        values = np.linalg.eigvalsh(np.asarray(hess(jnp.asarray(path[0, k]))))
        np.testing.assert_allclose(eig[0, k], [values[0], values[-1]], rtol=1e-8)
    assert np.all(np.isnan(eig[0, 4:]))

"""Runner pieces not covered end to end: curvature along a path above the dense limit, a
float32 run, the spectral densities of [plots] spectrum."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import problems
from experiments.path_curvature import curvature_along_path


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


def test_float32_run_stays_float32_and_restores_x64(tmp_path):
    from experiments.config import loads
    from experiments.runner import run_experiment

    spec = loads('name = "f32"\ndtype = "float32"\ndevice = "cpu"\n[budget]\nmax_iter = 5\n'
                 '[[problems]]\nname = "booth"\nx0 = [0.1, 0.2]\n[[optimizers]]\nmethod = "gd"\n'
                 'learning_rate = 1e-2\n[plots]\nx_axis = ["iteration"]\ncurvature = false\n', source="f32.toml")
    assert jax.config.jax_enable_x64
    results = run_experiment(spec, tmp_path)
    assert jax.config.jax_enable_x64  # the float32 run switched x64 off only while it ran
    (run,) = results["runs"]
    assert run["nit"] == 5 and run["status"] == 1
    # gd by hand in float32: x <- x - 0.01 * grad f(x) for booth
    x = np.array([0.1, 0.2], dtype=np.float32)
    for _ in range(5):
        r1, r2 = x[0] + 2 * x[1] - 7, 2 * x[0] + x[1] - 5
        x = (x - np.float32(0.01) * np.array([2 * r1 + 4 * r2, 4 * r1 + 2 * r2], dtype=np.float32)).astype(np.float32)
    f = (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2
    assert run["f"] == pytest.approx(float(f), rel=1e-5)
    assert float(np.float32(run["f"])) == run["f"]  # a float32 value, not a float64 one
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["x64"] is False


def test_spectral_densities_at_the_start_and_the_end(tmp_path):
    from experiments.config import loads
    from experiments.records import read_spectra
    from experiments.runner import run_experiment

    # A diagonal quadratic of dimension 4: its Hessian's eigenvalues are 1, 10, 100, 1000
    # everywhere, and Lanczos of order 4 finds them exactly from any probe.
    spec = loads('name = "spec"\ndevice = "cpu"\n[budget]\nmax_iter = 3\n[[problems]]\n'
                 'name = "ill_conditioned_quadratic"\ndim = 4\ncond = 1000.0\nrotate = false\n'
                 '[[optimizers]]\nmethod = "gd"\nlearning_rate = 1e-4\n[plots]\nx_axis = ["iteration"]\n'
                 'trajectories = false\ncurvature = false\nspectrum = true\n', source="spec.toml")
    run_experiment(spec, tmp_path)
    entries = read_spectra(tmp_path)["entries"]
    assert [(e["label"], e["point"], e["iteration"]) for e in entries] == [(None, "start", 0), ("gd", "end", 3)]
    for e in entries:
        nodes, weights = np.asarray(e["nodes"]), np.asarray(e["weights"])
        assert nodes.shape == (8, 4)  # 8 probes, order min(dim, 32)
        np.testing.assert_allclose(np.sort(nodes, axis=1), np.tile([1.0, 10.0, 100.0, 1000.0], (8, 1)), rtol=1e-8)
        # a Rademacher probe of a diagonal matrix gives tr(A) / n exactly
        np.testing.assert_allclose(np.sum(weights * nodes, axis=1), 1111.0 / 4, rtol=1e-10)
        assert len(e["grid"]) == len(e["density"]) == 256

"""The cache of traced programs (experiments/program_cache.py), in this process: what an
entry is keyed on, that a stored program gives the same numbers, and that a corrupt entry is
a miss. (A whole warm `curvax run` reusing its programs is in test_compile_cache.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
from experiments import program_cache

pytestmark = pytest.mark.skipif(not program_cache.usable(), reason="this jax cannot serialize programs "
                                "(jax.export with flatbuffers); the runner traces every pair then")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(program_cache, "program_dir", lambda: tmp_path)
    return tmp_path


def _solve(x0s, gtols):
    fun = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2  # noqa: E731
    return optimizers.minimize_batch(fun, x0s, "lbfgs", gtol=gtols, max_iter=200, record_path=True)


ARGS = (jnp.array([[-1.2, 1.0], [0.5, -0.5]]), jnp.full((2,), 1e-8))


def test_a_stored_program_is_reused_and_gives_the_same_result(folder):
    direct = jax.jit(_solve)(*ARGS)
    first, reused = program_cache.compiled(jax.jit(_solve), ARGS, "entry")
    assert reused is False and (folder / "entry.jaxexport").is_file()
    second, reused = program_cache.compiled(jax.jit(_solve), ARGS, "entry")
    assert reused is True
    for out in (first(*ARGS), second(*ARGS)):
        assert isinstance(out, optimizers.OptimizeResult) and isinstance(out.trace, optimizers.Trace)
        np.testing.assert_array_equal(out.x, direct.x)
        np.testing.assert_array_equal(out.nit, direct.nit)
        np.testing.assert_array_equal(out.trace.x, direct.trace.x)
        assert out.grad is None or out.grad.shape == direct.grad.shape


def test_a_corrupt_entry_is_a_miss_and_is_written_again(folder):
    (folder / "entry.jaxexport").write_bytes(b"not a program")
    executable, reused = program_cache.compiled(jax.jit(_solve), ARGS, "entry")
    assert reused is False
    assert float(executable(*ARGS).fun.max()) < 1e-10
    assert program_cache.compiled(jax.jit(_solve), ARGS, "entry")[1] is True


def test_without_an_entry_or_a_cache_the_program_is_compiled_as_before(folder, monkeypatch):
    executable, reused = program_cache.compiled(jax.jit(_solve), ARGS, None)
    assert reused is None and not list(folder.iterdir())
    monkeypatch.setattr(program_cache, "program_dir", lambda: None)
    assert program_cache.compiled(jax.jit(_solve), ARGS, "entry")[1] is None
    np.testing.assert_array_equal(executable(*ARGS).x, jax.jit(_solve)(*ARGS).x)


def test_the_key_follows_what_the_program_is_built_from(tmp_path):
    parts = {"problem": "rosenbrock", "params": {}, "method": "lbfgs", "options": {"m": 10}, "shape": (8, 2)}
    base = program_cache.key(parts)
    assert program_cache.key(dict(parts)) == base
    for change in ({"options": {"m": 5}}, {"shape": (9, 2)}, {"params": {"n": 4}}, {"method": "bfgs"}):
        assert program_cache.key({**parts, **change}) != base, change
    source = tmp_path / "problem.py"
    source.write_text("a = 1\n")
    with_source = program_cache.key(parts, [source])
    assert with_source != base
    source.write_text("a = 2\n")
    assert program_cache.key(parts, [source]) != with_source

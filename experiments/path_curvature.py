"""The curvature along a recorded path: the extreme Hessian eigenvalues at every iterate,
for the curvature plots (``trace.csv`` columns ``eig_min`` and ``eig_max``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["curvature_along_path"]

# Above this dimension the Hessian eigenvalues along a path come from Lanczos, not eigh.
_DENSE_EIG_MAX_DIM = 64


def curvature_along_path(fun, path: np.ndarray, nit: np.ndarray) -> np.ndarray:
    """(starts, max_iter + 1, 2): smallest and largest Hessian eigenvalue at each iterate.

    Dense ``curvature.hessian`` + ``numpy.linalg.eigvalsh`` up to dimension 64; above, the
    extreme eigenvalues of ``curvature.hessian_operator`` by Lanczos
    (``curvature.eigenvalues(op, 1, which="both")``). NaN after each run's last iterate.
    """
    import curvature

    starts, length, n = path.shape
    out = np.full((starts, length, 2), np.nan)
    valid = np.arange(length)[None, :] <= np.asarray(nit)[:, None]
    points = np.where(valid[..., None], path, np.nan)
    filled = np.where(np.isfinite(points), points, np.nan_to_num(path[:, :1, :]))
    flat = jnp.asarray(filled.reshape(-1, n), dtype=path.dtype)
    if n <= _DENSE_EIG_MAX_DIM:
        hessians = np.asarray(_dense_hessians(fun)(flat))
        eig = np.linalg.eigvalsh(hessians)
        pair = np.stack([eig[:, 0], eig[:, -1]], axis=-1)
    else:
        def extremes(x):
            values = curvature.eigenvalues(curvature.hessian_operator(fun, x), 1, which="both")
            values = jnp.sort(jnp.ravel(values))
            return jnp.stack([values[0], values[-1]])

        pair = np.asarray(jax.jit(jax.lax.map, static_argnums=0)(extremes, flat))
    out[:] = pair.reshape(starts, length, 2)
    out[~valid] = np.nan
    return out


_HESSIAN_FNS: dict = {}


def _dense_hessians(fun):
    """One jitted, vmapped dense Hessian per problem function (compiled once per shape)."""
    import curvature

    fn = _HESSIAN_FNS.get(fun)
    if fn is None:
        fn = _HESSIAN_FNS[fun] = jax.jit(jax.vmap(lambda x: curvature.hessian(fun, x)))
    return fn

"""Hessian spectral densities at a run's start and end, for the spectrum plots
(``[plots] spectrum = true``; stored in ``spectra.json`` next to ``results.json``).

The end point of a run of more than 10 dimensions is not stored anywhere (``results.json``
keeps points up to dimension 10, ``trace.csv`` the coordinates of 2-D paths), so the
density is computed by the runner right after the pair's call, while the final iterates
are in memory, and only the density is kept: a few kB per point where the iterates of an
MLP would take more and a plot would have to rebuild the problem to use them.

For each (problem, optimizer) pair: the density at start 0's x0 (the same for every
optimizer of the problem: it is stored once) and at start 0's final iterate, from
``curvature.spectral_density(curvature.hessian_operator(f, x), key, 8 probes, Lanczos
order min(dim, 32))``. The key depends only on the config seed and the problem label, so
every point of a problem is probed with the same vectors. One compilation per problem
(about 3 s on 2 CPU cores; the persistent compilation cache keeps it for the next run),
milliseconds per point after that.
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["MAX_DIM", "MIN_DIM", "NUM_PROBES", "LANCZOS_ORDER", "has_spectrum", "pair_spectra", "spectrum_entry"]

MIN_DIM = 3  # one or two eigenvalues are the curvature figure's business
MAX_DIM = 10_000  # the Lanczos vectors of 8 probes stay under 25 MB
NUM_PROBES = 8
LANCZOS_ORDER = 32


def has_spectrum(dim: int) -> bool:
    """Whether a problem of dimension ``dim`` gets spectral densities."""
    return MIN_DIM <= int(dim) <= MAX_DIM


def spectrum_entry(fun, x, key) -> dict:
    """The density of the Hessian of ``fun`` at the flat point ``x`` as plain lists:
    ``grid``, ``density``, ``sigma``, and the quadrature ``nodes`` and ``weights``
    (probes x order) it was smoothed from."""
    import curvature

    x = jnp.asarray(x)
    order = min(int(x.shape[0]), LANCZOS_ORDER)
    sd = curvature.spectral_density(curvature.hessian_operator(fun, x), key, num_probes=NUM_PROBES,
                                    lanczos_order=order)
    sd = jax.device_get(sd)
    return {"grid": np.asarray(sd.grid, np.float64).tolist(), "density": np.asarray(sd.density, np.float64).tolist(),
            "sigma": float(sd.sigma), "nodes": np.asarray(sd.nodes, np.float64).tolist(),
            "weights": np.asarray(sd.weights, np.float64).tolist()}


def pair_spectra(fun, problem_label: str, label: str, seed: int, x0, x_end, nit: int) -> list[dict]:
    """The ``spectra.json`` entries of one pair: the density at ``x0`` (``label`` None,
    ``point`` "start") and at ``x_end`` after ``nit`` iterations (``point`` "end")."""
    from experiments.starts import seed_key

    key = jax.random.fold_in(seed_key(seed), zlib.crc32(problem_label.encode("utf-8")) & 0x7FFFFFFF)
    out = []
    for point, where, x in (("start", None, x0), ("end", label, x_end)):
        entry = {"problem": problem_label, "label": where, "point": point, "start": 0,
                 "iteration": 0 if point == "start" else int(nit)}
        if not np.all(np.isfinite(np.asarray(x))):
            entry["error"] = "the point is not finite"
        else:
            entry.update(spectrum_entry(fun, x, key))
            if not np.all(np.isfinite(entry["density"])):
                entry = {k: entry[k] for k in ("problem", "label", "point", "start", "iteration")}
                entry["error"] = "the Hessian is not finite there"
        out.append(entry)
    return out

"""The unconstrained CUTEst problems, as packaged in JAX by ``sif2jax`` (optional extra ``cutest``).

``pip install -e ".[cutest]"`` makes every unconstrained problem of
``sif2jax.unconstrained_minimisation_problems`` a registry problem named ``cutest_<sif
name, lower case>`` (``cutest_rosenbr``, ``cutest_10foldtrls``: sif2jax's ``problem.name``) with:

- ``fun(x) = problem.objective(x, problem.args)``, returned in the dtype of ``x``;
- ``x0 = problem.y0`` (the SIF file's start; for the few problems with several, the first);
- ``f_star = problem.expected_objective_value`` (None where the package records none); no
  ``x_star``: ``expected_result`` is not always a minimizer (at HIMMELBCLS's, f = 44.6
  where f* = 0; at CHWIRUT1LS's, 2388 where f* = 2.389);
- the package's default size: ``dim`` is fixed, no parameters;
- tags ``cutest`` and one size class, ``cutest-small`` (n <= 100), ``cutest-medium``
  (100 < n <= 1000) or ``cutest-large`` (n > 1000).

Nothing here imports sif2jax until the registry needs a CUTEst problem: a ``cutest_``
name, a ``cutest*`` tag, or the full list (``names()``, ``curvax list problems``). Without
sif2jax those problems are absent and asking for one says how to install them.

``import sif2jax`` builds every problem of the package (constrained ones included, some of
which fill matrices element by element at import): a minute or more of CPU. Only the
unconstrained subpackage is needed, so it is loaded on its own (about a second) under a
private module name (``_curvax_sif2jax``), its parent packages standing in as bare folders;
a later ``import sif2jax`` by the user is unaffected. If that fails (another layout of the
package), the full ``import sif2jax`` is used instead.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import math
import sys
import time
import types
import warnings

from .registry import defer, draft, register

PREFIX = "cutest_"
TAGS = ("cutest", "cutest-small", "cutest-medium", "cutest-large")
SMALL, MEDIUM = 100, 1000
INSTALL_HINT = 'the CUTEst problems need the optional package sif2jax: pip install -e ".[cutest]"'
_ALIAS = "_curvax_sif2jax"

# Seconds the last load took (the subpackage import, the shapes of every x0), for the record.
load_seconds = None


def missing():
    """None when sif2jax is importable, else the install hint."""
    if "sif2jax" in sys.modules:
        return None
    try:
        found = importlib.util.find_spec("sif2jax") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else INSTALL_HINT


def size_tag(n: int) -> str:
    return "cutest-small" if n <= SMALL else "cutest-medium" if n <= MEDIUM else "cutest-large"


def registry_name(problem) -> str:
    """``cutest_`` and the problem's SIF name in lower case."""
    return PREFIX + problem.name.lower()


def _bare_package(name: str, path: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [path]
    module.__package__ = name
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__spec__.submodule_search_locations = [path]
    return module


def unconstrained_problems() -> tuple:
    """sif2jax's ``unconstrained_minimisation_problems`` (instances, duplicates dropped by
    name), importing as little of the package as possible (see the module docstring)."""
    full = sys.modules.get("sif2jax")
    if full is not None and hasattr(full, "unconstrained_minimisation_problems"):
        found = full.unconstrained_minimisation_problems
    else:
        try:
            found = _load_subpackage()
        except Exception as err:  # another layout of the package: the documented import
            warnings.warn(f"loading sif2jax's unconstrained problems on their own failed ({err!r}); "
                          "importing all of sif2jax instead (a minute or more)", RuntimeWarning, stacklevel=2)
            import sif2jax

            found = sif2jax.unconstrained_minimisation_problems
    seen, out = set(), []
    for problem in found:
        if problem.name not in seen:  # 0.0.8 lists SCURLY10/20/30 twice
            seen.add(problem.name)
            out.append(problem)
    return tuple(out)


def _load_subpackage():
    loaded = sys.modules.get(f"{_ALIAS}.cutest._unconstrained_minimisation")
    if loaded is None:
        spec = importlib.util.find_spec("sif2jax")
        root = spec.submodule_search_locations[0]
        sys.modules.setdefault(_ALIAS, _bare_package(_ALIAS, root))
        sys.modules.setdefault(f"{_ALIAS}.cutest", _bare_package(f"{_ALIAS}.cutest", f"{root}/cutest"))
        loaded = importlib.import_module(f"{_ALIAS}.cutest._unconstrained_minimisation")
    return loaded.unconstrained_minimisation_problems


def _description(problem, sif: str, n: int) -> str:
    doc = inspect.cleandoc(type(problem).__doc__ or "")
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    classification = next((line.split(":", 1)[1].strip() for line in doc.splitlines()
                           if line.strip().lower().startswith("classification:")), None)
    text = f"CUTEst {sif} (sif2jax), n = {n}"
    if classification:
        text += f", classification {classification}"
    return text + (f": {first}" if first else "")


def _factory(problem, sif: str, n: int):
    def build():
        import jax.numpy as jnp
        import numpy as np

        args = problem.args
        objective = problem.objective

        def fun(x):
            return jnp.asarray(objective(x, args)).astype(x.dtype)

        f_star = problem.expected_objective_value
        f_star = None if f_star is None else float(np.asarray(f_star))
        if f_star is not None and not math.isfinite(f_star):
            f_star = None
        return draft(fun, np.asarray(problem.y0, dtype=np.float64), f_star=f_star,
                     description=_description(problem, sif, n))

    build.__name__ = f"cutest_{sif}"
    return build


def load() -> None:
    """Register every unconstrained sif2jax problem (called by the registry on first need).

    Runs with float64 enabled, so that the few data tables sif2jax builds at import
    (OSBORNEA, OSBORNEB) are float64 whatever the precision of the run that first asks.
    """
    global load_seconds
    import jax

    t0 = time.perf_counter()
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        problems = unconstrained_problems()
        for problem in problems:
            n = int(math.prod(jax.eval_shape(lambda p=problem: p.y0).shape))
            register(registry_name(problem), tags=("cutest", size_tag(n)),
                     footprint=lambda n=n: n)(_factory(problem, problem.name, n))
    finally:
        jax.config.update("jax_enable_x64", before)
    load_seconds = time.perf_counter() - t0


defer(PREFIX, tags=TAGS, load=load, missing=missing, what="the CUTEst problems")

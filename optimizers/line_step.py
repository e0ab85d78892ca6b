"""The step shared by the line-search methods (lbfgs, bfgs, newton, newton-cg).

x+ = x + t d with t from the strong-Wolfe search (N&W Alg. 3.5/3.6; c1 = 1e-4, c2 = 0.9),
trial evaluations counted. A search that finds no decrease leaves x where it is.
"""

from __future__ import annotations

import jax.numpy as jnp

from optimizers.linesearch import LineSearchResult, strong_wolfe
from optimizers.method import Iterate
from optimizers.options import integer, real

__all__ = ["WOLFE_OPTIONS", "check_wolfe_constants", "first_scale", "restart_or_stall", "wolfe_step"]

#: Options of the strong-Wolfe search, shared by every line-search method.
WOLFE_OPTIONS = {
    "c1": real(1e-4, "sufficient-decrease (Armijo) constant of the line search", 0.0, 1.0),
    "c2": real(0.9, "curvature constant of the strong-Wolfe line search, c1 < c2 < 1", 0.0, 1.0),
    "ls_max_iter": integer(25, "most trial steps (f and g evaluations) per line search", 1),
}


def check_wolfe_constants(opts) -> None:
    """The ``validate`` hook of every method with ``WOLFE_OPTIONS``: 0 < c1 < c2 < 1.

    Each option's own check gives 0 < c < 1; this adds c1 < c2, without which a point
    satisfying both conditions need not exist. Concrete values only: a traced c1 or c2
    (a float option passed through ``jax.jit``) cannot be compared and is not checked.
    """
    c1, c2 = opts["c1"], opts["c2"]
    if isinstance(c1, (int, float)) and isinstance(c2, (int, float)) and not c1 < c2:
        raise ValueError(f"options 'c1' and 'c2': the strong-Wolfe line search needs "
                         f"0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")


def wolfe_step(objective, it: Iterate, d, opts, init_step=1.0) -> tuple[Iterate, LineSearchResult]:
    """Strong-Wolfe search from ``it`` along ``d``; the new iterate (unchanged x if no decrease)."""
    ls = strong_wolfe(
        objective.value_and_grad, it.x, it.f, it.g, d,
        init_step=init_step, c1=opts["c1"], c2=opts["c2"], max_iter=opts["ls_max_iter"],
    )
    new = it._replace(x=ls.x, f=ls.f, g=ls.g).counted(nfev=ls.nfev, ngev=ls.ngev)
    return new, ls


def restart_or_stall(new: Iterate, decrease, has_memory):
    """Quasi-Newton failure rule: when the search along the quasi-Newton direction finds no
    decrease, drop the curvature memory (the next step is scaled steepest descent); when
    there was no memory to drop, the method has stalled. Returns (iterate, restart)."""
    failed = ~decrease
    return new._replace(stalled=failed & ~has_memory), failed & has_memory


def first_scale(g):
    """Step scale of the first quasi-Newton iteration, min(1, 1/||g||_2): x moves at most 1."""
    gn = jnp.linalg.norm(g)
    return jnp.where(gn > 1, 1 / jnp.where(gn > 1, gn, 1), 1.0).astype(g.dtype)

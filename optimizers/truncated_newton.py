"""Line-search Newton-CG (truncated Newton), Nocedal & Wright Alg. 7.1.

The direction solves H d = -g by CG (``curvature.hvp`` products, never forming H) to the
forcing tolerance ||H d + g|| <= eta ||g||, eta = min(0.5, sqrt(||g||)) (superlinear
convergence, N&W Thm. 7.2), and stops at the first direction of non-positive curvature,
returning the CG iterate so far, or -g if that happens at the first CG step. At most
``cg_max_iter`` products per iteration (default 20 n, as scipy). Then a strong-Wolfe line
search from the unit step; no decrease stops with NO_PROGRESS.
"""

from __future__ import annotations

import jax.numpy as jnp

from optimizers.krylov import truncated_cg
from optimizers.line_step import WOLFE_OPTIONS, check_wolfe_constants, wolfe_step
from optimizers.method import Iterate, Method
from optimizers.options import integer

__all__ = ["NEWTON_CG", "CG_MAX_ITER", "cg_cap", "forcing_rtol"]

#: The CG iteration cap option shared by the Newton-CG methods.
CG_MAX_ITER = integer(None, "most Hessian-vector products per CG solve (None: 20 n)", 1, optional=True)


def cg_cap(opts, n: int) -> int:
    """The CG iteration cap: the ``cg_max_iter`` option, or 20 n when it is None."""
    return 20 * n if opts["cg_max_iter"] is None else opts["cg_max_iter"]


def forcing_rtol(g):
    """eta = min(0.5, sqrt(||g||_2)), the relative CG tolerance of N&W Alg. 7.1 / 7.2."""
    return jnp.minimum(0.5, jnp.sqrt(jnp.linalg.norm(g)))


def _step(objective, it: Iterate, state, opts):
    cg = truncated_cg(lambda v: objective.hvp(it.x, v), -it.g,
                      rtol=forcing_rtol(it.g), max_iter=cg_cap(opts, it.x.size))
    new, ls = wolfe_step(objective, it.counted(nhvp=cg.iters), cg.x, opts)
    return new._replace(stalled=~ls.decrease), state


NEWTON_CG = Method(
    name="newton-cg",
    init=lambda x, opts: (),
    step=_step,
    options={"cg_max_iter": CG_MAX_ITER, **WOLFE_OPTIONS},
    doc="line-search Newton-CG (truncated Newton, N&W Alg. 7.1)",
    validate=check_wolfe_constants,
)

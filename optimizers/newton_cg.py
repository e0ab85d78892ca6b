"""Line-search Newton-CG (truncated Newton), Nocedal & Wright Alg. 7.1, method ``newton-cg``.

The direction solves H d = -g by CG (``curvature.hvp`` products, never forming H) to the
forcing tolerance ||H d + g|| <= eta ||g||, eta = min(0.5, sqrt(||g||)) (superlinear
convergence, N&W Thm. 7.2), and stops at the first direction of non-positive curvature,
returning the CG iterate so far, or -g if that happens at the first CG step. At most
``cg_max_iter`` products per iteration (default 20 n, as scipy). Then a strong-Wolfe line
search from the unit step; no decrease stops with NO_PROGRESS.

:func:`cg_direction` is the same direction over any curvature products (the Gauss-Newton
matrix for ``gauss-newton``); as a trust-region model it gives the products themselves
(``trust-ncg``, ``trust-krylov``, ``levenberg-marquardt``).
"""

from __future__ import annotations

import optax

from optimizers._compose import Direction, Model, Proposal, compose
from optimizers._krylov import CG_MAX_ITER, cg_cap, forcing_rtol, truncated_cg
from optimizers._line_search import STRONG_WOLFE
from optimizers._method import Iterate
from optimizers._transforms import transform

__all__ = ["newton_cg", "HESSIAN_PRODUCTS", "NEWTON_CG", "cg_direction", "hessian_products"]


def hessian_products(objective, x, opts):
    """v -> H(x) v by forward-over-reverse (``curvature.hvp``)."""
    return lambda v: objective.hvp(x, v)


def cg_direction(name: str, products, options=None, validate=None) -> Direction:
    """The truncated-CG Newton direction over ``products(objective, x, opts) -> matvec``."""

    def propose(objective, it: Iterate, state, opts) -> Proposal:
        u = it.linear
        cg = truncated_cg(products(objective, it.x, opts), -u, rtol=forcing_rtol(u),
                          max_iter=cg_cap(opts, it.x.size))
        return Proposal(it.counted(nhvp=cg.iters), cg.x, state)

    def model(objective, it: Iterate, state, opts) -> Model:
        return Model(it, products(objective, it.x, opts), None, state)

    return Direction(name, {"cg_max_iter": CG_MAX_ITER, **(options or {})}, propose=propose, model=model,
                     validate=validate)


HESSIAN_PRODUCTS = cg_direction("hessian", hessian_products)

NEWTON_CG = compose("newton-cg", HESSIAN_PRODUCTS, STRONG_WOLFE,
                    "line-search Newton-CG (truncated Newton, N&W Alg. 7.1)")


def newton_cg(**options) -> optax.GradientTransformationExtraArgs:
    """Line-search Newton-CG (N&W Alg. 7.1) as an optax transform; options: cg_max_iter, c1, c2, ls_max_iter."""
    return transform(NEWTON_CG, **options)

"""Line-search Newton-CG (truncated Newton), Nocedal & Wright Alg. 7.1, method ``newton-cg``.

The direction solves H d = -g by CG (``curvature.hvp`` products, never forming H) to the
forcing tolerance ||H d + g|| <= eta ||g||, eta = min(0.5, sqrt(||g||)) (superlinear
convergence, N&W Thm. 7.2), and stops at the first direction of non-positive curvature,
returning the CG iterate so far, or -g if that happens at the first CG step; where that
curvature is strictly negative, a downhill step along it is added
(:func:`negative_curvature_step`), which scipy's Newton-CG does not do. At most
``cg_max_iter`` products per iteration (default 20 n, as scipy). Then a strong-Wolfe line
search from the unit step; no decrease stops with NO_PROGRESS.

:func:`cg_direction` is the same direction over any curvature products (the Gauss-Newton
matrix for ``gauss-newton``); as a trust-region model it gives the products themselves
(``trust-ncg``, ``trust-krylov``, ``levenberg-marquardt``).
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from optimizers._compose import Direction, Model, Proposal, compose
from optimizers._krylov import CG_MAX_ITER, cg_cap, forcing_rtol, truncated_cg
from optimizers._line_search import STRONG_WOLFE
from optimizers._method import Iterate
from optimizers._transforms import transform

__all__ = ["newton_cg", "HESSIAN_PRODUCTS", "NEWTON_CG", "cg_direction", "hessian_products", "negative_curvature_step"]


def negative_curvature_step(cg, g, x):
    """The step along CG's direction of negative curvature p, added to the CG iterate.

    Where CG stops at p.Hp < 0 the iterate alone is a short steepest-descent-like step: in a
    region where H has one negative eigenvalue among large positive ones (a curved valley
    seen from its rim: MGH Beale or Box 3-D from 10 x the standard start) that step is
    limited by the large eigenvalues, and Newton-CG (as scipy's) crawls for thousands of
    iterations. Along p the quadratic model decreases without bound, so p is the direction
    to leave by (More & Sorensen 1979; Gould, Lucidi, Roma & Toint 2000): oriented downhill
    (g.p <= 0), of length ||g|| / kappa with kappa = -p.Hp / ||p||^2 (where the model's
    slope ||g|| and its curvature -kappa balance), capped at max(1, ||x||), then left to the
    line search. Zero where CG met no strictly negative curvature, so positive-definite
    problems take the plain Newton-CG step."""
    p = cg.negative_direction
    pp = jnp.vdot(p, p)
    found = pp > 0
    safe_pp = jnp.where(found, pp, 1)
    kappa = -cg.negative_curvature / safe_pp
    length = jnp.minimum(jnp.linalg.norm(g) / jnp.where(found, kappa, 1), jnp.maximum(1, jnp.linalg.norm(x)))
    downhill = jnp.where(jnp.vdot(g, p) > 0, -1, 1)
    return jnp.where(found, downhill * length / jnp.sqrt(safe_pp), 0) * p


def hessian_products(objective, x, opts):
    """v -> H(x) v by forward-over-reverse (``curvature.hvp``)."""
    return lambda v: objective.hvp(x, v)


def cg_direction(name: str, products, options=None, validate=None) -> Direction:
    """The truncated-CG Newton direction over ``products(objective, x, opts) -> matvec``."""

    def propose(objective, it: Iterate, state, opts) -> Proposal:
        u = it.linear
        cg = truncated_cg(products(objective, it.x, opts), -u, rtol=forcing_rtol(u),
                          max_iter=cg_cap(opts, it.x.size))
        return Proposal(it.counted(nhvp=cg.iters), cg.x + negative_curvature_step(cg, u, it.x), state)

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

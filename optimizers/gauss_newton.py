"""Gauss-Newton with a line search, method ``gauss-newton`` (N&W Sec. 10.3).

For f(x) = sum(r(x)^2) (or loss(model(x)) with a convex loss) the direction solves
G d = -g with G = J^T H_L J the Gauss-Newton matrix, by CG on Gauss-Newton products
(``curvature.ggn_operator``; J is never formed) to the forcing tolerance
min(0.5, sqrt(||g||)) ||g||, then a strong-Wolfe line search. G is positive semidefinite, so
d is a descent direction (CG stops at the first direction of zero curvature). Needs
``residual=`` or ``model_fn=``/``loss_fn=``; ``optimizers.least_squares`` passes them.
Converges quadratically on zero-residual problems, linearly (or not at all) when the residual
at the solution is large: then ``levenberg-marquardt`` or ``trust-ncg`` are safer.
"""

from __future__ import annotations

import optax

from optimizers._compose import compose
from optimizers._curvature_split import SPLIT_OPTIONS, check_split, curvature_operator
from optimizers._line_search import STRONG_WOLFE
from optimizers._transforms import transform
from optimizers.newton_cg import cg_direction

__all__ = ["gauss_newton", "GAUSS_NEWTON", "GAUSS_NEWTON_PRODUCTS"]


def _ggn_products(objective, x, opts):
    return curvature_operator(objective, x, {**opts, "curvature": "ggn"}).matvec


def _needs_split(opts):
    # No method name here: this direction is also levenberg-marquardt's, and resolve()
    # prefixes the name of the method being resolved.
    check_split({**opts, "curvature": "ggn"}, None, ggn_only=True)


def _split_options():
    return {k: v for k, v in SPLIT_OPTIONS.items() if k != "curvature"}


#: CG on Gauss-Newton products, as a line-search direction or a trust-region model.
GAUSS_NEWTON_PRODUCTS = cg_direction("gauss-newton", _ggn_products, _split_options(), _needs_split)

GAUSS_NEWTON = compose("gauss-newton", GAUSS_NEWTON_PRODUCTS, STRONG_WOLFE,
                       "Gauss-Newton: CG on J^T J products and a strong-Wolfe line search (sums of squares)")


def gauss_newton(**options) -> optax.GradientTransformationExtraArgs:
    """Gauss-Newton as an optax transform; pass residual= or model_fn=/loss_fn=."""
    return transform(GAUSS_NEWTON, **options)

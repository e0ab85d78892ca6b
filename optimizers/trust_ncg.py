"""Trust-region Newton-CG, method ``trust-ncg``: Steihaug-Toint CG (N&W Alg. 7.2) inside the
trust region of N&W Alg. 4.1 (:mod:`optimizers._trust_region`).

Each iteration approximately minimizes m(p) = g.p + p.Hp / 2 over ||p|| <= radius by
Steihaug CG (``curvature.hvp`` products; forcing tolerance eta_k = min(0.5, sqrt(||g||)); a
direction of non-positive curvature goes to the boundary), evaluates f and g at x + p and
forms rho. rho < 1/4 -> radius / 4; rho > 3/4 with p on the boundary -> min(2 radius,
max_radius); the step is taken when rho > eta (default 0.15). The same as scipy's
``trust-ncg``.
"""

from __future__ import annotations

import optax

from optimizers._compose import compose
from optimizers._transforms import transform
from optimizers._trust_region import trust_region
from optimizers.newton_cg import HESSIAN_PRODUCTS

__all__ = ["trust_ncg", "TRUST_NCG"]

TRUST_NCG = compose("trust-ncg", HESSIAN_PRODUCTS, trust_region("steihaug"),
                    "trust-region Newton-CG with Steihaug-Toint CG (N&W Alg. 7.2 + 4.1)")


def trust_ncg(**options) -> optax.GradientTransformationExtraArgs:
    """Trust-region Newton-CG (N&W Alg. 7.2 + 4.1) as an optax transform; the radius lives in the state."""
    return transform(TRUST_NCG, **options)

"""Trust-region Newton with the GLTR subproblem solver, method ``trust-krylov``.

The trust region of N&W Alg. 4.1 (:mod:`optimizers._trust_region`) around the Hessian model,
its subproblem solved by Gould, Lucidi, Roma & Toint (1999): Lanczos on Hessian-vector
products started at g, which is CG while the iterates stay inside the region; once the
boundary or negative curvature is met, the subproblem restricted to the Krylov space is
solved nearly exactly on the tridiagonal matrix (the Moré-Sorensen iteration, hard case
included), until the residual estimate falls below eta ||g||, eta = min(0.5, sqrt(||g||)).
Unlike Steihaug-Toint CG it does not stop at the first boundary crossing or negative
curvature, so its steps are never worse in model value. Matrix-free; as scipy's
``trust-krylov``. At most ``cg_max_iter`` (default n) products per iteration.
"""

from __future__ import annotations

import optax

from optimizers._compose import compose
from optimizers._transforms import transform
from optimizers._trust_region import trust_region
from optimizers.newton_cg import HESSIAN_PRODUCTS

__all__ = ["trust_krylov", "TRUST_KRYLOV"]

TRUST_KRYLOV = compose("trust-krylov", HESSIAN_PRODUCTS, trust_region("gltr"),
                       "trust-region Newton with the GLTR Lanczos subproblem solver (Gould et al. 1999)")


def trust_krylov(**options) -> optax.GradientTransformationExtraArgs:
    """Trust-region Newton with GLTR as an optax transform; the radius lives in the state."""
    return transform(TRUST_KRYLOV, **options)

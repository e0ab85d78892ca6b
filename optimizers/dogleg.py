"""Dogleg trust-region method with the dense Hessian, method ``dogleg`` (N&W Sec. 4.1).

The step follows the dogleg path from 0 through the Cauchy point -(g.g / g.Hg) g to the
Newton point -H^-1 g, cut at the trust-region boundary (:mod:`optimizers._dogleg`). Where H is
not positive definite (no Cholesky factor) the Newton point does not exist: the step is then
the Cauchy point of N&W eq. 4.12 (to the boundary along -g when g.Hg <= 0, else the model's
minimizer along -g, cut at the boundary), so the method still decreases the model but only
as fast as a scaled steepest descent. Use trust-exact or trust-krylov on nonconvex problems.
As scipy's ``dogleg`` (which refuses an indefinite Hessian instead). Small n.
"""

from __future__ import annotations

import optax

from optimizers._compose import compose
from optimizers._transforms import transform
from optimizers._trust_region import trust_region
from optimizers.trust_exact import DENSE_HESSIAN

__all__ = ["dogleg", "DOGLEG"]

DOGLEG = compose("dogleg", DENSE_HESSIAN, trust_region("dogleg"),
                 "dogleg trust region with the dense Hessian (N&W Sec. 4.1; Cauchy point where H is indefinite)")


def dogleg(**options) -> optax.GradientTransformationExtraArgs:
    """The dogleg trust-region method as an optax transform (small n)."""
    return transform(DOGLEG, **options)

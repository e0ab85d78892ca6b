"""Levenberg-Marquardt, method ``levenberg-marquardt`` (Moré 1978; N&W Sec. 10.3).

The Gauss-Newton model m(p) = g.p + p.G p / 2 (G = J^T J, products only) with the trust
region in 1/radius form: p solves (G + lambda I) p = -g by CG, rho compares the actual
decrease with the model's, lambda *= ``damping_increase`` (4) when rho < 1/4 and
*= ``damping_decrease`` (1/4) when rho > 3/4, the step is taken when rho > eta
(:func:`optimizers._trust_region.update_damping`, the same rule as every trust region).
Needs ``residual=`` or ``model_fn=``/``loss_fn=``; ``optimizers.least_squares`` passes them.
"""

from __future__ import annotations

import optax

from optimizers._compose import compose
from optimizers._transforms import transform
from optimizers._trust_region import damped
from optimizers.gauss_newton import GAUSS_NEWTON_PRODUCTS

__all__ = ["levenberg_marquardt", "LEVENBERG_MARQUARDT"]

LEVENBERG_MARQUARDT = compose("levenberg-marquardt", GAUSS_NEWTON_PRODUCTS, damped(),
                              "Levenberg-Marquardt: damped Gauss-Newton products, lambda by the trust-region ratio")


def levenberg_marquardt(**options) -> optax.GradientTransformationExtraArgs:
    """Levenberg-Marquardt as an optax transform; lambda lives in the state."""
    return transform(LEVENBERG_MARQUARDT, **options)

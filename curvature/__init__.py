"""curvature: derivative and curvature operators on pytrees (Hessian-vector products,
Jacobians, Hessians, Gauss-Newton products, spectra, trace, critical points).

Operators act on flat ``(n,)`` vectors in ``jax.flatten_util.ravel_pytree(x)`` order and
are pytrees, usable inside ``jax.jit`` and ``jax.vmap``.
"""

from curvature.derivatives import gnvp, hessian, hvp, jacobian
from curvature.estimators import diagonal, trace
from curvature.geometry import (
    CRITICAL_POINT_LABELS,
    CriticalPoint,
    QuadraticModel,
    classify_critical_point,
    quadratic_model,
)
from curvature.lanczos import LanczosResult, lanczos
from curvature.operators import LinearOperator, ggn_operator, hessian_operator, linear_operator
from curvature.spectrum import (
    SpectralDensity,
    condition_number,
    default_num_iters,
    eigenvalues,
    spectral_density,
)

__all__ = [
    "CRITICAL_POINT_LABELS",
    "CriticalPoint",
    "LanczosResult",
    "LinearOperator",
    "QuadraticModel",
    "SpectralDensity",
    "classify_critical_point",
    "condition_number",
    "default_num_iters",
    "diagonal",
    "eigenvalues",
    "ggn_operator",
    "gnvp",
    "hessian",
    "hessian_operator",
    "hvp",
    "jacobian",
    "lanczos",
    "linear_operator",
    "quadratic_model",
    "spectral_density",
    "trace",
]

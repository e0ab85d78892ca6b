"""curvature: derivative and curvature operators on pytrees (Hessian-vector products,
Jacobians, Hessians, Gauss-Newton products, spectra, trace, critical points)."""

from curvature.derivatives import gnvp, hessian, hvp, jacobian

__all__ = ["gnvp", "hessian", "hvp", "jacobian"]

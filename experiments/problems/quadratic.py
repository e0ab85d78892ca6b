"""Convex quadratic with a prescribed spectrum, the model problem for conditioning studies."""

from __future__ import annotations

import numpy as np

from .registry import check, const, least_squares, register

_MAX_ROTATED_DIM = 2048


def _footprint(*, dim, rotate, **_):
    # the Gaussian matrix, its QR and the scaled factor (above the cap the factory refuses)
    return dim * dim * 3 if rotate and dim <= _MAX_ROTATED_DIM else dim


@register("ill_conditioned_quadratic", tags=("ill-conditioned", "convex", "least-squares", "scalable"),
          footprint=_footprint)
def ill_conditioned_quadratic(*, dim: int = 100, cond: float = 1e4, seed: int = 0, rotate: bool = True):
    """f(x) = x^T A x / 2 with A = Q diag(lambda) Q^T, lambda_k = cond^(k / (dim - 1)); f* = 0 at 0.

    The eigenvalues are log-spaced from 1 to ``cond`` (so kappa(A) = cond exactly). With
    ``rotate`` Q is a Haar-random orthogonal matrix (QR of a Gaussian matrix from
    ``numpy.random.RandomState(seed)``, signs fixed by diag(R) > 0; dim <= 2048), otherwise
    Q = I and the cost is O(dim). ``residual = sqrt(lambda / 2) * Q^T x``. Start: all ones.
    CG and Newton-CG need at most dim iterations; gradient descent needs O(cond).
    """
    check(dim >= 1, f"dim must be >= 1, got {dim}")
    check(cond >= 1.0, f"cond must be >= 1, got {cond}")
    check(seed >= 0, f"seed must be >= 0, got {seed}")
    check(not rotate or dim <= _MAX_ROTATED_DIM,
          f"rotate=True builds a dense dim x dim rotation, so dim must be <= {_MAX_ROTATED_DIM} "
          f"(got {dim}); pass rotate=False for larger dims")
    scale = np.sqrt(0.5 * np.logspace(0.0, np.log10(cond), dim)) if dim > 1 else np.sqrt([0.5])
    if rotate:
        q, r = np.linalg.qr(np.random.RandomState(seed).standard_normal((dim, dim)))
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
        factor = q.T * scale[:, None]  # residual = diag(scale) Q^T x

        def residual(x):
            return const(factor, x) @ x
    else:
        def residual(x):
            return const(scale, x) * x

    return least_squares(residual, np.ones(dim), f_star=0.0, x_star=np.zeros(dim),
                         minima=[(0.0, 0.0)] if dim == 2 else [], box=(-2.0, 2.0),
                         description=ill_conditioned_quadratic.__doc__)

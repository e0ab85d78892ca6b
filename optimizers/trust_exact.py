"""Trust-region Newton with the exact subproblem solution, method ``trust-exact``.

The dense Hessian (n products, ``curvature.hessian``) as the model of the trust region of N&W
Alg. 4.1; the subproblem min g.p + p.Hp/2, ||p|| <= radius, solved to high accuracy by
Moré & Sorensen (1983), N&W Alg. 4.3, hard case included (:mod:`optimizers._more_sorensen`).
O(n^3) per iteration: for n up to ``DENSE_MAX_DIM``. As scipy's ``trust-exact``.
"""

from __future__ import annotations

import optax

from optimizers._compose import Direction, Model, compose
from optimizers._method import DENSE_MAX_DIM, Iterate
from optimizers._transforms import transform
from optimizers._trust_region import trust_region

__all__ = ["trust_exact", "DENSE_HESSIAN", "TRUST_EXACT"]


def _model(objective, it: Iterate, state, opts) -> Model:
    return Model(it.counted(nhvp=it.x.size), None, objective.hessian(it.x), state)


#: The dense Hessian as a trust-region model (n Hessian-vector products' worth).
DENSE_HESSIAN = Direction("dense-hessian", {}, model=_model, workspace=lambda n, opts: 2 * n * n,
                          max_dim=DENSE_MAX_DIM)

TRUST_EXACT = compose("trust-exact", DENSE_HESSIAN, trust_region("exact"),
                      "trust-region Newton, exact subproblem by Moré-Sorensen (N&W Alg. 4.3; small n)")


def trust_exact(**options) -> optax.GradientTransformationExtraArgs:
    """Trust-region Newton with the exact subproblem as an optax transform (small n)."""
    return transform(TRUST_EXACT, **options)

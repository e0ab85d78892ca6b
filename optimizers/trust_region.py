"""Trust-region Newton-CG: Steihaug-Toint CG (N&W Alg. 7.2) inside N&W Alg. 4.1.

Each iteration approximately minimizes m(p) = g.p + p.Hp / 2 over ||p|| <= radius by
Steihaug CG (``curvature.hvp`` products; forcing tolerance eta_k = min(0.5, sqrt(||g||)) as
in Alg. 7.2; a direction of non-positive curvature goes to the boundary), evaluates f and g
at x + p and forms rho = (f(x) - f(x + p)) / (-m(p)). Radius update and acceptance, Alg. 4.1:
rho < 1/4 -> radius / 4; rho > 3/4 with p on the boundary -> min(2 radius, max_radius);
the step is taken when rho > eta (default 0.15). A non-finite f(x + p) counts as rho = -inf.
When a step is rejected and the radius falls below eps max(1, ||x||) no step can change x:
the run stops with NO_PROGRESS.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optimizers.krylov import steihaug_cg
from optimizers.method import Iterate, Method
from optimizers.options import real
from optimizers.truncated_newton import CG_MAX_ITER, cg_cap, forcing_rtol

__all__ = ["TRUST_NCG", "TrustState"]

_BOUNDARY_STATUS = (1, 3)  # steihaug_cg: negative curvature (to the boundary), boundary hit


class TrustState(NamedTuple):
    """radius: the current trust-region radius."""

    radius: jax.Array


def _init(x, opts) -> TrustState:
    return TrustState(jnp.asarray(opts["initial_radius"], x.dtype))


def _step(objective, it: Iterate, state: TrustState, opts):
    radius = state.radius
    cg = steihaug_cg(lambda v: objective.hvp(it.x, v), it.g, radius,
                     rtol=forcing_rtol(it.g), max_iter=cg_cap(opts, it.x.size))
    x_try = it.x + cg.x
    f_try, g_try = objective.value_and_grad(x_try)
    predicted = -cg.model_value
    ok = jnp.isfinite(f_try) & jnp.all(jnp.isfinite(g_try)) & (predicted > 0)
    rho = jnp.where(ok, (it.f - f_try) / jnp.where(ok, predicted, 1), -jnp.inf)
    boundary = (cg.status == _BOUNDARY_STATUS[0]) | (cg.status == _BOUNDARY_STATUS[1])
    radius = jnp.where(
        rho < 0.25,
        0.25 * radius,
        jnp.where((rho > 0.75) & boundary, jnp.minimum(2 * radius, opts["max_radius"]), radius),
    )
    accept = rho > opts["eta"]
    new = it.counted(nfev=1, ngev=1, nhvp=cg.iters)
    moved = new._replace(x=x_try, f=f_try, g=g_try)
    new = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), moved, new)
    tiny = radius <= jnp.finfo(it.x.dtype).eps * jnp.maximum(1, jnp.linalg.norm(it.x))
    return new._replace(stalled=~accept & tiny), TrustState(radius.astype(it.x.dtype))


def _validate(opts):
    r0, rmax = opts["initial_radius"], opts["max_radius"]
    if isinstance(r0, (int, float)) and isinstance(rmax, (int, float)) and r0 > rmax:
        raise ValueError(f"method 'trust-ncg': initial_radius ({r0}) must be <= max_radius ({rmax})")


TRUST_NCG = Method(
    name="trust-ncg",
    init=_init,
    step=_step,
    options={
        "initial_radius": real(1.0, "trust-region radius of the first iteration", 0.0),
        "max_radius": real(1000.0, "largest trust-region radius", 0.0),
        "eta": real(0.15, "acceptance threshold on rho (N&W Alg. 4.1)", 0.0, 0.25, lo_closed=True),
        "cg_max_iter": CG_MAX_ITER,
    },
    doc="trust-region Newton-CG with Steihaug-Toint CG (N&W Alg. 7.2 + 4.1)",
    validate=_validate,
)

"""Levenberg-Marquardt damping for Hessian-free: the reduction ratio and the lambda update.

rho = (f(x + p) - f(x)) / (q(p) - q(0)) compares the actual decrease with the one the
quadratic model q predicted; lambda grows when the model was too optimistic and shrinks
when it was good (Martens 2010, Sec. 4.1; More 1978 for the Levenberg-Marquardt rule):

    rho < 1/4  ->  lambda *= 3/2,        rho > 3/4  ->  lambda *= 2/3.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["reduction_ratio", "update_damping"]


def reduction_ratio(f_new, f_old, model_decrease) -> jax.Array:
    """rho = (f_new - f_old) / model_decrease, with ``model_decrease = q(p) - q(0)``.

    A model that predicts no decrease (``model_decrease >= 0``) or a non-finite value gives
    rho = -inf (a failed step: damping goes up). Zero-safe in value and gradient.
    """
    f_new, f_old, md = jnp.asarray(f_new), jnp.asarray(f_old), jnp.asarray(model_decrease)
    ok = (md < 0) & jnp.isfinite(f_new) & jnp.isfinite(md)
    rho = (f_new - f_old) / jnp.where(ok, md, -1)
    return jnp.where(ok, rho, -jnp.inf)


def update_damping(
    damping,
    rho,
    *,
    increase: float = 1.5,
    decrease: float = 2.0 / 3.0,
    low: float = 0.25,
    high: float = 0.75,
    min_damping: float = 0.0,
    max_damping: float = jnp.inf,
) -> jax.Array:
    """Levenberg-Marquardt rule: lambda * increase if rho < low, lambda * decrease if rho > high.

    NaN rho counts as rho < low. The result is clipped to [min_damping, max_damping].
    """
    damping = jnp.asarray(damping)
    rho = jnp.asarray(rho, damping.dtype)
    bad = ~(rho >= low)
    good = rho > high
    new = jnp.where(bad, damping * increase, jnp.where(good, damping * decrease, damping))
    return jnp.clip(new, min_damping, max_damping)


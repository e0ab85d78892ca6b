"""Trust regions: one reduction ratio, one radius update, one acceptance rule, for every method.

With the model m(p) = g.p + p.B p / 2 (so m(0) = 0) and a trial step p:

- ratio: rho = (f(x) - f(x + p)) / (m(0) - m(p)), both reductions increased by the rounding
  of f (:func:`reduction_ratio`); where the predicted reduction and the computed change are
  both within the noise of f, the actual change comes from the slopes; a model that
  predicts no decrease, or a non-finite f(x + p), gives rho = -inf; a step above the
  lowest f met plus the noise of f fails (:func:`capped`);
- radius (N&W Alg. 4.1): rho < low -> radius * shrink; rho > high (and, where the
  globalisation asks, p on the boundary) -> min(radius * expand, max_radius)
  (:func:`update_radius`);
- acceptance: the step is taken when rho > eta (:func:`accepted`).

Levenberg-Marquardt damping is the same trust region in 1/radius form: the step solves
(B + lambda I) p = -g, and lambda = 1 / radius moves the opposite way under the same rule
(:func:`update_damping`: rho < 1/4 -> lambda * increase, rho > 3/4 -> lambda * decrease;
Moré 1978, Martens 2010 Sec. 4.1). Hessian-free uses it with its own CG.

Globalisations built here (:func:`trust_region`, :func:`damped`) take a direction's
:class:`~optimizers._compose.Model` and a subproblem solver: ``"steihaug"`` (Steihaug-Toint
CG, N&W Alg. 7.2), ``"gltr"`` (Lanczos, Gould et al. 1999), ``"exact"`` (Moré-Sorensen on
the dense B, N&W Alg. 4.3), ``"dogleg"`` (N&W Sec. 4.1). When a step is rejected and the
radius falls below eps max(1, ||x||), no step can change x: the run stops with NO_PROGRESS.

In an optax chain the subproblem's linear term is the incoming updates u (``it.linear``)
while rho compares f's change with f's own model g.p + p.B p / 2
(:func:`model_change_of_f`): p is proposed by the chain, judged by f.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from optimizers._compose import Globalisation
from optimizers._dogleg import dogleg
from optimizers._gltr import gltr
from optimizers._krylov import (
    BOUNDARY,
    CG_MAX_ITER,
    NEGATIVE_CURVATURE,
    cg_cap,
    forcing_rtol,
    steihaug_cg,
    truncated_cg,
)
from optimizers._method import Iterate
from optimizers._more_sorensen import more_sorensen
from optimizers._options import integer, real
from optimizers._step_length import f_cap, f_noise, f_resolution, lowest_f, no_lowest_f
from optimizers._subproblem import SubproblemResult

__all__ = ["DAMPING_OPTIONS", "NOISY_PREDICTION", "TRUST_OPTIONS", "TrustState", "accepted", "capped", "damped",
           "model_change_of_f", "reduction_ratio", "trust_region", "update_damping", "update_radius"]


#: A predicted reduction up to this many times the noise of f is "within the noise": there
#: acceptance (actual >= eta predicted, eta <= 1/4) turns on changes of f near the noise.
NOISY_PREDICTION = 10.0


def reduction_ratio(f_old, f_new, model_change, slope_change=None) -> jax.Array:
    """rho = (f_old - f_new + delta) / (m(0) - m(p) + delta), ``model_change = m(p) - m(0)``.

    delta = ``f_resolution(f_old)`` (a few ulps of |f_old|) is the rounding of f (Conn,
    Gould & Toint 2000, Sec. 17.4.2): where both reductions are far above it, rho is the
    plain ratio; where the predicted reduction falls below the rounding of f, rho tends to 1
    instead of to a random number, so the region neither collapses nor stops the run on
    rounding. A computed f carries more noise than rounding where it sums large canceling
    terms (``f_noise``, optimizers/_step_length.py); given ``slope_change`` = (g_old + g_new).p
    / 2, the trapezoid estimate of f_new - f_old from the slopes, that estimate replaces the
    computed change wherever the two f values differ by less than ``f_noise(f_old)`` and the
    predicted reduction is at most ``NOISY_PREDICTION`` times that noise (the line search
    likewise turns to the slopes only where the decrease it asks for is below the noise):
    the slopes stay accurate where f differences do not. A step the model says gains far
    more than the noise is still judged by f.
    A model that predicts no decrease (``model_change >= 0``) or a non-finite value gives
    rho = -inf (a failed step). Zero-safe in value and gradient.
    """
    f_new, f_old, mc = jnp.asarray(f_new), jnp.asarray(f_old), jnp.asarray(model_change)
    ok = (mc < 0) & jnp.isfinite(f_new) & jnp.isfinite(mc)
    change = f_new - f_old
    if slope_change is not None:
        slope_change = jnp.asarray(slope_change, change.dtype)
        noise = f_noise(f_old)
        noisy = (jnp.abs(change) <= noise) & (-mc <= NOISY_PREDICTION * noise) & jnp.isfinite(slope_change)
        change = jnp.where(noisy, slope_change, change)
    delta = f_resolution(f_old)
    rho = (change - delta) / (jnp.where(ok, mc, -1) - delta)
    return jnp.where(ok, rho, -jnp.inf)


def update_radius(radius, rho, *, boundary=True, shrink=0.25, expand=2.0, low=0.25, high=0.75,
                  max_radius=jnp.inf) -> jax.Array:
    """N&W Alg. 4.1: radius * shrink if rho < low; min(radius * expand, max_radius) if
    rho > high and ``boundary``; else unchanged. NaN rho counts as rho < low."""
    radius = jnp.asarray(radius)
    rho = jnp.asarray(rho, radius.dtype)
    bad = ~(rho >= low)
    good = (rho > high) & boundary
    new = jnp.where(bad, radius * shrink, jnp.where(good, jnp.minimum(radius * expand, max_radius), radius))
    return new.astype(radius.dtype)


def accepted(rho, eta) -> jax.Array:
    """The acceptance rule: take the step when rho > eta."""
    return rho > eta


def capped(rho, f_new, f_old, f_low) -> jax.Array:
    """rho, or -inf (a failed step) where f_new lies above ``f_cap(f_old, f_low)`` (f_old, or
    the lowest f met plus the noise of f where that is higher): the slopes may vouch for a
    step whose computed f rose within the noise, but a run never climbs by such steps, and
    the radius shrinks as after any failure."""
    return jnp.where(f_new <= f_cap(f_old, f_low), rho, -jnp.inf)


def update_damping(damping, rho, *, increase: float = 1.5, decrease: float = 2.0 / 3.0, low: float = 0.25,
                   high: float = 0.75, min_damping: float = 0.0, max_damping: float = jnp.inf) -> jax.Array:
    """The radius update in 1/radius form: lambda * increase if rho < low, lambda * decrease
    if rho > high, clipped to [min_damping, max_damping] (NaN rho counts as rho < low).

    lambda = 1 / radius, so this is :func:`update_radius` with shrink = 1 / increase,
    expand = 1 / decrease and no boundary condition; lambda = 0 (an infinite radius) stays 0.
    """
    damping = jnp.asarray(damping)
    safe = jnp.where(damping > 0, damping, 1)
    radius = update_radius(1 / safe, rho, shrink=1 / increase, expand=1 / decrease, low=low, high=high)
    new = jnp.where(damping > 0, 1 / radius, damping)
    return jnp.clip(new, min_damping, max_damping).astype(damping.dtype)


TRUST_OPTIONS = {
    "initial_radius": real(1.0, "trust-region radius of the first iteration", 0.0),
    "max_radius": real(1000.0, "largest trust-region radius", 0.0),
    "eta": real(0.15, "acceptance threshold on rho (N&W Alg. 4.1)", 0.0, 0.25, lo_closed=True),
}
_KRYLOV_OPTIONS = {"cg_max_iter": CG_MAX_ITER}
_EXACT_OPTIONS = {"subproblem_max_iter": integer(100, "most Newton steps on the secular equation", 1)}


class TrustState(NamedTuple):
    """radius: the current trust-region radius (or, damped, lambda). f_low: the lowest finite
    f of the accepted points (+inf before the first step); no step is taken above
    ``f_cap(f, f_low)``."""

    radius: jax.Array
    f_low: jax.Array


def _steihaug(model, g, radius, opts) -> SubproblemResult:
    cg = steihaug_cg(model.matvec, g, radius, rtol=forcing_rtol(g), max_iter=cg_cap(opts, g.size))
    boundary = (cg.status == NEGATIVE_CURVATURE) | (cg.status == BOUNDARY)
    return SubproblemResult(cg.x, cg.model_value, boundary, cg.iters, cg.status,
                            jnp.full((), jnp.nan, g.dtype))


def _gltr(model, g, radius, opts) -> SubproblemResult:
    cap = min(g.size, cg_cap(opts, g.size, 1))
    return gltr(model.matvec, g, radius, max_iter=cap, rtol=forcing_rtol(g))


def _exact(model, g, radius, opts) -> SubproblemResult:
    return more_sorensen(model.hess, g, radius, max_iter=opts["subproblem_max_iter"])


def _dogleg(model, g, radius, opts) -> SubproblemResult:
    return dogleg(model.hess, g, radius)


#: name -> (solver(model, g, radius, opts) -> SubproblemResult, its options, "matvec" | "hess")
SUBPROBLEMS = {
    "steihaug": (_steihaug, _KRYLOV_OPTIONS, "matvec"),
    "gltr": (_gltr, _KRYLOV_OPTIONS, "matvec"),
    "exact": (_exact, _EXACT_OPTIONS, "hess"),
    "dogleg": (_dogleg, {}, "hess"),
}


def _check_radii(opts):
    r0, rmax = opts["initial_radius"], opts["max_radius"]
    if isinstance(r0, (int, float)) and isinstance(rmax, (int, float)) and r0 > rmax:
        raise ValueError(f"options 'initial_radius' ({r0}) and 'max_radius' ({rmax}): need initial_radius <= "
                         "max_radius")


def _trial(objective, it: Iterate, p, model_change):
    """f, g at x + p, the ratio, and the iterate moved there (counted)."""
    x_try = it.x + p
    f_try, g_try = objective.value_and_grad(x_try)
    rho = reduction_ratio(it.f, jnp.where(jnp.all(jnp.isfinite(g_try)), f_try, jnp.nan), model_change,
                          0.5 * jnp.vdot(it.g + g_try, p))
    moved = it._replace(x=x_try, f=f_try, g=g_try).counted(nfev=1, ngev=1)
    return rho, moved


def model_change_of_f(it: Iterate, p, model_change):
    """m_f(p) - m_f(0) for the model of f, m_f(p) = g.p + p.B p / 2, given the change
    ``model_change`` of the model the step was solved on, whose linear term is
    ``it.linear``: the same under ``minimize``; under an optax chain (linear term the
    incoming updates u) the two differ by (g - u).p. The ratio compares f's actual change
    with m_f's, so it measures how well the model predicts f, whichever u proposed p."""
    if it.u is None:
        return model_change
    return model_change + jnp.vdot(it.g - it.u, p)


def _choose(accept, moved: Iterate, stay: Iterate) -> Iterate:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), moved, stay)


def trust_region(subproblem: str) -> Globalisation:
    """The trust-region globalisation (N&W Alg. 4.1) with the subproblem solver ``subproblem``:
    "steihaug", "gltr", "exact" or "dogleg"."""
    if subproblem not in SUBPROBLEMS:
        raise ValueError(f"unknown trust-region subproblem {subproblem!r}; choose one of {', '.join(SUBPROBLEMS)}")
    solve, sub_options, needs = SUBPROBLEMS[subproblem]

    def init(x, opts) -> TrustState:
        return TrustState(jnp.asarray(opts["initial_radius"], x.dtype), no_lowest_f(x))

    def step(direction, objective, it: Iterate, d_state, state: TrustState, opts):
        model = direction.model(objective, it, d_state, opts)
        if getattr(model, needs) is None:
            raise TypeError(f"trust region {subproblem!r} needs the model's {needs!r}")
        it = model.it
        sub = solve(model, it.linear, state.radius, opts)
        it = it.counted(nhvp=sub.num_matvec)
        rho, moved = _trial(objective, it, sub.step, model_change_of_f(it, sub.step, sub.model_value))
        rho = capped(rho, moved.f, it.f, state.f_low)
        radius = update_radius(state.radius, rho, boundary=sub.boundary, max_radius=opts["max_radius"])
        accept = accepted(rho, opts["eta"])
        new = _choose(accept, moved, it.counted(nfev=1, ngev=1))
        d_state = model.state
        if direction.update is not None:
            d_state, _ = direction.update(objective, it, new, d_state, opts, accept)
        tiny = radius <= jnp.finfo(it.x.dtype).eps * jnp.maximum(1, jnp.linalg.norm(it.x))
        f_low = lowest_f(state.f_low, it.f, new.f)
        return new._replace(stalled=~accept & tiny), d_state, TrustState(radius, f_low)

    return Globalisation(f"trust-region/{subproblem}", "model", {**TRUST_OPTIONS, **sub_options}, init, step,
                         validate=_check_radii)


DAMPING_OPTIONS = {
    "damping": real(1e-3, "initial Levenberg-Marquardt damping lambda (B + lambda I)", 0.0),
    "damping_increase": real(4.0, "lambda factor when rho < 1/4", 1.0),
    "damping_decrease": real(0.25, "lambda factor when rho > 3/4", 0.0, 1.0),
    "min_damping": real(1e-12, "lower bound on lambda", 0.0, lo_closed=True),
    "eta": TRUST_OPTIONS["eta"],
    "cg_max_iter": _KRYLOV_OPTIONS["cg_max_iter"],
}


def damped() -> Globalisation:
    """Levenberg-Marquardt damping (the trust region in 1/radius form): p from CG on
    (B + lambda I) p = -g (or a dense solve when the model is dense), rho, then lambda by
    :func:`update_damping`; the step is taken when rho > eta."""

    def init(x, opts) -> TrustState:
        return TrustState(jnp.asarray(opts["damping"], x.dtype), no_lowest_f(x))

    def step(direction, objective, it: Iterate, d_state, state: TrustState, opts):
        model = direction.model(objective, it, d_state, opts)
        it, lam, g, u = model.it, state.radius, it.g, it.linear
        if model.hess is not None:
            shifted = model.hess + lam * jnp.eye(u.size, dtype=u.dtype)
            p = -jnp.linalg.solve(shifted, u)
            p = jnp.where(jnp.all(jnp.isfinite(p)), p, jnp.zeros_like(p))
            bp, matvecs = model.hess @ p, 0
        else:
            cg = truncated_cg(lambda v: model.matvec(v) + lam * v, -u, rtol=forcing_rtol(u),
                              max_iter=cg_cap(opts, u.size))
            p, matvecs = cg.x, cg.iters
            bp = model.matvec(p)
            matvecs = matvecs + 1
        it = it.counted(nhvp=matvecs)
        rho, moved = _trial(objective, it, p, jnp.vdot(g, p) + 0.5 * jnp.vdot(p, bp))  # the model of f
        rho = capped(rho, moved.f, it.f, state.f_low)
        lam_new = update_damping(lam, rho, increase=opts["damping_increase"], decrease=opts["damping_decrease"],
                                 min_damping=opts["min_damping"])
        accept = accepted(rho, opts["eta"])
        new = _choose(accept, moved, it.counted(nfev=1, ngev=1))
        d_state = model.state
        if direction.update is not None:
            d_state, _ = direction.update(objective, it, new, d_state, opts, accept)
        tiny = jnp.linalg.norm(p) <= jnp.finfo(it.x.dtype).eps * jnp.maximum(1, jnp.linalg.norm(it.x))
        f_low = lowest_f(state.f_low, it.f, new.f)
        return new._replace(stalled=~accept & tiny), d_state, TrustState(lam_new, f_low)

    return Globalisation("levenberg-marquardt", "model", DAMPING_OPTIONS, init, step)

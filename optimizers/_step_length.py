"""Line searches along a direction d: strong Wolfe (bracketing + zoom) and Armijo backtracking.

Both work on flat 1-D vectors, are pure (one ``lax.while_loop`` each, fixed shapes, counters
as carried state) and run under ``jax.jit`` and ``jax.vmap``. With ``phi(t) = f(x + t d)``:

- Armijo (sufficient decrease): ``phi(t) <= phi(0) + c1 t phi'(0)``;
- strong Wolfe: Armijo and ``|phi'(t)| <= c2 |phi'(0)|``.

A trial whose value (or directional derivative) is not finite counts as a failed decrease,
so a search that steps into a NaN/inf region (log of a negative number, say) steps back out
instead of propagating NaN. On failure both return the best Armijo point met (lowest f),
with ``success = False``; when there is none, step 0 with the original x, f0 and g0 and
``decrease = False``. A direction with ``g0.d >= 0`` (or non-finite) returns at once, with
no evaluation.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["LineSearchResult", "strong_wolfe", "backtracking"]


class LineSearchResult(NamedTuple):
    """Result of :func:`strong_wolfe` and :func:`backtracking`.

    step: accepted step t (0 when no decrease was found). x: ``x + step * d`` (x itself when
    no decrease). f, g: value and gradient at the returned x. nfev, ngev: int32 function and
    gradient evaluations made by the search. success: the returned step satisfies the
    search's conditions (strong Wolfe / Armijo). decrease: ``f < f0``.
    """

    step: jax.Array
    x: jax.Array
    f: jax.Array
    g: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    success: jax.Array
    decrease: jax.Array


# ----------------------------------------------------------------------------- checks


class _Setup(NamedTuple):
    x: jax.Array
    f0: jax.Array
    g0: jax.Array
    d: jax.Array
    dp0: jax.Array  # phi'(0) = g0.d
    descent: jax.Array  # bool: f0 and phi'(0) finite and phi'(0) < 0
    t_res: jax.Array  # min_i eps |x_i| / |d_i|: a step (change) below this leaves x as it is
    max_iter: jax.Array


def _prepare(x, f0, g0, d, init_step, max_iter) -> _Setup:
    """Check the shared arguments (ValueError/TypeError naming them) and cast to x's dtype."""
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be a flat 1-D vector, got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"x must be a floating-point vector, got dtype {x.dtype}")
    for name, v in (("g0", g0), ("d", d)):
        if jnp.shape(v) != x.shape:
            raise ValueError(f"{name} must have the shape of x {x.shape}, got {jnp.shape(v)}")
    if isinstance(init_step, (int, float)) and not init_step > 0:
        raise ValueError(f"init_step must be > 0, got {init_step!r}")
    if isinstance(max_iter, (bool, float)):
        raise TypeError(f"max_iter must be an integer, got {max_iter!r}")
    if isinstance(max_iter, int) and max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter!r}")
    dtype = x.dtype
    f0 = jnp.asarray(f0, dtype).reshape(())
    g0, d = jnp.asarray(g0, dtype), jnp.asarray(d, dtype)
    dp0 = jnp.vdot(g0, d)
    moves = d != 0
    ratio = jnp.abs(x) / jnp.where(moves, jnp.abs(d), 1)
    t_res = jnp.finfo(dtype).eps * jnp.min(jnp.where(moves, ratio, jnp.inf))
    return _Setup(
        x=x,
        f0=f0,
        g0=g0,
        d=d,
        dp0=dp0,
        descent=jnp.isfinite(dp0) & jnp.isfinite(f0) & (dp0 < 0),
        t_res=t_res,
        max_iter=jnp.asarray(max_iter, jnp.int32),
    )


# ---------------------------------------------------------------------- interpolation


def _safe_div(num, den):
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1), jnp.nan)


def _cubic_min(a, fa, da, b, fb, db):
    """Minimizer of the cubic through (a, fa, fa'), (b, fb, fb') (N&W eq. 3.59); NaN if none."""
    d1 = da + db - 3 * _safe_div(fa - fb, a - b)
    rad = d1 * d1 - da * db
    ok = rad >= 0
    d2 = jnp.sign(b - a) * jnp.sqrt(jnp.where(ok, rad, 0))
    t = b - (b - a) * _safe_div(db + d2 - d1, db - da + 2 * d2)
    return jnp.where(ok, t, jnp.nan)


def _quad_min(a, fa, da, b, fb):
    """Minimizer of the quadratic through (a, fa, fa'), (b, fb) (N&W eq. 3.57); NaN if none."""
    w = b - a
    den = 2 * (fb - fa - da * w)
    t = a - _safe_div(da * w * w, den)
    return jnp.where(den > 0, t, jnp.nan)


def _inside(t, lo, hi):
    """t finite and in the closed interval between lo and hi (either order)."""
    return jnp.isfinite(t) & (t >= jnp.minimum(lo, hi)) & (t <= jnp.maximum(lo, hi))


# ----------------------------------------------------------------------- strong Wolfe


class _WolfeState(NamedTuple):
    k: jax.Array  # evaluations made
    t: jax.Array  # next trial step
    zoom: jax.Array  # bool: bracket found, zooming
    done: jax.Array
    success: jax.Array
    # previous trial (bracketing phase)
    t_prev: jax.Array
    f_prev: jax.Array
    dp_prev: jax.Array
    # bracket (zoom phase): lo has the lowest Armijo f so far; hi the other end
    t_lo: jax.Array
    f_lo: jax.Array
    dp_lo: jax.Array
    t_hi: jax.Array
    f_hi: jax.Array
    dp_hi: jax.Array
    # best Armijo point met (the start x, f0, g0 with step 0 until there is one)
    t_best: jax.Array
    f_best: jax.Array
    x_best: jax.Array
    g_best: jax.Array


def strong_wolfe(
    value_and_grad: Callable,
    x: jax.Array,
    f0,
    g0: jax.Array,
    d: jax.Array,
    *,
    init_step=1.0,
    c1=1e-4,
    c2=0.9,
    max_iter=25,
    max_step=1e10,
) -> LineSearchResult:
    """Strong-Wolfe line search: bracketing (N&W Alg. 3.5) and zoom (N&W Alg. 3.6).

    Finds t with ``phi(t) <= phi(0) + c1 t phi'(0)`` and ``|phi'(t)| <= c2 |phi'(0)|``,
    ``phi(t) = f(x + t d)``. Bracketing starts at ``init_step`` and extrapolates to the
    minimizer of the cubic through the last two trials, kept in
    ``[t + 1.1 (t - t_prev), t + 4 (t - t_prev)]`` (the upper end when the cubic has no
    minimizer there; More & Thuente 1994), capped at ``max_step``. Zoom tries the cubic
    interpolant of the bracket ends (N&W eq. 3.59), else the quadratic through
    ``phi(lo), phi'(lo), phi(hi)`` (eq. 3.57), accepting an interpolant only inside the safe
    interior ``[lo + 0.1 w, hi - 0.1 w]`` (``w = |hi - lo|``); one that falls in the bracket
    but outside that interior is clipped to it, and bisection is the last resort.

    Each trial calls ``value_and_grad(x + t d) -> (f, g)`` once (nfev = ngev = trials). A
    non-finite trial value or slope fails the Armijo test, so it becomes the upper end of the
    bracket and zoom bisects back into the finite region. The search stops without success
    after ``max_iter`` trials, at ``max_step``, or when the bracket is narrower than the
    rounding of t or of x; it then returns the best Armijo point met (see the module
    docstring). ``init_step``, ``c1``, ``c2``, ``max_step`` and ``max_iter`` may be traced.
    """
    if isinstance(max_step, (int, float)) and not max_step > 0:
        raise ValueError(f"max_step must be > 0, got {max_step!r}")
    if isinstance(c1, (int, float)) and isinstance(c2, (int, float)) and not 0 < c1 < c2 < 1:
        raise ValueError(f"need 0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")
    x, f0, g0, d, dp0, descent, t_res, max_iter = _prepare(x, f0, g0, d, init_step, max_iter)
    dtype = x.dtype
    c1, c2 = jnp.asarray(c1, dtype), jnp.asarray(c2, dtype)
    max_step = jnp.asarray(max_step, dtype)
    eps = jnp.finfo(dtype).eps
    zero = jnp.zeros((), dtype)

    def cond(s: _WolfeState):
        return ~s.done & (s.k < max_iter)

    def body(s: _WolfeState):
        t = s.t
        x_t = x + t * d
        f, g = value_and_grad(x_t)
        f = jnp.asarray(f, dtype).reshape(())
        g = jnp.asarray(g, dtype)
        dp = jnp.vdot(g, d)
        finite = jnp.isfinite(f) & jnp.isfinite(dp)
        armijo = finite & (f <= f0 + c1 * t * dp0)
        curvature_ok = jnp.abs(dp) <= c2 * jnp.abs(dp0)
        wolfe = armijo & curvature_ok

        # A strong-Wolfe point always has the lowest f among the Armijo points met
        # (bracketing decreases f monotonically; zoom's lo end holds the lowest), so
        # tracking the best also tracks the accepted point.
        better = armijo & (f < s.f_best)
        t_best = jnp.where(better, t, s.t_best)
        f_best = jnp.where(better, f, s.f_best)
        x_best = jnp.where(better, x_t, s.x_best)
        g_best = jnp.where(better, g, s.g_best)

        # --- bracketing phase (Alg. 3.5)
        b_hi = ~armijo | (f >= s.f_prev)  # zoom(prev, cur)
        b_swap = ~b_hi & ~wolfe & (dp >= 0)  # zoom(cur, prev)
        b_zoom = b_hi | b_swap
        b_lo = (jnp.where(b_hi, s.t_prev, t), jnp.where(b_hi, s.f_prev, f), jnp.where(b_hi, s.dp_prev, dp))
        b_hi_end = (jnp.where(b_hi, t, s.t_prev), jnp.where(b_hi, f, s.f_prev), jnp.where(b_hi, dp, s.dp_prev))
        # extrapolation (only used when not zooming and not done)
        w = t - s.t_prev
        t_ext = _cubic_min(s.t_prev, s.f_prev, s.dp_prev, t, f, dp)
        t_ext = jnp.where(jnp.isfinite(t_ext) & (t_ext > t), t_ext, t + 4 * w)
        t_ext = jnp.clip(t_ext, t + 1.1 * w, t + 4 * w)
        t_ext = jnp.minimum(t_ext, max_step)
        at_max = t >= max_step

        # --- zoom phase (Alg. 3.6)
        z_hi = ~armijo | (f >= s.f_lo)  # hi <- cur
        z_flip = ~z_hi & (dp * (s.t_hi - s.t_lo) >= 0)  # hi <- lo, lo <- cur
        z_lo = (jnp.where(z_hi, s.t_lo, t), jnp.where(z_hi, s.f_lo, f), jnp.where(z_hi, s.dp_lo, dp))
        z_hi_t = jnp.where(z_hi, t, jnp.where(z_flip, s.t_lo, s.t_hi))
        z_hi_f = jnp.where(z_hi, f, jnp.where(z_flip, s.f_lo, s.f_hi))
        z_hi_dp = jnp.where(z_hi, dp, jnp.where(z_flip, s.dp_lo, s.dp_hi))

        # --- merge the two phases
        zoom = s.zoom | b_zoom
        pick = lambda zv, bv, old: jnp.where(s.zoom, zv, jnp.where(b_zoom, bv, old))  # noqa: E731
        t_lo = pick(z_lo[0], b_lo[0], s.t_lo)
        f_lo = pick(z_lo[1], b_lo[1], s.f_lo)
        dp_lo = pick(z_lo[2], b_lo[2], s.dp_lo)
        t_hi = pick(z_hi_t, b_hi_end[0], s.t_hi)
        f_hi = pick(z_hi_f, b_hi_end[1], s.f_hi)
        dp_hi = pick(z_hi_dp, b_hi_end[2], s.dp_hi)

        # next zoom trial: cubic, else quadratic, else bisection, inside the safe interior
        width = jnp.abs(t_hi - t_lo)
        safe_lo = jnp.minimum(t_lo, t_hi) + 0.1 * width
        safe_hi = jnp.maximum(t_lo, t_hi) - 0.1 * width
        t_cub = _cubic_min(t_lo, f_lo, dp_lo, t_hi, f_hi, dp_hi)
        t_quad = _quad_min(t_lo, f_lo, dp_lo, t_hi, f_hi)
        t_mid = 0.5 * (t_lo + t_hi)
        # An interpolant inside the bracket but too close to an end is pulled to the safe
        # interior rather than dropped for bisection: when the minimizer sits near one end
        # the bracket then shrinks by 90% per trial instead of 50%.
        t_near = jnp.where(_inside(t_cub, t_lo, t_hi), t_cub, t_quad)
        t_near = jnp.where(_inside(t_near, t_lo, t_hi), jnp.clip(t_near, safe_lo, safe_hi), t_mid)
        t_zoom = jnp.where(
            _inside(t_cub, safe_lo, safe_hi),
            t_cub,
            jnp.where(_inside(t_quad, safe_lo, safe_hi), t_quad, t_near),
        )
        tiny = (width <= eps * jnp.maximum(t_lo, t_hi)) | (width <= t_res)

        success = wolfe
        done = wolfe | jnp.where(zoom, tiny, at_max)
        t_next = jnp.where(zoom, t_zoom, t_ext)
        return _WolfeState(
            k=s.k + 1,
            t=t_next,
            zoom=zoom,
            done=done,
            success=success,
            t_prev=t,
            f_prev=f,
            dp_prev=dp,
            t_lo=t_lo,
            f_lo=f_lo,
            dp_lo=dp_lo,
            t_hi=t_hi,
            f_hi=f_hi,
            dp_hi=dp_hi,
            t_best=t_best,
            f_best=f_best,
            x_best=x_best,
            g_best=g_best,
        )

    init = _WolfeState(
        k=jnp.int32(0),
        t=jnp.minimum(jnp.asarray(init_step, dtype), max_step),
        zoom=jnp.asarray(False),
        done=~descent,
        success=jnp.asarray(False),
        t_prev=zero,
        f_prev=f0,
        dp_prev=dp0,
        t_lo=zero,
        f_lo=f0,
        dp_lo=dp0,
        t_hi=zero,
        f_hi=f0,
        dp_hi=dp0,
        t_best=zero,
        f_best=f0,
        x_best=x,
        g_best=g0,
    )
    s = lax.while_loop(cond, body, init)
    decrease = s.f_best < f0
    return LineSearchResult(
        step=s.t_best,
        x=s.x_best,
        f=s.f_best,
        g=s.g_best,
        nfev=s.k,
        ngev=s.k,
        success=s.success & decrease,
        decrease=decrease,
    )


# ----------------------------------------------------------------------- backtracking


class _BacktrackState(NamedTuple):
    k: jax.Array
    t: jax.Array
    done: jax.Array
    success: jax.Array
    t_prev: jax.Array  # previous trial; NaN f_prev when there is none usable
    f_prev: jax.Array
    f_acc: jax.Array  # f and x at the accepted point (f0 and x until then)
    x_acc: jax.Array


def backtracking(
    fun: Callable,
    grad: Callable,
    x: jax.Array,
    f0,
    g0: jax.Array,
    d: jax.Array,
    *,
    init_step=1.0,
    c1=1e-4,
    shrink=0.5,
    max_iter=40,
    interpolate=True,
) -> LineSearchResult:
    """Armijo backtracking (N&W Alg. 3.1 with the interpolation of Sec. 3.5).

    Tries ``t = init_step`` and shrinks t until ``f(x + t d) <= f0 + c1 t g0.d``. With
    ``interpolate=True`` (default) the next t is the minimizer of the quadratic through
    ``phi(0), phi'(0), phi(t)`` (first shrink; N&W eq. 3.57) or of the cubic through
    ``phi(0), phi'(0)`` and the last two trials (later shrinks; eq. 3.58), safeguarded to
    ``[min(0.1, shrink) t, shrink t]``; with ``interpolate=False``, or after a non-finite
    trial value, ``t <- shrink * t``. Each trial calls ``fun`` once (nfev); after acceptance
    ``grad`` is called once at the accepted point (ngev = 1, 0 on failure). Stops without
    success after ``max_iter`` trials or once ``t <= eps min_i |x_i| / |d_i|`` (x no longer
    moves); it then returns step 0 and the original point (``decrease = False``).
    """
    if isinstance(shrink, (int, float)) and not 0 < shrink < 1:
        raise ValueError(f"shrink must be in (0, 1), got {shrink!r}")
    if isinstance(c1, (int, float)) and not 0 < c1 < 1:
        raise ValueError(f"c1 must be in (0, 1), got {c1!r}")
    x, f0, g0, d, dp0, descent, t_res, max_iter = _prepare(x, f0, g0, d, init_step, max_iter)
    dtype = x.dtype
    c1, shrink = jnp.asarray(c1, dtype), jnp.asarray(shrink, dtype)
    lower = jnp.minimum(jnp.asarray(0.1, dtype), shrink)
    nan = jnp.full((), jnp.nan, dtype)

    def cond(s: _BacktrackState):
        return ~s.done & (s.k < max_iter)

    def body(s: _BacktrackState):
        t = s.t
        x_t = x + t * d
        f = jnp.asarray(fun(x_t), dtype).reshape(())
        finite = jnp.isfinite(f)
        ok = finite & (f <= f0 + c1 * t * dp0)
        t_geo = shrink * t
        if interpolate:
            t_q = _quad_min(jnp.zeros((), dtype), f0, dp0, t, f)
            t_c = _cubic_through_origin(f0, dp0, s.t_prev, s.f_prev, t, f)
            t_i = jnp.where(jnp.isfinite(t_c), t_c, t_q)
            t_i = jnp.where(jnp.isfinite(t_i), t_i, t_geo)
            t_new = jnp.where(finite, jnp.clip(t_i, lower * t, shrink * t), t_geo)
        else:
            t_new = t_geo
        stalled = t_new <= t_res
        return _BacktrackState(
            k=s.k + 1,
            t=jnp.where(ok, t, t_new),
            done=ok | stalled,
            success=ok,
            t_prev=t,
            f_prev=jnp.where(finite, f, nan),
            f_acc=jnp.where(ok, f, s.f_acc),
            x_acc=jnp.where(ok, x_t, s.x_acc),
        )

    init = _BacktrackState(
        k=jnp.int32(0),
        t=jnp.asarray(init_step, dtype),
        done=~descent,
        success=jnp.asarray(False),
        t_prev=nan,
        f_prev=nan,
        f_acc=f0,
        x_acc=x,
    )
    s = lax.while_loop(cond, body, init)
    # Armijo with t > 0 and g0.d < 0 implies f < f0 unless c1 t g0.d rounds away.
    decrease = s.success & (s.f_acc < f0)
    step = jnp.where(decrease, s.t, jnp.zeros((), dtype))
    x_new = jnp.where(decrease, s.x_acc, x)
    g_new = lax.cond(decrease, lambda: jnp.asarray(grad(x_new), dtype), lambda: g0)
    return LineSearchResult(
        step=step,
        x=x_new,
        f=jnp.where(decrease, s.f_acc, f0),
        g=g_new,
        nfev=s.k,
        ngev=decrease.astype(jnp.int32),
        success=decrease,
        decrease=decrease,
    )


def _cubic_through_origin(f0, dp0, t0, f_t0, t1, f_t1):
    """Minimizer of the cubic through phi(0), phi'(0), phi(t0), phi(t1) (N&W eq. 3.58); NaN if none."""
    r1 = f_t1 - f0 - dp0 * t1
    r0 = f_t0 - f0 - dp0 * t0
    den = t0 * t0 * t1 * t1 * (t1 - t0)
    a = _safe_div(t0 * t0 * r1 - t1 * t1 * r0, den)
    b = _safe_div(-(t0**3) * r1 + t1**3 * r0, den)
    # a t^3 + b t^2 + dp0 t + f0; stationary point: t = (-b + sqrt(b^2 - 3 a dp0)) / (3a)
    rad = b * b - 3 * a * dp0
    ok = rad >= 0
    s = jnp.sqrt(jnp.where(ok, rad, 0))
    # Cancellation-free form: (-b + s) / (3a) = -dp0 / (b + s).
    t = _safe_div(-dp0, b + s)
    return jnp.where(ok & (t > 0), t, jnp.nan)

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

Near a minimizer f stops resolving the decrease: once the decrease that Armijo asks for,
``c1 t |phi'(0)|``, is below the noise of f (:func:`f_noise`), comparing f values tests
noise. The noise of a computed f is not a few ulps of |f|: a sum of squares of residuals
y_i - model_i with |y_i| far above the residuals loses digits to cancellation; at the
minimizers of MISRA1BLS, PALMER1C and PALMER4C (CUTEst), relative perturbations of x of
4e-16 move f by 1e-13 to 2e-12 of |f| (standard deviation), 100 to 8,000 ulps. There the
strong-Wolfe search uses Hager & Zhang's (2005) approximate Wolfe conditions:
``phi'(t) <= (1 - 2 c1) |phi'(0)|`` (the quadratic through phi'(0) and phi'(t) decreases by
c1 t |phi'(0)|, the Armijo test on slopes, which stay accurate where f differences do not)
and ``phi(t) <= f_cap(phi(0), f_ref)`` = f_ref + f_noise(f_ref), f_ref <= phi(0) the lowest
f of the run's accepted points (``f_ref`` argument; phi(0) by default); and wherever two f
values differ by less than that noise, which one is lower is judged by the trapezoid of
their slopes. f may thus rise, but only where the requested decrease itself is below the
noise of f, and never above the lowest f met plus its noise (1e-11 |f| in float64), however
many steps the run takes: a gradient that lies (a wrong custom derivative) cannot walk the
run uphill. The returned point is therefore the best one found up to that noise.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from optimizers._loops import while_loop

__all__ = ["F_NOISE_RTOL", "F_ROUNDING_ULPS", "LineSearchResult", "backtracking", "f_cap", "f_noise",
           "f_resolution", "lowest_f", "no_lowest_f", "strong_wolfe"]

#: How many ulps of |f| a computed f may be off: below this a change in f is rounding.
F_ROUNDING_ULPS = 4


def f_resolution(f) -> jax.Array:
    """``F_ROUNDING_ULPS * eps * |f|``: changes of f below this are not resolved."""
    f = jnp.asarray(f)
    return F_ROUNDING_ULPS * jnp.finfo(f.dtype).eps * jnp.abs(f)


#: Relative noise of a computed f that the line search tolerates (module docstring): 5x the
#: largest standard deviation measured on CUTEst's least-squares fits, in float64.
F_NOISE_RTOL = 1e-11


def f_noise(f) -> jax.Array:
    """``max(F_NOISE_RTOL, F_ROUNDING_ULPS eps) |f|``: changes of f below this may be noise
    (in float32, where 4 ulps are 4.8e-7, the rounding term is the larger)."""
    f = jnp.asarray(f)
    return jnp.maximum(F_NOISE_RTOL * jnp.abs(f), f_resolution(f))


def f_cap(f0, f_ref=None) -> jax.Array:
    """The highest f a step from f0 may reach where f no longer resolves the decrease.

    With r = min(f_ref, f0) the lowest f the run has met (f0 when f_ref is None or not
    finite): ``r + f_noise(r)``, so a run never climbs above the lowest f plus its noise by
    rises within the noise. Where f0 itself lies above that (an optax loop whose value
    function changes from batch to batch; never inside ``minimize``), ``f0 + f_resolution(f0)``:
    a rise within rounding, as for a first step."""
    f0 = jnp.asarray(f0)
    r = f0
    if f_ref is not None:
        f_ref = jnp.asarray(f_ref, f0.dtype).reshape(())
        r = jnp.where(jnp.isfinite(f_ref), jnp.minimum(f_ref, f0), f0)
    cap = r + f_noise(r)
    return jnp.where(f0 > cap, f0 + f_resolution(f0), cap)


def no_lowest_f(x) -> jax.Array:
    """The lowest f of a run before its first step: +inf, in x's dtype."""
    return jnp.full((), jnp.inf, jnp.asarray(x).dtype)


def lowest_f(f_low, *fs) -> jax.Array:
    """min(f_low, *fs) over the finite values only (a NaN or -inf loss does not become the
    reference of the noise cap), in f_low's dtype; +inf while none is finite."""
    f_low = jnp.asarray(f_low)
    low = f_low
    for f in fs:
        low = jnp.minimum(low, jnp.where(jnp.isfinite(f), f, jnp.inf))
    return low.astype(f_low.dtype)


class LineSearchResult(NamedTuple):
    """Result of :func:`strong_wolfe` and :func:`backtracking`.

    step: accepted step t (0 when no decrease was found). x: ``x + step * d`` (x itself when
    no decrease). f, g: value and gradient at the returned x. nfev, ngev: int32 function and
    gradient evaluations made by the search. success: the returned step satisfies the
    search's conditions (strong Wolfe / Armijo). decrease: a step was taken: ``f < f0``, or,
    for strong Wolfe where f no longer resolves the decrease, the approximate Wolfe
    conditions (module docstring) with f at most ``f_noise(f0)`` above f0.
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
    f_res: jax.Array  # f_noise(f0): f changes below this may be noise
    f_cap: jax.Array  # f_cap(f0, f_ref): no approximate-Wolfe point lies above it
    max_iter: jax.Array


def _prepare(x, f0, g0, d, init_step, max_iter, f_ref=None) -> _Setup:
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
        f_res=f_noise(f0),
        f_cap=f_cap(f0, f_ref),
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


class _Trial(NamedTuple):
    """One evaluated trial: step t, phi(t) = f, phi'(t) = dp, the point x + t d, its gradient."""

    t: jax.Array
    f: jax.Array
    dp: jax.Array
    x: jax.Array
    g: jax.Array


class _WolfeState(NamedTuple):
    """The state of both phases. lo: the lowest Armijo point met (step 0, the start, until
    there is one); its x and g are kept: a strong-Wolfe point is always the new lo, and a
    failed search returns lo. hi: the other end of the bracket (zoom phase). t: the next
    trial step."""

    k: jax.Array  # evaluations made
    t: jax.Array
    bracketed: jax.Array  # bool: [lo, hi] holds a strong-Wolfe point: the zoom phase
    done: jax.Array
    success: jax.Array
    t_lo: jax.Array
    f_lo: jax.Array
    dp_lo: jax.Array
    x_lo: jax.Array
    g_lo: jax.Array
    t_hi: jax.Array
    f_hi: jax.Array
    dp_hi: jax.Array


class _Search(NamedTuple):
    """What both phases read: the setup and the constants."""

    setup: _Setup
    c1: jax.Array
    c2: jax.Array
    max_step: jax.Array


def _judge(ls: _Search, s: _WolfeState, p: _Trial):
    """The tests of N&W Alg. 3.5 / 3.6 on trial p, in their order. higher: p fails Armijo
    (or is not finite) or is not below lo, so it becomes hi; wolfe: p is below lo and
    satisfies the strong-Wolfe conditions (only then is it accepted). Where the Armijo
    decrease is below the noise of f (:func:`f_noise`), Armijo is judged on the slopes (the
    approximate Wolfe conditions of the module docstring, f at most :func:`f_cap`), and so
    is "below lo" where p.f and lo.f differ by less than that noise."""
    st = ls.setup
    finite = jnp.isfinite(p.f) & jnp.isfinite(p.dp)
    unresolved = ls.c1 * p.t * jnp.abs(st.dp0) <= st.f_res
    approx = unresolved & (p.f <= st.f_cap) & (p.dp <= (1 - 2 * ls.c1) * jnp.abs(st.dp0))
    armijo = finite & ((p.f <= st.f0 + ls.c1 * p.t * st.dp0) | approx)
    resolved = jnp.abs(p.f - s.f_lo) > st.f_res
    below = jnp.where(resolved, p.f < s.f_lo, (p.t - s.t_lo) * (p.dp + s.dp_lo) < 0)
    higher = ~armijo | ~below
    wolfe = ~higher & (jnp.abs(p.dp) <= ls.c2 * jnp.abs(st.dp0))
    return higher, wolfe


def _lo_to(s: _WolfeState, p: _Trial, take) -> dict:
    """lo <- p where ``take``."""
    return dict(t_lo=jnp.where(take, p.t, s.t_lo), f_lo=jnp.where(take, p.f, s.f_lo),
                dp_lo=jnp.where(take, p.dp, s.dp_lo), x_lo=jnp.where(take, p.x, s.x_lo),
                g_lo=jnp.where(take, p.g, s.g_lo))


def _tiny(ls: _Search, s: _WolfeState):
    """The bracket is narrower than the rounding of t or of x: no trial inside can differ."""
    width = jnp.abs(s.t_hi - s.t_lo)
    eps = jnp.finfo(width.dtype).eps
    return (width <= eps * jnp.maximum(s.t_lo, s.t_hi)) | (width <= ls.setup.t_res)


def _bracket_phase(ls: _Search, s: _WolfeState, p: _Trial) -> _WolfeState:
    """N&W Alg. 3.5 after trial p (p.t > lo.t; lo is the previous trial): p higher closes
    the bracket [lo, p]; p accepted ends the search; p with phi'(p) >= 0 closes [p, lo];
    else p becomes lo and the next trial extrapolates to the minimizer of the cubic through
    lo and p, kept in [p + 1.1 w, p + 4 w] (w = p - lo; the upper end when the cubic has
    none there; More & Thuente 1994) and capped at max_step, where the search gives up."""
    higher, wolfe = _judge(ls, s, p)
    uphill = ~higher & ~wolfe & (p.dp >= 0)
    bracketed = higher | uphill
    w = p.t - s.t_lo
    t_ext = _cubic_min(s.t_lo, s.f_lo, s.dp_lo, p.t, p.f, p.dp)
    t_ext = jnp.where(jnp.isfinite(t_ext) & (t_ext > p.t), t_ext, p.t + 4 * w)
    t_ext = jnp.minimum(jnp.clip(t_ext, p.t + 1.1 * w, p.t + 4 * w), ls.max_step)
    at_max = ~bracketed & (p.t >= ls.max_step)
    # higher: hi <- p, lo stays; otherwise hi <- lo (used when uphill), lo <- p
    s = s._replace(
        k=s.k + 1, bracketed=bracketed, success=wolfe,
        t_hi=jnp.where(higher, p.t, s.t_lo), f_hi=jnp.where(higher, p.f, s.f_lo),
        dp_hi=jnp.where(higher, p.dp, s.dp_lo), **_lo_to(s, p, ~higher),
    )
    done = wolfe | at_max | (bracketed & _tiny(ls, s))
    return s._replace(t=jnp.where(bracketed, _zoom_trial(s), t_ext), done=done)


def _zoom_phase(ls: _Search, s: _WolfeState, p: _Trial) -> _WolfeState:
    """N&W Alg. 3.6 after trial p inside the bracket: p higher -> hi <- p; else p accepted,
    or lo <- p (hi <- lo first when phi'(p) points from lo towards hi's side, so that the
    bracket keeps a minimizer). Gives up when the bracket is too narrow (:func:`_tiny`)."""
    higher, wolfe = _judge(ls, s, p)
    flip = ~higher & (p.dp * (s.t_hi - s.t_lo) >= 0)
    move = higher | flip
    s = s._replace(
        k=s.k + 1, success=wolfe,
        t_hi=jnp.where(move, jnp.where(higher, p.t, s.t_lo), s.t_hi),
        f_hi=jnp.where(move, jnp.where(higher, p.f, s.f_lo), s.f_hi),
        dp_hi=jnp.where(move, jnp.where(higher, p.dp, s.dp_lo), s.dp_hi),
        **_lo_to(s, p, ~higher),
    )
    return s._replace(t=_zoom_trial(s), done=wolfe | _tiny(ls, s))


def _zoom_trial(s: _WolfeState):
    """The next trial inside [lo, hi]: the cubic interpolant of the ends (N&W eq. 3.59),
    else the quadratic through phi(lo), phi'(lo), phi(hi) (eq. 3.57), taken when inside the
    safe interior [lo + 0.1 w, hi - 0.1 w] (w = |hi - lo|); one inside the bracket but
    outside that interior is clipped to it (when the minimizer sits near one end the bracket
    then shrinks by 90% per trial instead of 50%), and bisection is the last resort."""
    t_lo, t_hi = s.t_lo, s.t_hi
    width = jnp.abs(t_hi - t_lo)
    safe_lo = jnp.minimum(t_lo, t_hi) + 0.1 * width
    safe_hi = jnp.maximum(t_lo, t_hi) - 0.1 * width
    t_cub = _cubic_min(t_lo, s.f_lo, s.dp_lo, t_hi, s.f_hi, s.dp_hi)
    t_quad = _quad_min(t_lo, s.f_lo, s.dp_lo, t_hi, s.f_hi)
    t_near = jnp.where(_inside(t_cub, t_lo, t_hi), t_cub, t_quad)
    t_near = jnp.where(_inside(t_near, t_lo, t_hi), jnp.clip(t_near, safe_lo, safe_hi), 0.5 * (t_lo + t_hi))
    return jnp.where(_inside(t_cub, safe_lo, safe_hi), t_cub,
                     jnp.where(_inside(t_quad, safe_lo, safe_hi), t_quad, t_near))


def _phase(ls: _Search, s: _WolfeState, p: _Trial) -> _WolfeState:
    """The state after trial p: zoom once bracketed, else bracketing."""
    return lax.cond(s.bracketed, _zoom_phase, _bracket_phase, ls, s, p)


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
    f_ref=None,
) -> LineSearchResult:
    """Strong-Wolfe line search: bracketing (N&W Alg. 3.5) and zoom (N&W Alg. 3.6).

    Finds t with ``phi(t) <= phi(0) + c1 t phi'(0)`` and ``|phi'(t)| <= c2 |phi'(0)|``,
    ``phi(t) = f(x + t d)``. Bracketing (:func:`_bracket_phase`) starts at ``init_step``
    and extrapolates until a trial closes a bracket or is accepted; then zoom
    (:func:`_zoom_phase`) shrinks the bracket by safeguarded interpolation
    (:func:`_zoom_trial`).

    Each trial calls ``value_and_grad(x + t d) -> (f, g)`` once (nfev = ngev = trials). A
    non-finite trial value or slope fails the Armijo test, so it becomes the upper end of the
    bracket and zoom shrinks back into the finite region. The search stops without success
    after ``max_iter`` trials, at ``max_step``, or when the bracket is narrower than the
    rounding of t or of x; it then returns the lowest Armijo point met (see the module
    docstring). ``f_ref``: the lowest f of the run's accepted points (phi(0) when None);
    approximate-Wolfe points lie at most ``f_cap(f0, f_ref)``. ``init_step``, ``c1``, ``c2``,
    ``max_step``, ``max_iter`` and ``f_ref`` may be traced.
    """
    if isinstance(max_step, (int, float)) and not max_step > 0:
        raise ValueError(f"max_step must be > 0, got {max_step!r}")
    if isinstance(c1, (int, float)) and isinstance(c2, (int, float)) and not 0 < c1 < c2 < 1:
        raise ValueError(f"need 0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")
    setup = _prepare(x, f0, g0, d, init_step, max_iter, f_ref)
    x, f0, g0, d = setup.x, setup.f0, setup.g0, setup.d
    dtype = x.dtype
    max_step = jnp.asarray(max_step, dtype)
    ls = _Search(setup, jnp.asarray(c1, dtype), jnp.asarray(c2, dtype), max_step)

    def trial(s: _WolfeState) -> _Trial:
        x_t = x + s.t * d
        f, g = value_and_grad(x_t)
        g = jnp.asarray(g, dtype)
        return _Trial(s.t, jnp.asarray(f, dtype).reshape(()), jnp.vdot(g, d), x_t, g)

    def going(s: _WolfeState):
        return ~s.done & (s.k < setup.max_iter)

    zero = jnp.zeros((), dtype)
    s = _WolfeState(
        k=jnp.int32(0), t=jnp.minimum(jnp.asarray(init_step, dtype), max_step),
        bracketed=jnp.asarray(False), done=~setup.descent, success=jnp.asarray(False),
        t_lo=zero, f_lo=f0, dp_lo=setup.dp0, x_lo=x, g_lo=g0, t_hi=zero, f_hi=f0, dp_hi=setup.dp0,
    )
    # One loop, one evaluation per trial, the phase picked by lax.cond: two loops (zoom
    # entered only once bracketed) trace the objective twice and compile slower whenever
    # the objective is not trivial (docs/benchmarks-robustness.md, "compile time").
    s = while_loop(going, lambda s: _phase(ls, s, trial(s)), s)
    # lo moves only to Armijo points below the previous lo: below f0, or (approximate
    # Wolfe) at most f_noise(f0) above it with the slopes showing a decrease
    decrease = s.t_lo > 0
    return LineSearchResult(
        step=s.t_lo,
        x=s.x_lo,
        f=s.f_lo,
        g=s.g_lo,
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
    st = _prepare(x, f0, g0, d, init_step, max_iter)
    x, f0, g0, d, dp0, descent, t_res, max_iter = st.x, st.f0, st.g0, st.d, st.dp0, st.descent, st.t_res, st.max_iter
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
    s = while_loop(cond, body, init)
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

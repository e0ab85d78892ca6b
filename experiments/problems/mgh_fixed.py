"""More-Garbow-Hillstrom test functions of fixed dimension (problems 1-20 of the paper).

J. J. More, B. S. Garbow, K. E. Hillstrom, "Testing Unconstrained Optimization Software",
ACM TOMS 7(1), 17-41 (1981). Each is ``f(x) = sum_i f_i(x)**2`` with the paper's residuals
``f_i`` (no factor 1/2), its standard starting point ``x0`` and its published ``f*``.
Where the paper gives no exact minimizer, ``x_star`` is a numerical minimizer (about ten
significant digits) at which ``f`` reproduces the published ``f*``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from .registry import const, least_squares, register

_LS = ("mgh", "least-squares")


@register("rosenbrock", tags=("2d",) + _LS)
def rosenbrock():
    """Rosenbrock (MGH 1): 100 (x2 - x1^2)^2 + (1 - x1)^2; f* = 0 at (1, 1)."""

    def residual(x):
        return jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

    return least_squares(
        residual, [-1.2, 1.0], f_star=0.0, x_star=[1.0, 1.0], minima=[(1.0, 1.0)],
        box=((-2.0, -1.0), (2.0, 3.0)), description=rosenbrock.__doc__,
    )


@register("freudenstein_roth", tags=("2d",) + _LS)
def freudenstein_roth():
    """Freudenstein and Roth (MGH 2): f* = 0 at (5, 4); local minimum 48.9842... at (11.41..., -0.8968...)."""

    def residual(x):
        x1, x2 = x[0], x[1]
        return jnp.stack([-13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2, -29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2])

    return least_squares(
        residual, [0.5, -2.0], f_star=0.0, x_star=[5.0, 4.0],
        minima=[(5.0, 4.0), (11.412778986902094, -0.8968052532744765)],
        box=((-5.0, -3.0), (20.0, 6.0)), description=freudenstein_roth.__doc__,
    )


@register("powell_badly_scaled", tags=("2d", "ill-conditioned") + _LS)
def powell_badly_scaled():
    """Powell badly scaled (MGH 3): (1e4 x1 x2 - 1)^2 + (e^-x1 + e^-x2 - 1.0001)^2.

    f* = 0 at (1.098...e-5, 9.106...).
    """

    def residual(x):
        return jnp.stack([1e4 * x[0] * x[1] - 1.0, jnp.exp(-x[0]) + jnp.exp(-x[1]) - 1.0001])

    x_star = [1.0981593296997e-05, 9.1061467398667]
    return least_squares(
        residual, [0.0, 1.0], f_star=0.0, x_star=x_star, minima=[tuple(x_star)],
        box=((-1.0, 0.0), (1.0, 10.0)), description=powell_badly_scaled.__doc__,
    )


@register("brown_badly_scaled", tags=("2d", "ill-conditioned") + _LS)
def brown_badly_scaled():
    """Brown badly scaled (MGH 4): (x1 - 1e6)^2 + (x2 - 2e-6)^2 + (x1 x2 - 2)^2; f* = 0 at (1e6, 2e-6)."""

    def residual(x):
        return jnp.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])

    return least_squares(
        residual, [1.0, 1.0], f_star=0.0, x_star=[1e6, 2e-6], minima=[(1e6, 2e-6)],
        box=((0.0, -1.0), (2e6, 1.0)), description=brown_badly_scaled.__doc__,
    )


@register("beale", tags=("2d",) + _LS)
def beale():
    """Beale (MGH 5): sum_i (y_i - x1 (1 - x2^i))^2, y = (1.5, 2.25, 2.625); f* = 0 at (3, 0.5)."""

    def residual(x):
        i = jnp.arange(1, 4)
        return const([1.5, 2.25, 2.625], x) - x[0] * (1.0 - x[1] ** i)

    return least_squares(
        residual, [1.0, 1.0], f_star=0.0, x_star=[3.0, 0.5], minima=[(3.0, 0.5)],
        box=((-4.5, -4.5), (4.5, 4.5)), description=beale.__doc__,
    )


@register("jennrich_sampson", tags=("2d",) + _LS)
def jennrich_sampson():
    """Jennrich and Sampson (MGH 6), m = 10: sum_i (2 + 2i - e^(i x1) - e^(i x2))^2.

    f* = 124.362... at x1 = x2 = 0.2578...
    """

    def residual(x):
        i = jnp.arange(1, 11, dtype=x.dtype)
        return 2.0 + 2.0 * i - (jnp.exp(i * x[0]) + jnp.exp(i * x[1]))

    x_star = [0.2578252136703641, 0.2578252136703641]
    return least_squares(
        residual, [0.3, 0.4], f_star=124.3621823556148, x_star=x_star, minima=[tuple(x_star)],
        box=((-1.0, -1.0), (0.5, 0.5)), description=jennrich_sampson.__doc__,
    )


@register("helical_valley", tags=_LS)
def helical_valley():
    """Helical valley (MGH 7): f = 100 (x3 - 10 theta)^2 + 100 (r - 1)^2 + x3^2, r = |(x1, x2)|; f* = 0 at (1, 0, 0).

    theta = arctan(x2 / x1) / (2 pi), plus 1/2 when x1 < 0 (the paper's branch, not atan2;
    it jumps on the half-line x1 = 0, x2 < 0). At x1 = 0 theta takes its limit from x1 > 0,
    sign(x2) / 4.
    """

    def residual(x):
        x1, x2, x3 = x[0], x[1], x[2]
        nonzero = x1 != 0
        ratio = x2 / jnp.where(nonzero, x1, 1.0)
        theta = jnp.arctan(ratio) / (2.0 * jnp.pi) + jnp.where(x1 < 0, 0.5, 0.0)
        theta = jnp.where(nonzero, theta, 0.25 * jnp.sign(x2))
        r2 = x1 * x1 + x2 * x2
        r = jnp.where(r2 > 0, jnp.sqrt(jnp.where(r2 > 0, r2, 1.0)), 0.0)
        return jnp.stack([10.0 * (x3 - 10.0 * theta), 10.0 * (r - 1.0), x3])

    return least_squares(
        residual, [-1.0, 0.0, 0.0], f_star=0.0, x_star=[1.0, 0.0, 0.0], box=(-2.0, 2.0),
        description=helical_valley.__doc__,
    )


@register("bard", tags=_LS)
def bard():
    """Bard (MGH 8): sum_i (y_i - (x1 + u_i / (v_i x2 + w_i x3)))^2, u = i, v = 16 - i, w = min(u, v).

    f* = 8.21487...e-3.
    """
    y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]

    def residual(x):
        u = jnp.arange(1, 16, dtype=x.dtype)
        v = 16 - u
        w = jnp.minimum(u, v)
        return const(y, x) - (x[0] + u / (v * x[1] + w * x[2]))

    return least_squares(
        residual, [1.0, 1.0, 1.0], f_star=8.214877306578982e-03,
        x_star=[0.08241055974978896, 1.1330360920297222, 2.3436951786425366], box=(0.0, 3.0), description=bard.__doc__,
    )


@register("gaussian", tags=_LS)
def gaussian():
    """Gaussian (MGH 9): sum_i (x1 exp(-x2 (t_i - x3)^2 / 2) - y_i)^2, t_i = (8 - i) / 2; f* = 1.12793...e-8."""
    y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
         0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009]

    def residual(x):
        t = (8.0 - jnp.arange(1, 16, dtype=x.dtype)) / 2.0
        return x[0] * jnp.exp(-0.5 * x[1] * (t - x[2]) ** 2) - const(y, x)

    return least_squares(
        residual, [0.4, 1.0, 0.0], f_star=1.1279327696190517e-08,
        x_star=[0.3989561378387567, 1.0000190844878056, 0.0], box=((0.0, 0.5, -1.0), (1.0, 1.5, 1.0)),
        description=gaussian.__doc__,
    )


@register("meyer", tags=("ill-conditioned",) + _LS)
def meyer():
    """Meyer (MGH 10): sum_i (x1 exp(x2 / (t_i + x3)) - y_i)^2, t_i = 45 + 5i; f* = 87.9458... (NIST StRD MGH10)."""
    y = [34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0,
         8261.0, 7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0]

    def residual(x):
        t = 45.0 + 5.0 * jnp.arange(1, 17, dtype=x.dtype)
        return x[0] * jnp.exp(x[1] / (t + x[2])) - const(y, x)

    return least_squares(
        residual, [0.02, 4000.0, 250.0], f_star=87.94585517069264,
        x_star=[5.609636471027687e-03, 6181.346346286426, 345.2236346241383],
        box=((0.0, 3000.0, 200.0), (0.04, 7000.0, 400.0)), description=meyer.__doc__,
    )


@register("gulf", tags=_LS)
def gulf():
    """Gulf research and development (MGH 11), m = 99: f_i = exp(-|y_i - x2|^x3 / x1) - t_i; f* = 0 at (50, 25, 1.5).

    t_i = i / 100, y_i = 25 + (-50 ln t_i)^(2/3).
    """

    def residual(x):
        t = jnp.arange(1, 100, dtype=x.dtype) / 100.0
        y = 25.0 + (-50.0 * jnp.log(t)) ** (2.0 / 3.0)
        d = jnp.abs(y - x[1])
        safe = jnp.where(d > 0, d, 1.0)
        power = jnp.where(d > 0, jnp.exp(x[2] * jnp.log(safe)), 0.0)
        return jnp.exp(-power / x[0]) - t

    return least_squares(
        residual, [5.0, 2.5, 0.15], f_star=0.0, x_star=[50.0, 25.0, 1.5],
        box=((1.0, 0.0, 0.1), (60.0, 40.0, 3.0)), description=gulf.__doc__,
    )


@register("box_3d", tags=_LS)
def box_3d():
    """Box three-dimensional (MGH 12), m = 10: f_i = e^(-t x1) - e^(-t x2) - x3 (e^-t - e^-10t), t = i/10.

    f* = 0 at (1, 10, 1).
    Also zero at (10, 1, -1) and on the line x1 = x2, x3 = 0.
    """

    def residual(x):
        t = 0.1 * jnp.arange(1, 11, dtype=x.dtype)
        return jnp.exp(-t * x[0]) - jnp.exp(-t * x[1]) - x[2] * (jnp.exp(-t) - jnp.exp(-10.0 * t))

    return least_squares(
        residual, [0.0, 10.0, 20.0], f_star=0.0, x_star=[1.0, 10.0, 1.0],
        box=((0.0, 0.0, -2.0), (12.0, 12.0, 20.0)), description=box_3d.__doc__,
    )


@register("powell_singular", tags=("singular",) + _LS)
def powell_singular():
    """Powell singular (MGH 13): (x1 + 10x2)^2 + 5(x3 - x4)^2 + (x2 - 2x3)^4 + 10(x1 - x4)^4.

    f* = 0 at 0 (singular Hessian).
    """

    def residual(x):
        return _powell_quartets(x.reshape(1, 4)).reshape(-1)

    return least_squares(
        residual, [3.0, -1.0, 0.0, 1.0], f_star=0.0, x_star=[0.0] * 4, box=(-4.0, 4.0),
        description=powell_singular.__doc__,
    )


def _powell_quartets(q):
    """Powell singular residuals of each row (x1, x2, x3, x4) of ``q``, shape (k, 4)."""
    x1, x2, x3, x4 = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return jnp.stack(
        [x1 + 10.0 * x2, math.sqrt(5.0) * (x3 - x4), (x2 - 2.0 * x3) ** 2, math.sqrt(10.0) * (x1 - x4) ** 2], axis=1
    )


@register("wood", tags=_LS)
def wood():
    """Wood (MGH 14): Rosenbrock-like coupling of two pairs; f* = 0 at (1, 1, 1, 1)."""

    def residual(x):
        x1, x2, x3, x4 = x[0], x[1], x[2], x[3]
        return jnp.stack([
            10.0 * (x2 - x1 ** 2), 1.0 - x1, math.sqrt(90.0) * (x4 - x3 ** 2), 1.0 - x3,
            math.sqrt(10.0) * (x2 + x4 - 2.0), (x2 - x4) / math.sqrt(10.0),
        ])

    return least_squares(
        residual, [-3.0, -1.0, -3.0, -1.0], f_star=0.0, x_star=[1.0] * 4, box=(-3.0, 3.0),
        description=wood.__doc__,
    )


@register("kowalik_osborne", tags=_LS)
def kowalik_osborne():
    """Kowalik and Osborne (MGH 15): sum_i (y_i - x1 (u^2 + u x2) / (u^2 + u x3 + x4))^2.

    f* = 3.07505...e-4 (NIST MGH09).
    """
    y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
    u = [4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]

    def residual(x):
        uu = const(u, x)
        return const(y, x) - x[0] * (uu * uu + uu * x[1]) / (uu * uu + uu * x[2] + x[3])

    return least_squares(
        residual, [0.25, 0.39, 0.415, 0.39], f_star=3.075056038492379e-04,
        x_star=[0.1928069345790379, 0.19128232873436707, 0.12305650692632104, 0.13606233068379486],
        box=(0.0, 0.5), description=kowalik_osborne.__doc__,
    )


@register("brown_dennis", tags=_LS)
def brown_dennis():
    """Brown and Dennis (MGH 16), m = 20: f_i = (x1 + t x2 - e^t)^2 + (x3 + x4 sin t - cos t)^2, t = i/5.

    f* = 85822.2...
    """

    def residual(x):
        t = jnp.arange(1, 21, dtype=x.dtype) / 5.0
        return (x[0] + t * x[1] - jnp.exp(t)) ** 2 + (x[2] + x[3] * jnp.sin(t) - jnp.cos(t)) ** 2

    return least_squares(
        residual, [25.0, 5.0, -5.0, -1.0], f_star=85822.20162635633,
        x_star=[-11.594439904762163, 13.203630051207202, -0.4034394881768596, 0.23677877445573633],
        box=((-20.0, 0.0, -5.0, -5.0), (0.0, 20.0, 5.0, 5.0)), description=brown_dennis.__doc__,
    )


@register("osborne1", tags=_LS)
def osborne1():
    """Osborne 1 (MGH 17): sum_i (y_i - (x1 + x2 e^(-t x4) + x3 e^(-t x5)))^2, t_i = 10 (i - 1).

    f* = 5.46489...e-5 (NIST MGH17).
    """
    y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
         0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
         0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]

    def residual(x):
        t = 10.0 * jnp.arange(33, dtype=x.dtype)
        return const(y, x) - (x[0] + x[1] * jnp.exp(-t * x[3]) + x[2] * jnp.exp(-t * x[4]))

    return least_squares(
        residual, [0.5, 1.5, -1.0, 0.01, 0.02], f_star=5.4648946974828864e-05,
        x_star=[0.37541005210695194, 1.9358469127123508, -1.4646871366134064, 0.012867534640057257,
                0.022122699661672685],
        box=((0.0, 0.0, -3.0, 0.0, 0.0), (1.0, 3.0, 0.0, 0.05, 0.05)), description=osborne1.__doc__,
    )


@register("biggs_exp6", tags=_LS)
def biggs_exp6():
    """Biggs EXP6 (MGH 18), m = 13: x3 e^(-t x1) - x4 e^(-t x2) + x6 e^(-t x5) - y_i, t = i/10.

    f* = 0 at (1, 10, 1, 5, 4, 3).
    y_i = e^-t - 5 e^-10t + 3 e^-4t. Also zero at the relabelling (4, 10, 3, 5, 1, 1); the
    paper lists the local minimum 5.65565...e-3 too.
    """

    def residual(x):
        t = 0.1 * jnp.arange(1, 14, dtype=x.dtype)
        y = jnp.exp(-t) - 5.0 * jnp.exp(-10.0 * t) + 3.0 * jnp.exp(-4.0 * t)
        return x[2] * jnp.exp(-t * x[0]) - x[3] * jnp.exp(-t * x[1]) + x[5] * jnp.exp(-t * x[4]) - y

    return least_squares(
        residual, [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], f_star=0.0, x_star=[1.0, 10.0, 1.0, 5.0, 4.0, 3.0],
        box=(0.0, 10.0), description=biggs_exp6.__doc__,
    )


@register("osborne2", tags=_LS)
def osborne2():
    """Osborne 2 (MGH 19): four exponential/Gaussian terms fitted to 65 data; f* = 4.01377...e-2.

    f_i = y_i - (x1 e^(-t x5) + x2 e^(-(t - x9)^2 x6) + x3 e^(-(t - x10)^2 x7) + x4 e^(-(t - x11)^2 x8)),
    t_i = (i - 1) / 10.
    """
    y = [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608,
         0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661,
         0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428,
         0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559,
         0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054]

    def residual(x):
        t = jnp.arange(65, dtype=x.dtype) / 10.0
        model = x[0] * jnp.exp(-t * x[4])
        for k in range(3):
            model = model + x[1 + k] * jnp.exp(-((t - x[8 + k]) ** 2) * x[5 + k])
        return const(y, x) - model

    return least_squares(
        residual, [1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5], f_star=4.013773629354767e-02,
        x_star=[1.3099771546273005, 0.43155379460298887, 0.633661698960724, 0.5994305347859163,
                0.7541832263280112, 0.904288579859634, 1.3658118352370283, 4.823698817227156,
                2.3986848661317546, 4.568874597667672, 5.6753414705806415],
        box=(0.0, 7.0), description=osborne2.__doc__,
    )

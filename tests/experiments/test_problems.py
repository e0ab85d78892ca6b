"""Test problems against published minima, analytic derivatives, finite differences and scipy.

Truth used here: values published in More, Garbow & Hillstrom (ACM TOMS 1981, six digits),
the NIST StRD certified results (MGH09, MGH10, MGH17, eleven digits), closed-form minima,
hand-computed values at the standard starts, numpy/scipy solvers on the raw data.
"""

import functools
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from experiments.problems import Problem, get, names, params, tags

REQUIRED = [
    "rosenbrock", "beale", "himmelblau", "booth", "six_hump_camel", "styblinski_tang", "rastrigin", "ackley",
    "quadratic_saddle", "monkey_saddle", "hill", "extended_rosenbrock", "ill_conditioned_quadratic", "multiwell",
    "linear_least_squares", "logistic_regression", "mlp_regression", "mlp_classification",
]
# The hand-written problems; the CUTEst ones (with sif2jax installed) are tested in test_cutest.py.
ALL = sorted(set(names()) - set(names("cutest")))


# The functions under test are tiny: skip XLA's backend optimizations (compile time dominates).
# jax.jit takes compiler_options from jax 0.4.36 on; older ones compile at the default level.
if "compiler_options" in inspect.signature(jax.jit).parameters:
    fast_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})
else:
    fast_jit = jax.jit


@functools.cache
def _probe(name, kw=()):
    p = get(name, **dict(kw))

    def one(x):
        f, g = jax.value_and_grad(p.fun)(x)
        out = {"f": f, "g": g}
        if p.residual is not None:
            out["r"] = p.residual(x)
            out["rsum"] = jnp.sum(out["r"] ** 2)
        if p.model_fn is not None:
            out["loss"] = p.loss_fn(p.model_fn(x))
        if p.dim <= 3:
            out["h"] = jax.hessian(p.fun)(x)
        return out

    return p, fast_jit(one)


def evaluate(name, points, kw=()):
    """(problem, outputs): f, g, residual r and sum(r^2), loss_fn(model_fn(x)) and, for dim <= 3,
    the Hessian h at each point, as numpy arrays stacked over the points."""
    p, fn = _probe(name, tuple(sorted(dict(kw).items())))
    outs = [fn(x) for x in np.atleast_2d(np.asarray(points, dtype=np.float64))]
    return p, {k: np.stack([np.asarray(o[k]) for o in outs]) for k in outs[0]}


def rows(p):
    """x0, x_star (x0 when unknown) and a random point of the box."""
    lo, hi = box_bounds(p)
    x_star = p.x_star if p.x_star is not None else p.x0
    return np.stack([np.asarray(p.x0), np.asarray(x_star), np.random.RandomState(1).uniform(lo, hi)])


def central_jacobian(name, x, kw=()):
    """Jacobian of the residual by central differences (step 1e-6 |x_i|, at least 1e-8)."""
    step = np.diag(np.maximum(1e-6 * np.abs(x), 1e-8))
    r = evaluate(name, np.concatenate([x + step, x - step]), kw)[1]["r"]
    return ((r[: len(x)] - r[len(x):]) / (2 * np.diag(step))[:, None]).T


def box_bounds(p):
    return tuple(np.broadcast_to(np.asarray(b, dtype=np.float64), (p.dim,)) for b in p.box)


# ---------------------------------------------------------------------------- registry


def test_required_problems_and_tags():
    assert set(REQUIRED) <= set(ALL)
    assert len(names("mgh")) >= 15
    assert set(names("ml")) == {"linear_least_squares", "logistic_regression", "mlp_regression", "mlp_classification"}
    assert {"quadratic_saddle", "monkey_saddle", "hill", "multiwell"} <= set(names("saddle"))
    assert {"powell_badly_scaled", "brown_badly_scaled", "ill_conditioned_quadratic"} <= set(names("ill-conditioned"))
    assert names("no-such-tag") == []
    assert {"2d", "mgh", "ml", "saddle", "ill-conditioned", "least-squares", "large-scale"} <= set(tags())
    for name in names("2d"):
        assert get(name).dim == 2, name


def test_params_report_accepted_keys_and_defaults():
    assert params("rosenbrock") == {}
    assert params("ill_conditioned_quadratic") == {"dim": 100, "cond": 1e4, "seed": 0, "rotate": True}
    assert params("logistic_regression") == {"dim": 10, "n_samples": 200, "l2": 1e-3, "seed": 0}
    assert set(params("mlp_classification")) == {"n_samples", "n_classes", "hidden", "seed"}


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown problem 'rosenbrok'.*known problems:.*rosenbrock"):
        get("rosenbrok")
    with pytest.raises(ValueError, match="unknown problem"):
        params("nope")


@pytest.mark.parametrize(
    "name, kw, err, pattern",
    [
        ("rosenbrock", {"dim": 4}, ValueError, r"unknown parameter 'dim'; allowed parameters: none"),
        ("extended_rosenbrock", {"size": 4}, ValueError, r"unknown parameter 'size'; allowed parameters: dim"),
        ("extended_rosenbrock", {"dim": "10"}, TypeError, r"parameter 'dim' must be an integer"),
        ("extended_rosenbrock", {"dim": 2.5}, TypeError, r"parameter 'dim' must be an integer"),
        ("extended_rosenbrock", {"dim": True}, TypeError, r"parameter 'dim' must be an integer"),
        ("extended_rosenbrock", {"dim": 3}, ValueError, r"'extended_rosenbrock': dim must be even"),
        ("ill_conditioned_quadratic", {"cond": 0.5}, ValueError, r"cond must be >= 1"),
        ("ill_conditioned_quadratic", {"cond": "big"}, TypeError, r"parameter 'cond' must be a number"),
        ("ill_conditioned_quadratic", {"rotate": 1}, TypeError, r"parameter 'rotate' must be a bool"),
        ("ill_conditioned_quadratic", {"dim": 5000}, ValueError, r"rotate=False"),
        ("logistic_regression", {"l2": 0.0}, ValueError, r"l2 must be > 0"),
        ("mlp_regression", {"hidden": [16, "8"]}, TypeError, r"parameter 'hidden' must be a list of integers"),
        ("mlp_regression", {"hidden": []}, ValueError, r"hidden must list 1 to 3"),
        ("watson", {"dim": 40}, ValueError, r"dim must be in \[2, 31\]"),
        ("linear_rank1", {"dim": 10, "m": 5}, ValueError, r"m must be >= dim"),
    ],
)
def test_bad_parameters_are_named(name, kw, err, pattern):
    with pytest.raises(err, match=pattern):
        get(name, **kw)


def test_get_is_cached_and_accepts_integral_floats():
    assert get("extended_rosenbrock", dim=10) is get("extended_rosenbrock", dim=10.0)
    assert get("mlp_regression", hidden=[8, 8]) is get("mlp_regression", hidden=(8, 8))
    assert get("mlp_regression", hidden=[8, 8]).dim == 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1


# ---------------------------------------------------------------------------- every problem


@pytest.mark.parametrize("name", ALL)
def test_problem_record_is_consistent(name):
    p = get(name)
    assert isinstance(p, Problem) and p.name == name and p.tags and p.description
    assert p.x0.shape == (p.dim,) and p.x0.dtype == jnp.float64
    lo, hi = box_bounds(p)
    assert np.all(lo < hi)
    _, out = evaluate(name, rows(p))
    assert np.all(np.isfinite(out["f"])) and np.all(np.isfinite(out["g"]))
    if p.f_star is not None:
        assert np.all(out["f"] >= p.f_star - 1e-10 * max(1.0, abs(p.f_star)))
    else:
        assert not p.minima
    if p.dim == 2 and p.f_star is not None:
        assert p.minima, "2-D problems list their minima for plots"
    # the least-squares and model/loss splits reproduce fun
    if p.residual is not None:
        np.testing.assert_allclose(out["rsum"], out["f"], rtol=1e-13, atol=1e-20)
    if p.model_fn is not None:
        np.testing.assert_allclose(out["loss"], out["f"], rtol=1e-13)


@pytest.mark.parametrize("name", ["rosenbrock", "meyer"])
def test_sample_starts_lie_in_the_box(name):
    p = get(name)
    starts = p.sample_starts(jax.random.PRNGKey(0), 5)
    lo, hi = box_bounds(p)
    assert starts.shape == (5, p.dim) and starts.dtype == p.x0.dtype
    assert np.all((starts >= lo) & (starts <= hi)) and np.unique(np.asarray(starts)[:, 0]).size == 5


@pytest.mark.parametrize("name", ALL)
def test_float32_in_float32_out(name):
    p = get(name)
    x = jax.ShapeDtypeStruct((p.dim,), jnp.float32)
    value = jax.eval_shape(p.fun, x)
    assert value.shape == () and value.dtype == jnp.float32
    batch = jax.ShapeDtypeStruct((4, p.dim), jnp.float32)  # vmap over starts, as the runner does
    grads = jax.eval_shape(jax.vmap(jax.grad(p.fun)), batch)
    assert grads.shape == (4, p.dim) and grads.dtype == jnp.float32
    if p.residual is not None:
        assert jax.eval_shape(p.residual, x).dtype == jnp.float32
    if p.model_fn is not None:
        assert jax.eval_shape(lambda z: p.loss_fn(p.model_fn(z)), x).dtype == jnp.float32


@pytest.mark.parametrize("name", ["osborne2", "mlp_classification"])
def test_float32_values_and_gradients_agree_with_float64(name):
    p = get(name)
    f, g = fast_jit(jax.value_and_grad(p.fun))(p.x0.astype(jnp.float32))
    assert f.dtype == jnp.float32 and g.dtype == jnp.float32
    _, out = evaluate(name, p.x0)
    np.testing.assert_allclose(f, out["f"][0], rtol=1e-5)
    np.testing.assert_allclose(g, out["g"][0], rtol=1e-3, atol=1e-4 * np.abs(out["g"]).max())


# ---------------------------------------------------------------------------- published values

# (name, params, published f*, relative tolerance, source)
PUBLISHED = [
    ("rosenbrock", {}, 0.0, 0, "MGH 1"),
    ("freudenstein_roth", {}, 0.0, 0, "MGH 2"),
    ("powell_badly_scaled", {}, 0.0, 0, "MGH 3"),
    ("brown_badly_scaled", {}, 0.0, 0, "MGH 4"),
    ("beale", {}, 0.0, 0, "MGH 5"),
    ("jennrich_sampson", {}, 124.362, 5e-6, "MGH 6"),
    ("helical_valley", {}, 0.0, 0, "MGH 7"),
    ("bard", {}, 8.21487e-3, 5e-6, "MGH 8"),
    ("gaussian", {}, 1.12793e-8, 5e-6, "MGH 9"),
    ("meyer", {}, 8.7945855171e1, 1e-10, "NIST MGH10"),
    ("gulf", {}, 0.0, 0, "MGH 11"),
    ("box_3d", {}, 0.0, 0, "MGH 12"),
    ("powell_singular", {}, 0.0, 0, "MGH 13"),
    ("wood", {}, 0.0, 0, "MGH 14"),
    ("kowalik_osborne", {}, 3.0750560385e-4, 1e-10, "NIST MGH09"),
    ("brown_dennis", {}, 85822.2, 5e-6, "MGH 16"),
    ("osborne1", {}, 5.4648946975e-5, 1e-10, "NIST MGH17"),
    ("biggs_exp6", {}, 0.0, 0, "MGH 18"),
    ("osborne2", {}, 4.01377e-2, 5e-6, "MGH 19"),
    ("watson", {}, 2.28767e-3, 5e-6, "MGH 20"),
    ("watson", {"dim": 9}, 1.39976e-6, 5e-6, "MGH 20"),
    ("watson", {"dim": 12}, 4.72238e-10, 5e-6, "MGH 20"),
    ("extended_rosenbrock", {}, 0.0, 0, "MGH 21"),
    ("extended_powell_singular", {}, 0.0, 0, "MGH 22"),
    ("penalty_1", {}, 2.24997e-5, 5e-6, "MGH 23"),
    ("penalty_1", {"dim": 10}, 7.08765e-5, 5e-6, "MGH 23"),
    ("penalty_2", {}, 9.37629e-6, 5e-6, "MGH 24"),
    ("penalty_2", {"dim": 10}, 2.93660e-4, 5e-6, "MGH 24"),
    ("variably_dimensioned", {}, 0.0, 0, "MGH 25"),
    ("trigonometric", {}, 0.0, 0, "MGH 26"),
    ("brown_almost_linear", {}, 0.0, 0, "MGH 27"),
    ("discrete_boundary_value", {}, 0.0, 0, "MGH 28"),
    ("discrete_integral_equation", {}, 0.0, 0, "MGH 29"),
    ("broyden_tridiagonal", {}, 0.0, 0, "MGH 30"),
    ("broyden_banded", {}, 0.0, 0, "MGH 31"),
    ("linear_full_rank", {}, 20.0 - 10.0, 1e-15, "MGH 32: m - n"),
    ("linear_rank1", {}, 20 * 19 / (2 * 41), 1e-15, "MGH 33: m(m-1)/(2(2m+1))"),
    ("linear_rank1_zero", {}, (400 + 60 - 6) / (2 * 37), 1e-15, "MGH 34"),
    ("chebyquad", {}, 3.51687e-3, 5e-6, "MGH 35"),
    ("chebyquad", {"dim": 9}, 0.0, 0, "MGH 35"),
    ("chebyquad", {"dim": 10}, 6.50395e-3, 5e-6, "MGH 35"),
    ("himmelblau", {}, 0.0, 0, "Himmelblau 1972"),
    ("booth", {}, 0.0, 0, "Jamil & Yang 2013"),
    ("six_hump_camel", {}, -1.0316284534898, 1e-12, "Jamil & Yang 2013"),
    ("styblinski_tang", {}, -39.16616570377142 * 2, 1e-14, "root of 4t^3 - 32t + 5"),
    ("rastrigin", {}, 0.0, 0, "Jamil & Yang 2013"),
    ("ackley", {}, 0.0, 0, "Jamil & Yang 2013"),
    ("multiwell", {}, 0.0, 0, "closed form"),
    ("ill_conditioned_quadratic", {}, 0.0, 0, "closed form"),
]
_IDS = [f"{n}{''.join(f'-{k}{v}' for k, v in kw.items())}" for n, kw, *_ in PUBLISHED]


def _stationarity(g, x, f):
    """max_i |g_i x_i| / max(1, |f|), with |x_i| floored at 1: a scale-aware gradient test."""
    return float(np.max(np.abs(np.asarray(g)) * np.maximum(np.abs(np.asarray(x)), 1e-3)) / max(1.0, abs(f)))


@pytest.mark.parametrize("name, kw, published, rtol, source", PUBLISHED, ids=_IDS)
def test_f_star_matches_publication_and_x_star_is_stationary(name, kw, published, rtol, source):
    p, out = evaluate(name, get(name, **kw).x0, kw)
    assert p.f_star is not None
    assert p.f_star == pytest.approx(published, rel=rtol, abs=0 if published else 1e-300)
    if p.x_star is None:
        return
    _, out = evaluate(name, p.x_star, kw)
    assert out["f"][0] == pytest.approx(p.f_star, rel=1e-10, abs=1e-20)
    assert _stationarity(out["g"][0], p.x_star, out["f"][0]) < 1e-5


# Least-squares problems whose minimizer is only known numerically: scipy's
# Levenberg-Marquardt from the standard start (finite-difference Jacobian) reaches the
# published value. freudenstein_roth ends in its published local minimum.
FROM_X0 = [
    ("freudenstein_roth", {}, 48.9842, 5e-6),
    ("jennrich_sampson", {}, 124.362, 5e-6),
    ("bard", {}, 8.21487e-3, 5e-6),
    ("gaussian", {}, 1.12793e-8, 5e-6),
    ("kowalik_osborne", {}, 3.07505e-4, 5e-6),
    ("brown_dennis", {}, 85822.2, 5e-6),
    ("osborne1", {}, 5.46489e-5, 5e-6),
    ("osborne2", {}, 4.01377e-2, 5e-6),
    ("watson", {"dim": 9}, 1.39976e-6, 5e-6),
    ("penalty_1", {"dim": 10}, 7.08765e-5, 5e-6),
    ("penalty_2", {"dim": 10}, 2.93660e-4, 5e-6),
    ("chebyquad", {"dim": 8}, 3.51687e-3, 5e-6),
    ("discrete_integral_equation", {"dim": 10}, 0.0, 0),
    ("broyden_banded", {"dim": 10}, 0.0, 0),
]


@pytest.mark.parametrize("name, kw, published, rtol", FROM_X0, ids=[f[0] for f in FROM_X0])
def test_scipy_from_x0_reaches_published_value(name, kw, published, rtol):
    p = get(name, **kw)
    sol = optimize.least_squares(lambda z: evaluate(name, z, kw)[1]["r"][0], np.asarray(p.x0), method="lm",
                                 jac=lambda z: central_jacobian(name, z, kw), xtol=1e-14, ftol=1e-14, gtol=1e-14)
    f = float(np.sum(sol.fun ** 2))
    if published:
        assert f == pytest.approx(published, rel=rtol)
    else:
        assert f < 1e-20


def test_meyer_from_x0_with_scipy_lm():
    p = get("meyer")
    sol = optimize.least_squares(lambda z: evaluate("meyer", z)[1]["r"][0], np.asarray(p.x0), method="lm",
                                 jac=lambda z: central_jacobian("meyer", z), x_scale="jac",
                                 xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=5000)
    assert np.sum(sol.fun ** 2) == pytest.approx(87.945855171, rel=1e-9)  # NIST MGH10 certified
    np.testing.assert_allclose(sol.x, [5.6096364710e-03, 6.1813463463e+03, 3.4522363462e+02], rtol=1e-7)


@pytest.mark.parametrize(
    "name, value",
    [  # f(x0) by hand from the paper's formulas
        ("rosenbrock", 24.2),                      # 100 (1 - 1.44)^2 + 2.2^2
        ("brown_badly_scaled", (1 - 1e6) ** 2 + (1 - 2e-6) ** 2 + 1.0),
        ("beale", 1.5 ** 2 + 2.25 ** 2 + 2.625 ** 2),
        ("helical_valley", 2500.0),                # theta(-1, 0) = 1/2: 100 (0 - 5)^2
        ("powell_singular", 49.0 + 5.0 + 1.0 + 160.0),
        ("wood", 19192.0),
        ("watson", 30.0),                          # 29 residuals -1, f30 = 0, f31 = -1
        ("linear_full_rank", 10 * (1 - 2 * 10 / 20 - 1) ** 2 + 10 * (-1.0 - 1) ** 2),
    ],
)
def test_value_at_standard_start(name, value):
    p, out = evaluate(name, get(name).x0)
    assert out["f"][0] == pytest.approx(value, rel=1e-14)


def test_freudenstein_roth_start_by_hand():
    x1, x2 = 0.5, -2.0
    f1 = -13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2
    f2 = -29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2
    assert (f1, f2) == (-12.5 + 32.0, -28.5 + 24.0)
    assert evaluate("freudenstein_roth", [x1, x2])[1]["f"][0] == 19.5 ** 2 + 4.5 ** 2


def test_helical_valley_uses_the_paper_branch_not_atan2():
    points = [(-1.0, -0.1, 0.3), (-0.5, 0.7, -0.2), (0.8, -0.3, 0.1), (0.0, 0.5, 0.25), (0.0, -0.5, 0.0),
              (0.0, 0.0, 0.1)]
    _, out = evaluate("helical_valley", points)
    for (x1, x2, x3), value in zip(points, out["f"]):
        if x1 > 0:
            theta = math.atan(x2 / x1) / (2 * math.pi)
        elif x1 < 0:
            theta = math.atan(x2 / x1) / (2 * math.pi) + 0.5
        else:
            theta = 0.25 * math.copysign(1.0, x2) if x2 else 0.0
        expect = 100 * (x3 - 10 * theta) ** 2 + 100 * (math.hypot(x1, x2) - 1) ** 2 + x3 ** 2
        assert float(value) == pytest.approx(expect, rel=1e-14)
    assert np.all(np.isfinite(out["g"]))  # also on the axis x1 = 0 and at x1 = x2 = 0


@pytest.mark.parametrize("name", ["helical_valley", "gulf", "ackley", "watson", "penalty_2", "chebyquad",
                                  "discrete_integral_equation", "broyden_banded", "osborne2", "mlp_classification"])
def test_gradient_matches_central_differences(name):
    p = get(name)
    lo, hi = box_bounds(p)
    x = lo + (hi - lo) * np.random.RandomState(0).uniform(0.2, 0.8, p.dim)
    step = np.diag(1e-6 * np.maximum(np.abs(x), 1.0))
    _, out = evaluate(name, np.concatenate([x[None], x + step, x - step]))
    fd = (out["f"][1:p.dim + 1] - out["f"][p.dim + 1:]) / (2 * np.diag(step))
    g = out["g"][0]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * max(1.0, np.abs(g).max()))


# ---------------------------------------------------------------------------- 2-D surfaces


def test_rosenbrock_hessian_is_the_analytic_one():
    x, y = 0.3, -0.7
    expect = np.array([[1200 * x * x - 400 * y + 2, -400 * x], [-400 * x, 200.0]])
    np.testing.assert_allclose(evaluate("rosenbrock", [x, y])[1]["h"][0], expect, rtol=1e-14)


@pytest.mark.parametrize("name", [n for n in names("2d") if get(n).minima])
def test_listed_minima_are_strict_local_minima(name):
    p, out = evaluate(name, get(name).minima)
    for m, f, g, h in zip(p.minima, out["f"], out["g"], out["h"]):
        assert _stationarity(g, m, f) < 1e-8, m
        assert np.all(np.linalg.eigvalsh(h) > 0), m
        assert f >= p.f_star - 1e-12 * max(1.0, abs(p.f_star))
    if p.saddles:
        _, out = evaluate(name, p.saddles)
        assert np.all(out["g"] == 0) and all(np.linalg.eigvalsh(h)[0] < 0 < np.linalg.eigvalsh(h)[-1] for h in out["h"])


def test_literature_minima_of_2d_surfaces():
    h = get("himmelblau")  # Himmelblau (1972): four zeros, to six decimals
    published = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    for point in published:
        assert min(np.max(np.abs(np.array(m) - point)) for m in h.minima) < 1e-6
    assert np.all(evaluate("himmelblau", published)[1]["f"] < 1e-8)
    camel = get("six_hump_camel")
    np.testing.assert_allclose(np.abs(camel.x_star), [0.0898, 0.7126], atol=1e-4)
    st = get("styblinski_tang")
    assert np.allclose(np.polyval([4.0, 0.0, -32.0, 5.0], np.array(st.minima).ravel()), 0.0, atol=1e-12)


def test_saddles_and_hill_critical_points():
    for name, eig in [("quadratic_saddle", [-2.0, 2.0]), ("monkey_saddle", [0.0, 0.0]), ("hill", [-2.0, -2.0])]:
        p = get(name)
        assert p.f_star is None and p.x_star is None and "unbounded" in p.tags
        assert (p.saddles or p.maxima) == ((0.0, 0.0),)
        # the origin is critical with the stated Hessian; along a descent ray f keeps falling
        ray = np.array([0.0, 1.0]) if name != "monkey_saddle" else np.array([-1.0, 0.0])
        _, out = evaluate(name, [[0.0, 0.0], ray, 10 * ray, 100 * ray])
        np.testing.assert_array_equal(out["g"][0], [0.0, 0.0])
        np.testing.assert_allclose(np.linalg.eigvalsh(out["h"][0]), eig, atol=1e-15)
        assert out["f"][3] < out["f"][2] < out["f"][1]


def test_multiwell_critical_points_have_index_equal_to_zero_count():
    points = [(1.0, -1.0, 1.0), (0.0, 1.0, -1.0), (0.0, 0.0, 1.0), (0.0, 0.0, 0.0)]
    _, out = evaluate("multiwell", points, {"dim": 3})
    for point, g, h in zip(points, out["g"], out["h"]):
        np.testing.assert_array_equal(g, np.zeros(3))
        eig = np.linalg.eigvalsh(h)
        np.testing.assert_allclose(np.sort(eig), np.sort(12 * np.square(point) - 4))
        assert np.sum(eig < 0) == point.count(0.0)
    np.testing.assert_array_equal(out["f"], [0.0, 1.0, 2.0, 3.0])
    two = get("multiwell")
    assert len(two.minima) == 4 and len(two.saddles) == 4 and two.maxima == ((0.0, 0.0),)


# ---------------------------------------------------------------------------- n-D


def test_extended_rosenbrock_at_a_million_dimensions():
    p = get("extended_rosenbrock", dim=1e6)
    assert p.dim == 1_000_000 and p.x0.shape == (1_000_000,)
    vg = fast_jit(jax.value_and_grad(p.fun))
    f0, g0 = vg(p.x0)
    assert float(f0) == pytest.approx(24.2 * 500_000, rel=1e-12)
    np.testing.assert_allclose(g0[:2], [-215.6, -88.0], rtol=1e-12)  # d/dx of 100(y - x^2)^2 + (1 - x)^2
    f1, g1 = vg(p.x_star)
    assert float(f1) == 0.0 and float(jnp.max(jnp.abs(g1))) == 0.0


@pytest.mark.parametrize("rotate", [True, False])
def test_ill_conditioned_quadratic_spectrum(rotate):
    dim, cond = 12, 1e6
    x = np.linspace(-1.0, 1.0, dim)
    # the gradient A x is linear: A's columns are the gradients at the unit vectors
    _, out = evaluate("ill_conditioned_quadratic", np.vstack([np.eye(dim), x]),
                      {"dim": dim, "cond": cond, "seed": 3, "rotate": rotate})
    h = out["g"][:dim].T
    np.testing.assert_allclose(h, h.T, atol=1e-9)
    eig = np.linalg.eigh(h)[0]
    np.testing.assert_allclose(eig, np.logspace(0, 6, dim), rtol=1e-9)
    assert eig[-1] / eig[0] == pytest.approx(cond, rel=1e-9)
    assert (np.count_nonzero(np.abs(h) > 1e-12) > dim) == rotate
    assert out["f"][dim] == pytest.approx(0.5 * x @ h @ x, rel=1e-12)


# ---------------------------------------------------------------------------- ML


def test_linear_least_squares_against_numpy_lstsq():
    p = get("linear_least_squares")
    a, b = p.data["features"], p.data["targets"]
    assert a.shape == (200, 20) and p.dim == 20
    x, *_ = np.linalg.lstsq(a, b, rcond=None)
    np.testing.assert_allclose(p.x_star, x, rtol=1e-10)
    assert p.f_star == pytest.approx(0.5 * np.mean((a @ x - b) ** 2), rel=1e-12)
    xs = rows(p)
    f = evaluate("linear_least_squares", xs)[1]["f"]
    np.testing.assert_allclose(f, [0.5 * np.mean((a @ z - b) ** 2) for z in xs], rtol=1e-13)


def test_logistic_regression_against_numpy_loss_and_scipy():
    p = get("logistic_regression")
    a, y = p.data["features"], p.data["targets"]
    assert set(np.unique(y)) == {0.0, 1.0} and a.shape == (200, 10)
    l2 = params("logistic_regression")["l2"]

    def loss(w):  # cross-entropy with 0/1 labels
        z = a @ w
        return np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w

    xs = rows(p)
    np.testing.assert_allclose(evaluate("logistic_regression", xs)[1]["f"], [loss(w) for w in xs], rtol=1e-13)
    sol = optimize.minimize(loss, np.zeros(p.dim), method="BFGS", options={"gtol": 1e-12})
    assert p.f_star == pytest.approx(sol.fun, rel=1e-10)
    np.testing.assert_allclose(p.x_star, sol.x, atol=1e-5)


def _numpy_mlp(x, sizes, u):
    """Forward pass of the documented layout: per layer W (fan_in, fan_out) row-major, then b."""
    at, h = 0, u
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        h = h @ x[at:at + i * o].reshape(i, o) + x[at + i * o:at + i * o + o]
        at += i * o + o
        h = np.tanh(h) if k < len(sizes) - 2 else h
    assert at == x.size
    return h


def test_mlp_regression_forward_pass_in_numpy():
    kw = {"hidden": (6, 5), "n_samples": 50, "seed": 4}
    p = get("mlp_regression", **kw)
    u, v = p.data["features"], p.data["targets"]
    xs = rows(p)
    pred = [_numpy_mlp(x, [2, 6, 5, 1], u)[:, 0] for x in xs]
    f = evaluate("mlp_regression", xs, kw)[1]["f"]
    np.testing.assert_allclose(f, [0.5 * np.mean((q - v) ** 2) for q in pred], rtol=1e-12)


def test_mlp_classification_cross_entropy_in_numpy():
    p = get("mlp_classification")
    u, c = p.data["features"], p.data["targets"]
    assert np.bincount(c).tolist() == [100, 100, 100] and p.dim == 2 * 16 + 16 + 16 * 3 + 3
    xs = rows(p)
    expect = []
    for x in xs:
        logits = _numpy_mlp(x, [2, 16, 3], u)
        m = logits.max(axis=1, keepdims=True)
        logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
        expect.append(-np.mean(logp[np.arange(300), c]))
    np.testing.assert_allclose(evaluate("mlp_classification", xs)[1]["f"], expect, rtol=1e-12)


def test_ml_data_follow_the_seed():
    for name in names("ml"):
        a, b = get(name, seed=0), get(name, seed=1)
        assert not np.allclose(a.data["features"], b.data["features"])
        np.testing.assert_array_equal(a.data["features"], get(name, seed=0).data["features"])
        assert not a.data["features"].flags.writeable

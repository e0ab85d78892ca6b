"""Trust-region subproblem solvers (GLTR, Moré-Sorensen, dogleg) against numpy.

The truth is computed here, independently of the JAX code: numpy.linalg.eigh of B and
bisection on the secular equation ||p(lambda)|| = radius (in the shifted variable
mu = lambda + w_1, so the near-hard case keeps its accuracy), with the hard case by its
textbook formula. Every solution is also checked against the KKT conditions of
N&W Thm. 4.1 directly, with tolerances derived from eps, ||B||, ||p|| and ||g||.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimizers._dogleg import dogleg
from optimizers._gltr import gltr
from optimizers._krylov import steihaug_cg, truncated_cg
from optimizers._more_sorensen import more_sorensen
from optimizers._subproblem import (
    CONVERGED,
    INDEFINITE,
    MAX_ITER,
    NONFINITE,
    SUBPROBLEM_STATUS,
    SubproblemResult,
)

N = 12
EPS = np.finfo(float).eps


# ------------------------------------------------------------------ numpy truth


def exact_tr(B, g, radius):
    """(p, lambda) solving min g.p + p.Bp/2, ||p|| <= radius: eigh + bisection."""
    w, V = np.linalg.eigh(B)
    c = V.T @ g
    if w[0] > 0 and np.linalg.norm(c / w) <= radius:
        return -V @ (c / w), 0.0
    gap = w - w[0]
    cluster = gap <= 1e-10 * np.max(np.abs(w))
    far = ~cluster
    p_far = -c[far] / gap[far]
    if np.linalg.norm(c[cluster]) <= 1e-15 * np.linalg.norm(c) and p_far @ p_far <= radius**2:
        u = np.zeros_like(c)  # hard case: lambda = -w_1, p = p_far + tau z
        u[far] = p_far
        u[0] = np.sqrt(radius**2 - p_far @ p_far)
        return V @ u, -w[0]
    lo = max(w[0], 0.0)  # mu = lambda + w_1 >= max(w_1, 0)
    hi = lo + np.linalg.norm(c) / radius
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if np.linalg.norm(c / (gap + mid)) > radius:
            lo = mid
        else:
            hi = mid
    mu = 0.5 * (lo + hi)
    return -V @ (c / (gap + mu)), mu - w[0]


def model(B, g, p):
    return g @ p + 0.5 * p @ B @ p


def _orthogonal(seed, n=N):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q


def make_case(name, n=N, seed=0):
    """(B, g, radius, unique): unique is False where the minimizer is not unique."""
    Q = _orthogonal(seed, n)
    c = np.random.default_rng(seed + 100).normal(size=n)
    if name.startswith("pd"):
        lam = np.geomspace(1.0, 1e3, n)
    elif name == "hard_double":
        lam = np.r_[-2.0, -2.0, np.linspace(-1.0, 5.0, n - 2)]
    else:
        lam = np.linspace(-2.0, 5.0, n)
    if name.startswith("hard"):
        c[: 2 if name == "hard_double" else 1] = 0.0
    if name == "near_hard":
        c[0] = 1e-8 * np.linalg.norm(c)
    B = (Q * lam) @ Q.T
    B = 0.5 * (B + B.T)
    g = Q @ c
    if name == "pd_interior":
        radius = 2.0 * np.linalg.norm(np.linalg.solve(B, g))
    elif name == "pd_boundary":
        radius = 0.1 * np.linalg.norm(np.linalg.solve(B, g))
    elif name == "indefinite":
        radius = 1.0
    else:  # hard cases: radius beyond ||(B - lambda_1 I)^+ g||
        far = lam > lam[0] + 1e-12
        radius = 2.0 * np.linalg.norm(c[far] / (lam[far] - lam[0]))
    return B, g, float(radius), name not in ("hard", "hard_double")


CASES = ["pd_interior", "pd_boundary", "indefinite", "hard", "near_hard"]


def check_kkt(B, g, radius, res, *, extra=0.0):
    """The KKT conditions of N&W Thm. 4.1 at the returned step and multiplier."""
    p = np.asarray(res.step)
    lam = float(res.lagrange)
    normB, normp, normg = np.linalg.norm(B, 2), np.linalg.norm(p), np.linalg.norm(g)
    assert normp <= radius * (1 + 1e-8)
    assert lam >= 0
    resid = np.linalg.norm((B + lam * np.eye(len(g))) @ p + g)
    tol = 1e3 * EPS * (normB * normp + normg + lam * normp) + extra
    assert resid <= tol, (resid, tol)
    assert abs(lam * (radius - normp)) <= 1e3 * EPS * lam * radius + extra * radius
    assert np.linalg.eigvalsh(B + lam * np.eye(len(g)))[0] >= -1e3 * EPS * normB
    # the reported model value is m at the returned step
    m = model(B, g, p)
    assert abs(float(res.model_value) - m) <= 1e3 * EPS * (normg * normp + normB * normp**2)
    assert bool(res.boundary) == (normp >= radius * (1 - 1e-8))


def check_optimal(B, g, radius, res, unique, *, rtol=1e-9):
    p_true, lam_true = exact_tr(B, g, radius)
    m_true = model(B, g, p_true)
    m = model(B, g, np.asarray(res.step))
    assert abs(m - m_true) <= rtol * abs(m_true), (m, m_true)
    np.testing.assert_allclose(float(res.lagrange), lam_true, rtol=1e-7, atol=1e-9 * np.linalg.norm(B, 2))
    if unique:
        np.testing.assert_allclose(np.asarray(res.step), p_true, rtol=0, atol=1e-7 * radius)


# ------------------------------------------------------------------ compiled solvers
# One compile per solver and signature; the matrix, g, radius and tolerances are
# arguments, so each case reuses it.


@jax.jit
def _ms(B, g, radius):
    return more_sorensen(B, g, radius)


@jax.jit
def _dl(B, g, radius):
    return dogleg(B, g, radius)


_calls = []


def _count():
    _calls.append(1)


@functools.partial(jax.jit, static_argnames="max_iter")
def _gl(B, g, radius, rtol, *, max_iter):
    def matvec(v):
        jax.debug.callback(_count)
        return B @ v

    return gltr(matvec, g, radius, max_iter=max_iter, rtol=rtol)


@jax.jit
def _st(B, g, radius, rtol, max_iter):
    return steihaug_cg(lambda v: B @ v, g, radius, rtol=rtol, max_iter=max_iter)


def ms(B, g, radius):
    return _ms(jnp.asarray(B, float), jnp.asarray(g, float), jnp.asarray(radius, float))


def dl(B, g, radius):
    return _dl(jnp.asarray(B, float), jnp.asarray(g, float), jnp.asarray(radius, float))


def gl(B, g, radius, *, rtol=1e-12, max_iter=N):
    _calls.clear()
    res = _gl(jnp.asarray(B, float), jnp.asarray(g, float), jnp.asarray(radius, float),
              jnp.asarray(rtol, float), max_iter=max_iter)
    jax.effects_barrier()
    assert int(res.num_matvec) == len(_calls)  # every product with B is counted
    return res


def st(B, g, radius, *, rtol, max_iter):
    return _st(jnp.asarray(B, float), jnp.asarray(g, float), jnp.asarray(radius, float),
               jnp.asarray(rtol, float), jnp.asarray(max_iter, jnp.int32))


# ------------------------------------------------------------------ Moré-Sorensen


@pytest.mark.parametrize("name", CASES + ["hard_double"])
def test_more_sorensen_is_the_exact_solution(name):
    B, g, radius, unique = make_case(name)
    res = ms(B, g, radius)
    assert int(res.status) == CONVERGED and int(res.num_matvec) == 0
    check_kkt(B, g, radius, res)
    check_optimal(B, g, radius, res, unique)
    assert bool(res.boundary) == (name != "pd_interior")


@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_more_sorensen_scale_invariant_near_hard_case(scale):
    # tolerances are relative to max|w| and ||g||: scaling B and g by s scales lambda by
    # s and leaves p alone, also when lambda is within 1e-8 of -w_1
    B, g, radius, _ = make_case("near_hard")
    ref = ms(B, g, radius)
    res = ms(scale * B, scale * g, radius)
    check_kkt(scale * B, scale * g, radius, res)
    np.testing.assert_allclose(np.asarray(res.step), np.asarray(ref.step), atol=1e-8 * radius)
    np.testing.assert_allclose(float(res.lagrange), scale * float(ref.lagrange), rtol=1e-8)


def test_more_sorensen_hard_case_step_is_on_the_boundary_along_z():
    B, g, radius, _ = make_case("hard")
    res = ms(B, g, radius)
    w, V = np.linalg.eigh(B)
    p = np.asarray(res.step)
    np.testing.assert_allclose(float(res.lagrange), -w[0], rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(p), radius, rtol=1e-12)
    assert abs(V[:, 0] @ p) > 0.5 * radius  # the eigenvector carries the rest of the norm


# ------------------------------------------------------------------ GLTR


@pytest.mark.parametrize(
    "name, rtol",
    [(name, 1e-12) for name in CASES if name != "hard"]
    + [(name, 0.0) for name in CASES + ["hard_double"]],
)
def test_gltr_with_n_steps_is_the_exact_solution(name, rtol):
    # rtol = 0 runs all n steps: Q is then a full orthonormal basis and the answer is
    # exact, hard case included; rtol > 0 stops on the residual estimate, which is
    # accurate except in the hard case (the Krylov space of g never holds z)
    B, g, radius, unique = make_case(name)
    res = gl(B, g, radius, rtol=rtol, max_iter=N)
    assert int(res.status) == CONVERGED
    assert 1 <= int(res.num_matvec) <= N
    if rtol == 0:
        assert int(res.num_matvec) == N
    check_kkt(B, g, radius, res, extra=10 * rtol * np.linalg.norm(g))
    check_optimal(B, g, radius, res, unique)


@pytest.mark.parametrize("name", ["indefinite", "hard"])
def test_gltr_on_a_buffer_of_several_blocks_is_the_exact_solution(name):
    # n = 40: the boundary steps decompose the leading 8 x 8, then 32 x 32, then the whole
    # 40 x 40 tridiagonal (optimizers/_gltr.py); every size must give the exact answer. The
    # indefinite case's residual estimate reaches exactly 0 after 26 steps (past the first
    # block); the hard case runs all 40 (the Krylov space of g never holds z).
    B, g, radius, unique = make_case(name, n=40, seed=3)
    res = gl(B, g, radius, rtol=0.0, max_iter=40)
    assert int(res.status) == CONVERGED and int(res.num_matvec) >= (40 if name == "hard" else 9)
    check_kkt(B, g, radius, res)
    check_optimal(B, g, radius, res, unique)


def test_gltr_restarts_after_an_invariant_subspace_and_finds_the_hard_case():
    # diagonal B and g_0 = 0 exactly: every Krylov vector has a zero first entry, so the
    # space breaks down after n - 1 steps; the restart brings in e_0 and the tridiagonal
    # (block diagonal now) is in the hard case
    lam = np.linspace(-2.0, 5.0, N)
    B = np.diag(lam)
    g = np.random.default_rng(1).normal(size=N)
    g[0] = 0.0
    radius = 2.0 * np.linalg.norm(g[1:] / (lam[1:] - lam[0]))
    res = gl(B, g, radius, rtol=1e-12, max_iter=N)
    assert int(res.status) == CONVERGED and int(res.num_matvec) == N
    np.testing.assert_allclose(float(res.lagrange), 2.0, rtol=1e-12)
    check_kkt(B, g, radius, res, extra=1e-11 * np.linalg.norm(g))
    check_optimal(B, g, radius, res, unique=False)
    assert abs(float(res.step[0])) > 0.5 * radius


def test_gltr_interior_positive_definite_is_cg():
    # well conditioned, so CG stops before n steps; the radius is never reached
    Q = _orthogonal(5)
    B = (Q * np.geomspace(1.0, 10.0, N)) @ Q.T
    B = 0.5 * (B + B.T)
    g = np.random.default_rng(5).normal(size=N)
    radius = 10.0 * np.linalg.norm(np.linalg.solve(B, g))
    for rtol in (1e-1, 1e-3):
        res = gl(B, g, radius, rtol=rtol, max_iter=N)
        cg = truncated_cg(lambda v: jnp.asarray(B) @ v, -jnp.asarray(g), rtol=rtol, max_iter=N)
        assert int(res.status) == CONVERGED and int(cg.status) == 0
        assert int(cg.iters) < N
        assert not bool(res.boundary) and float(res.lagrange) == 0.0
        assert abs(int(res.num_matvec) - int(cg.iters)) <= 1
        if int(res.num_matvec) == int(cg.iters):
            np.testing.assert_allclose(np.asarray(res.step), np.asarray(cg.x), rtol=0,
                                       atol=1e-9 * np.linalg.norm(cg.x))
        assert np.linalg.norm(B @ np.asarray(res.step) + g) <= rtol * np.linalg.norm(g) * 1.001


def test_gltr_truncated_minimizes_over_the_krylov_space():
    # with k < n steps the step is the minimizer over K_k(B, g) on the ball, which numpy
    # finds by the exact solver on the projected problem
    B, g, radius, _ = make_case("indefinite")
    k = 5
    res = gl(B, g, radius, rtol=1e-14, max_iter=k)
    assert int(res.status) == MAX_ITER and int(res.num_matvec) == k
    K, _ = np.linalg.qr(np.stack([np.linalg.matrix_power(B, j) @ g for j in range(k)], axis=1))
    y, _ = exact_tr(K.T @ B @ K, K.T @ g, radius)
    m_true = model(B, g, K @ y)
    p = np.asarray(res.step)
    assert np.linalg.norm(p) <= radius * (1 + 1e-8)
    assert abs(model(B, g, p) - m_true) <= 1e-8 * abs(m_true)
    assert abs(float(res.model_value) - model(B, g, p)) <= 1e-12 * abs(m_true)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gltr_never_worse_than_steihaug_on_indefinite_problems(seed):
    # GLTR minimizes over the whole Krylov space Steihaug's step lies in
    rng = np.random.default_rng(seed)
    Q = _orthogonal(seed + 7)
    B = (Q * np.linspace(-1.0, 10.0, N)) @ Q.T
    B = 0.5 * (B + B.T)
    g = rng.normal(size=N)
    for radius in (0.1, 1.0, 10.0):
        for max_iter in (5, N):  # the sizes compiled for the other GLTR tests
            s = st(B, g, radius, rtol=1e-8, max_iter=max_iter)
            r = gl(B, g, radius, rtol=1e-8, max_iter=max_iter)
            m_s = model(B, g, np.asarray(s.x))
            m_g = model(B, g, np.asarray(r.step))
            assert np.linalg.norm(np.asarray(r.step)) <= radius * (1 + 1e-8)
            assert m_g <= m_s + 1e-10 * abs(m_s), (radius, max_iter, m_g, m_s)


def test_gltr_jit_and_vmap_over_g():
    B, _, radius, _ = make_case("indefinite")
    gs = np.random.default_rng(3).normal(size=(4, N))
    gs[2] = 0.0  # a zero gradient in the batch
    Bj = jnp.asarray(B)
    batched = jax.jit(jax.vmap(lambda g: gltr(lambda v: Bj @ v, g, radius, max_iter=N, rtol=1e-12)))
    out = batched(jnp.asarray(gs))
    for i in range(4):
        one = gl(B, gs[i], radius, rtol=1e-12, max_iter=N)
        np.testing.assert_allclose(np.asarray(out.step[i]), np.asarray(one.step), atol=1e-10 * radius)
        np.testing.assert_allclose(float(out.model_value[i]), float(one.model_value), rtol=1e-10, atol=1e-300)
        assert int(out.status[i]) == int(one.status) == CONVERGED
        if i != 2:
            check_optimal(B, gs[i], radius, one, True)
    assert int(out.num_matvec[2]) == 0 and float(out.model_value[2]) == 0.0


# ------------------------------------------------------------------ dogleg


def _nw_dogleg(B, g, radius):
    """N&W Sec. 4.1 in numpy: the full step, or the crossing of the dogleg path."""
    p_b = -np.linalg.solve(B, g)
    if np.linalg.norm(p_b) <= radius:
        return p_b
    p_u = -(g @ g) / (g @ B @ g) * g
    if np.linalg.norm(p_u) >= radius:
        return -radius * g / np.linalg.norm(g)
    d = p_b - p_u  # ||p_u + s d||^2 = radius^2, s in [0, 1] (tau = 1 + s in N&W eq. 4.16)
    s = max(np.roots([d @ d, 2 * p_u @ d, p_u @ p_u - radius**2]).real)
    return p_u + s * d


def _nw_cauchy(B, g, radius):
    """N&W eq. 4.12."""
    gBg = g @ B @ g
    tau = 1.0 if gBg <= 0 else min(1.0, np.linalg.norm(g) ** 3 / (radius * gBg))
    return -tau * radius * g / np.linalg.norm(g)


@pytest.mark.parametrize("frac", [2.0, 0.5, 0.01])  # interior, second leg, first leg
def test_dogleg_positive_definite_matches_nocedal_wright(frac):
    B, g, _, _ = make_case("pd_interior")
    radius = frac * np.linalg.norm(np.linalg.solve(B, g))
    res = dl(B, g, radius)
    p = np.asarray(res.step)
    np.testing.assert_allclose(p, _nw_dogleg(B, g, radius), rtol=1e-9, atol=1e-12 * radius)
    assert int(res.status) == CONVERGED and int(res.num_matvec) == 0
    assert bool(res.boundary) == (frac < 1)
    if frac < 1:
        np.testing.assert_allclose(np.linalg.norm(p), radius, rtol=1e-12)
        assert np.isnan(float(res.lagrange))
        p_u = -(g @ g) / (g @ B @ g) * g
        on_first_leg = np.linalg.norm(p_u) >= radius
        assert on_first_leg == (frac == 0.01)
    else:
        assert float(res.lagrange) == 0.0
    np.testing.assert_allclose(float(res.model_value), model(B, g, p), rtol=1e-12)
    # exact <= dogleg <= Cauchy point (N&W Sec. 4.1)
    m_exact = model(B, g, exact_tr(B, g, radius)[0])
    m_cauchy = model(B, g, _nw_cauchy(B, g, radius))
    assert m_exact - 1e-12 * abs(m_exact) <= model(B, g, p) <= m_cauchy + 1e-12 * abs(m_cauchy)


def test_dogleg_indefinite_returns_cauchy_point():
    B, _, _, _ = make_case("indefinite")
    w, V = np.linalg.eigh(B)
    g_pos = V[:, -1] + 0.1 * V[:, 0]  # g.Bg > 0: the minimizer along -g, maybe cut
    g_neg = V[:, 0] + 0.1 * V[:, -1]  # g.Bg < 0: to the boundary along -g
    assert g_pos @ B @ g_pos > 0 > g_neg @ B @ g_neg
    for g, radius, on_boundary in ((g_pos, 10.0, False), (g_pos, 0.01, True), (g_neg, 0.5, True)):
        res = dl(B, g, radius)
        p = np.asarray(res.step)
        assert int(res.status) == INDEFINITE
        np.testing.assert_allclose(p, _nw_cauchy(B, g, radius), rtol=1e-12, atol=1e-15)
        assert bool(res.boundary) == on_boundary
        assert np.isnan(float(res.lagrange))
        assert float(res.model_value) < 0
        np.testing.assert_allclose(float(res.model_value), model(B, g, p), rtol=1e-12)


def test_dogleg_singular_psd_is_indefinite():
    B = np.diag(np.r_[0.0, np.linspace(1.0, 3.0, N - 1)])  # Cholesky fails, g.Bg > 0
    g = np.ones(N)
    res = dl(B, g, 1.0)
    assert int(res.status) == INDEFINITE
    np.testing.assert_allclose(np.asarray(res.step), _nw_cauchy(B, g, 1.0), rtol=1e-12)


# ------------------------------------------------------------------ shared conventions


def _all_three(B, g, radius):
    return {"more_sorensen": ms(B, g, radius), "dogleg": dl(B, g, radius), "gltr": gl(B, g, radius)}


@pytest.mark.parametrize("name", ["pd_interior", "indefinite"])
def test_zero_gradient(name):
    B, _, _, _ = make_case(name)
    for solver, res in _all_three(B, np.zeros(N), 1.0).items():
        assert np.all(np.asarray(res.step) == 0), solver
        assert float(res.model_value) == 0.0 and int(res.status) == CONVERGED, solver
        assert not bool(res.boundary) and int(res.num_matvec) == 0, solver


def test_nonfinite_inputs_give_status_not_nan():
    B, g, radius, _ = make_case("indefinite")
    g_nan = g.copy()
    g_nan[3] = np.nan
    B_inf = B.copy()
    B_inf[2, 5] = B_inf[5, 2] = np.inf
    for label, (BB, gg, rr) in {
        "g": (B, g_nan, radius),
        "B": (B_inf, g, radius),
        "radius traced 0": (B, g, 0.0),
        "radius traced nan": (B, g, np.nan),
    }.items():
        for solver, res in _all_three(BB, gg, rr).items():
            assert int(res.status) == NONFINITE, (label, solver)
            assert np.all(np.asarray(res.step) == 0), (label, solver)
            assert float(res.model_value) == 0.0 and np.isnan(float(res.lagrange)), (label, solver)


def test_gltr_nan_product_midway():
    # Lanczos on a tridiagonal B from e_0 visits q_j = +-e_j, so this product is finite
    # for the first three Lanczos vectors and NaN from q_3 on
    B = np.diag(np.linspace(-2.0, 5.0, N)) + np.diag(np.ones(N - 1), 1) + np.diag(np.ones(N - 1), -1)
    Bj = jnp.asarray(B)

    def matvec(v):
        return Bj @ v + jnp.where(v[3] != 0, jnp.nan, 0.0)

    res = jax.jit(lambda g: gltr(matvec, g, 10.0, max_iter=N, rtol=1e-12))(jnp.eye(N)[0])
    assert int(res.status) == NONFINITE and int(res.num_matvec) == 4
    assert np.all(np.asarray(res.step) == 0) and float(res.model_value) == 0.0


def test_argument_checks():
    B, g, _, _ = make_case("pd_interior")
    mv = lambda v: jnp.asarray(B) @ v  # noqa: E731
    solvers = {
        "more_sorensen": lambda g, r: more_sorensen(B, g, r),
        "dogleg": lambda g, r: dogleg(B, g, r),
        "gltr": lambda g, r: gltr(mv, g, r, max_iter=N, rtol=1e-8),
    }
    for solver in solvers.values():
        for bad in (0.0, -1.0, np.nan, np.inf, jnp.asarray(0.0)):
            with pytest.raises(ValueError, match="radius"):
                solver(jnp.asarray(g), bad)
        with pytest.raises(ValueError, match="g must be a flat"):
            solver(jnp.ones((2, N)), 1.0)
        with pytest.raises(TypeError, match="g must be a floating"):
            solver(jnp.arange(N), 1.0)
    for f in (more_sorensen, dogleg):
        with pytest.raises(ValueError, match="hess"):
            f(np.eye(N + 1), jnp.asarray(g), 1.0)
    with pytest.raises(TypeError, match="max_iter"):
        gltr(mv, jnp.asarray(g), 1.0, max_iter=3.0, rtol=1e-8)
    with pytest.raises(ValueError, match="max_iter"):
        gltr(mv, jnp.asarray(g), 1.0, max_iter=0, rtol=1e-8)
    with pytest.raises(ValueError, match="rtol"):
        gltr(mv, jnp.asarray(g), 1.0, max_iter=N, rtol=-1.0)
    with pytest.raises(ValueError, match="matvec"):
        gltr(lambda v: v[:3], jnp.asarray(g), 1.0, max_iter=N, rtol=1e-8)
    with pytest.raises(ValueError, match="max_iter"):
        more_sorensen(B, jnp.asarray(g), 1.0, max_iter=0)


def test_result_type_and_status_messages():
    assert SubproblemResult._fields == ("step", "model_value", "boundary", "num_matvec", "status", "lagrange")
    assert set(SUBPROBLEM_STATUS) == {CONVERGED, MAX_ITER, INDEFINITE, NONFINITE}
    B, g, radius, _ = make_case("indefinite")
    for res in _all_three(B, g, radius).values():
        assert res.num_matvec.dtype == jnp.int32 and res.status.dtype == jnp.int32
        assert res.boundary.dtype == jnp.bool_ and res.step.dtype == jnp.float64

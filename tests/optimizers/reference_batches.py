"""Shared compiled runs for the tests of the newer methods (trust-krylov, trust-exact, dogleg,
nonlinear-cg, newton; levenberg-marquardt, gauss-newton), and the scipy runs they are
compared with.

Cost control, as in mgh_problems: per method ONE compiled, vmapped ``minimize`` call solves
every row of a batch (problems selected by index with ``lax.switch``), cached for the session.

UNCONSTRAINED: Rosenbrock, Beale, helical valley, Wood (MGH #1, #5, #7, #14), each padded to
n = 4 with 0.5 ||z_pad||^2 (curvature 1 and zero gradient at z_pad = 0, so a padded
coordinate never moves and, unlike zero padding, the Hessian keeps its definiteness:
dogleg's Cholesky and Moré-Sorensen's easy case see the problem as it is). Rows: every
standard start, then starts of Beale, helical valley and Wood from which the Hessian stays
positive definite along the path (scipy's dogleg refuses an indefinite one). scipy gets the
very same padded function, gradient and Hessian (jitted, problem index as an argument), so
both solve the same problem.

LEAST_SQUARES: residual problems with n = 2, padded with zero residuals to m = 10: Rosenbrock
(MGH #1, zero residual), Freudenstein-Roth (#2, the local minimizer with cost 24.49),
Jennrich-Sampson (#6, m = 10, cost 62.18), Brown badly scaled (#4, zero residual, x* = (1e6,
2e-6)) and a linear problem (numpy.linalg.lstsq gives its solution).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import optimizers

from .mgh_problems import beale, helical_valley, rosenbrock, wood

EPS = np.finfo(float).eps

# ------------------------------------------------------------------ unconstrained

N = 4
#: name -> (function, dimension, the minimizer)
PROBLEMS = {
    "rosenbrock": (rosenbrock, 2, (1.0, 1.0)),
    "beale": (beale, 2, (3.0, 0.5)),
    "helical_valley": (helical_valley, 3, (1.0, 0.0, 0.0)),
    "wood": (wood, 4, (1.0, 1.0, 1.0, 1.0)),
}
NAMES = tuple(PROBLEMS)

#: (problem, start, Hessian positive definite along the path)
ROWS = (
    ("rosenbrock", (-1.2, 1.0), True),
    ("beale", (1.0, 1.0), False),
    ("helical_valley", (-1.0, 0.0, 0.0), False),
    ("wood", (-3.0, -1.0, -3.0, -1.0), False),
    ("beale", (2.0, 0.2), True),
    ("helical_valley", (1.2, -0.2, 0.1), True),
    ("wood", (1.5, 2.0, 1.5, 2.0), True),
)
ROW_IDS = [f"{name}{list(x0)}" for name, x0, _ in ROWS]
GTOL = 1e-8
MAX_ITER = 5000


def _branch(name):
    fun, dim, _ = PROBLEMS[name]
    return lambda z: fun(z[:dim]) + 0.5 * jnp.sum(z[dim:] ** 2)


def padded_fun(name):
    """Problem ``name`` alone, padded to n = 4 (the same expression as its batch branch)."""
    return _branch(name)


_BRANCHES = [_branch(name) for name in NAMES]


def F(z, k):
    """Problem NAMES[k] at the padded point z."""
    return jax.lax.switch(k, _BRANCHES, z)


def padded_point(x):
    return np.r_[np.asarray(x, float), np.zeros(N - len(x))]


STARTS = np.stack([padded_point(x0) for _, x0, _ in ROWS])
KS = np.array([NAMES.index(name) for name, _, _ in ROWS])
MINIMIZERS = np.stack([padded_point(PROBLEMS[name][2]) for name, _, _ in ROWS])


@functools.lru_cache(maxsize=None)
def solved(method, **options):
    """Every row of ROWS by ``method`` (with ``options``): ONE compiled vmapped call, paths
    recorded (cached)."""
    run = jax.jit(jax.vmap(lambda z0, k: optimizers.minimize(
        lambda z: F(z, k), z0, method, gtol=GTOL, max_iter=MAX_ITER, record_path=True, **options)))
    return jax.device_get(run(jnp.asarray(STARTS), jnp.asarray(KS)))


_f = jax.jit(F)
_g = jax.jit(jax.grad(F))
_h = jax.jit(jax.hessian(F))


def value(z, k):
    return float(_f(jnp.asarray(z), k))


def grad(z, k):
    return np.asarray(_g(jnp.asarray(z), k))


def hessian(z, k):
    return np.asarray(_h(jnp.asarray(z), k))


@functools.lru_cache(maxsize=None)
def scipy_solved(method, row):
    """scipy.optimize.minimize(method=...) on row ``row`` with the same jitted f, g (and
    Hessian for the second-order methods), gtol = GTOL (scipy's test is on the 2-norm)."""
    import scipy.optimize as so

    k = int(KS[row])
    hess = None if method in ("CG", "BFGS") else (lambda z: hessian(z, k))
    opts = {"maxiter": MAX_ITER}
    if method == "Newton-CG":
        opts["xtol"] = 1e-14  # scipy's Newton-CG stops on the step, not on the gradient
    else:
        opts["gtol"] = GTOL
    try:
        return so.minimize(lambda z: value(z, k), STARTS[row], jac=lambda z: grad(z, k), hess=hess,
                           method=method, options=opts)
    except np.linalg.LinAlgError as err:  # scipy's dogleg at an indefinite Hessian
        return err


@functools.lru_cache(maxsize=None)
def x_tolerance(row):
    """How far from x* a point with ||g||_inf <= GTOL can be: ||x - x*||_2 <= ||g||_2 /
    lambda_min(H*) to first order, ||g||_2 <= sqrt(n) GTOL; twice that for the second-order
    terms, plus the rounding floor of the gradient (eps cond(H*) |x*|)."""
    k = int(KS[row])
    lam = np.linalg.eigvalsh(hessian(MINIMIZERS[row], k))
    assert lam[0] > 0
    scale = max(1.0, np.abs(MINIMIZERS[row]).max())
    return 2 * np.sqrt(N) * GTOL / lam[0] + 10 * EPS * lam[-1] / lam[0] * scale


# ------------------------------------------------------------------ least squares

M = 10
_rng = np.random.default_rng(7)
LIN_A = _rng.standard_normal((M, 2))
LIN_B = _rng.standard_normal(M)


def _pad(r):
    return jnp.concatenate([r, jnp.zeros(M - r.shape[0], r.dtype)])


def rosenbrock_residual(x):
    return _pad(jnp.stack([10 * (x[1] - x[0] ** 2), 1 - x[0]]))


def freudenstein_roth_residual(x):
    x1, x2 = x[0], x[1]
    return _pad(jnp.stack([-13 + x1 + ((5 - x2) * x2 - 2) * x2, -29 + x1 + ((x2 + 1) * x2 - 14) * x2]))


def jennrich_sampson_residual(x):
    i = jnp.arange(1, M + 1, dtype=x.dtype)
    return 2 + 2 * i - (jnp.exp(i * x[0]) + jnp.exp(i * x[1]))


def brown_badly_scaled_residual(x):
    return _pad(jnp.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2]))


def linear_residual(x):
    return jnp.asarray(LIN_A) @ x - jnp.asarray(LIN_B)


#: name -> (residual, start, zero residual at the solution)
LS_PROBLEMS = {
    "rosenbrock": (rosenbrock_residual, (-1.2, 1.0), True),
    "freudenstein_roth": (freudenstein_roth_residual, (0.5, -2.0), False),
    "jennrich_sampson": (jennrich_sampson_residual, (0.3, 0.4), False),
    "brown_badly_scaled": (brown_badly_scaled_residual, (1.0, 1.0), True),
    "linear": (linear_residual, (0.0, 0.0), False),
}
LS_NAMES = tuple(LS_PROBLEMS)
LS_STARTS = np.array([LS_PROBLEMS[name][1] for name in LS_NAMES])
LS_MAX_ITER = 500
_RESIDUALS = [LS_PROBLEMS[name][0] for name in LS_NAMES]


def R(x, k):
    """Residual of problem LS_NAMES[k]."""
    return jax.lax.switch(k, _RESIDUALS, x)


@functools.lru_cache(maxsize=None)
def ls_solved(method, via):
    """Every LS problem by ``method``: ``via="least_squares"`` (cost ||r||^2 / 2) or
    ``via="minimize"`` (``minimize(sum(r^2), residual=r)``, gradients twice as large); ONE
    compiled vmapped call with the gtols of :func:`ls_gtols`, paths recorded (cached)."""
    kw = dict(max_iter=LS_MAX_ITER, record_path=True)
    if via == "least_squares":
        gtols = ls_gtols()

        def one(x0, k, gtol):
            return optimizers.least_squares(lambda x: R(x, k), x0, method, gtol=gtol, **kw)
    else:
        gtols = 2 * ls_gtols()

        def one(x0, k, gtol):
            r = lambda x: R(x, k)  # noqa: E731
            return optimizers.minimize(lambda x: jnp.sum(r(x) ** 2), x0, method, residual=r, gtol=gtol, **kw)
    run = jax.jit(jax.vmap(one))
    return jax.device_get(run(jnp.asarray(LS_STARTS), jnp.arange(len(LS_NAMES)), jnp.asarray(gtols)))


_r = jax.jit(R)
_jac = jax.jit(jax.jacfwd(R))


def residual(x, k):
    """The residual of problem k at x, as numpy (jitted once for all problems)."""
    return np.asarray(_r(jnp.asarray(x), k))


@functools.lru_cache(maxsize=None)
def scipy_least_squares(method, k):
    """scipy.optimize.least_squares(method=...) with the same jitted residual and Jacobian,
    tolerances at their floor."""
    import scipy.optimize as so

    return so.least_squares(lambda x: np.asarray(_r(jnp.asarray(x), k)), LS_STARTS[k],
                            jac=lambda x: np.asarray(_jac(jnp.asarray(x), k)), method=method,
                            xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=10000)


_ls_hess = jax.jit(jax.hessian(lambda z, k: 0.5 * jnp.sum(R(z, k) ** 2)))


def ls_hessian(x, k):
    """Hessian of the cost ||r||^2 / 2 at x (J^T J + sum r_i H_i)."""
    return np.asarray(_ls_hess(jnp.asarray(x), k))


@functools.lru_cache(maxsize=None)
def ls_gtols():
    """gtol per LS problem (on the cost's gradient): 1e-10, or the rounding floor when that is
    larger. A step that decreases the cost by less than eps cost* cannot be told from no
    decrease, and near x* a step decreases it by about ||g||^2 / (2 lambda_max): so ||g|| can
    only be driven to about sqrt(2 lambda_max eps cost*) (2e-6 for Freudenstein-Roth's local
    minimizer); ten times that."""
    out = []
    for k in range(len(LS_NAMES)):
        ref = scipy_least_squares("lm", k)
        lam_max = np.linalg.eigvalsh(ls_hessian(ref.x, k))[-1]
        out.append(max(1e-10, 10 * np.sqrt(2 * lam_max * EPS * ref.cost)))
    return np.array(out)

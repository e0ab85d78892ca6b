"""Plain Newton (``modification="none"``, ``line_search="none"``) is attracted to a saddle; the
default Newton (eigenvalue modification, strong-Wolfe search) escapes it to a minimum.

f(x, y) = x^2 + (y^2 - 2)^2 / 4 = 1 + x^2 - y^2 + y^4 / 4: gradient (2x, y^3 - 2y), Hessian
diag(2, 3y^2 - 2); a saddle at 0 (f = 1) and minima at (0, +-sqrt(2)) (f = 0, Hessian
diag(2, 4)). Written as a sum of squares, f keeps its relative accuracy near the minima;
as x^2 - y^2 + y^4 / 4 (f* = -1) a line search cannot see decreases below eps |f*| and
stalls (NO_PROGRESS) at ||g|| near sqrt(eps lambda_max) ~ 3e-8, above the gtol used here. Plain Newton's
step solves x exactly in one step and maps y to y - (y^3 - 2y) / (3y^2 - 2) =
2y^3 / (3y^2 - 2): for |y| < sqrt(2/5) that shrinks |y| (cubically near 0), so every start in
the strip |y| < 0.63 around the saddle's stable manifold y = 0 converges to the saddle.
The path is checked against that recurrence, computed in numpy.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import optimizers

STARTS = np.array([[0.5, 0.3], [-0.8, 0.1], [1.0, -0.4], [0.2, 0.6]])
MINIMA = np.array([[0.0, np.sqrt(2.0)], [0.0, -np.sqrt(2.0)]])
GTOL = 1e-12


def f(z):
    x, y = z[0], z[1]
    return x**2 + (y**2 - 2) ** 2 / 4


@functools.lru_cache(maxsize=None)
def runs(**options):
    run = jax.jit(jax.vmap(lambda z0: optimizers.minimize(f, z0, "newton", gtol=GTOL, max_iter=100,
                                                          record_path=True, **options)))
    return jax.device_get(run(jnp.asarray(STARTS)))


def newton_recurrence(z0, steps):
    x, y = z0
    out = [(x, y)]
    for _ in range(steps):
        x, y = x - 2 * x / 2, y - (y**3 - 2 * y) / (3 * y**2 - 2)
        out.append((x, y))
    return np.array(out)


def test_plain_newton_converges_to_the_saddle_along_the_newton_recurrence():
    res = runs(modification="none", line_search="none")
    for i, z0 in enumerate(STARTS):
        k = int(res.nit[i])
        assert int(res.status[i]) == 0 and k <= 8, (z0, int(res.status[i]), k)
        # at the saddle: |grad| = |(2x, y^3 - 2y)| <= GTOL, so |x|, |y| <= GTOL / 2 (the
        # Hessian's smallest |eigenvalue| is 2)
        assert np.abs(res.x[i]).max() <= GTOL / 2 * (1 + 1e-6), res.x[i]
        assert abs(res.fun[i] - 1) <= 2 * np.finfo(float).eps
        ref = newton_recurrence(z0, k)
        path = res.trace.x[i, : k + 1]
        # the recurrence contracts, so rounding does not grow: a few ulps of the start
        np.testing.assert_allclose(path, ref, rtol=1e-12, atol=1e-15)
        assert np.all(np.diff(np.abs(path[:, 1])) <= 0)  # |y| shrinks every step


def test_default_newton_escapes_the_saddle_to_a_minimum():
    res = runs()
    for i, z0 in enumerate(STARTS):
        assert int(res.status[i]) == 0, (z0, int(res.status[i]))
        dist = np.abs(res.x[i] - MINIMA).max(axis=1)
        # |x - x*| <= ||g|| / lambda_min(H*) = GTOL / 2, twice that for the second order
        assert dist.min() <= GTOL, (z0, res.x[i])
        assert 0 <= res.fun[i] <= 4 * GTOL**2  # f - f* <= ||g||^2 / (2 lambda_min)

"""The optax transforms of the newer methods (trust_krylov, trust_exact, dogleg,
nonlinear_cg; levenberg_marquardt and gauss_newton with residual=) in a training loop on a
small least-squares problem: the loss never increases, and the iterates are minimize's
(the same step function; minimize's paths come from the shared runs of reference_batches:
Rosenbrock padded to n = 4, and Rosenbrock's residuals for the sum-of-squares methods)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optimizers

from .reference_batches import LS_NAMES, LS_PROBLEMS, ROWS, STARTS, ls_solved, padded_fun, solved

STEPS = 6
ROSEN_ROW = [name for name, _, _ in ROWS].index("rosenbrock")
LS_ROSEN = LS_NAMES.index("rosenbrock")
rosen_residual = LS_PROBLEMS["rosenbrock"][0]


def sum_of_squares(x):
    return jnp.sum(rosen_residual(x) ** 2)


def _train(opt, loss, x0):
    @jax.jit
    def step(params, state):
        value, grad = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss)
        return optax.apply_updates(params, updates), state

    params, state = jnp.asarray(x0), opt.init(jnp.asarray(x0))
    path = [np.asarray(params)]
    for _ in range(STEPS):
        params, state = step(params, state)
        path.append(np.asarray(params))
    return np.array(path), [float(loss(x)) for x in path], state


CASES = {
    "trust-krylov": (optimizers.trust_krylov, {}),
    "trust-exact": (optimizers.trust_exact, {}),
    "dogleg": (optimizers.dogleg, {}),
    "nonlinear-cg": (optimizers.nonlinear_cg, {}),
    "levenberg-marquardt": (optimizers.levenberg_marquardt, {"residual": rosen_residual}),
    "gauss-newton": (optimizers.gauss_newton, {"residual": rosen_residual}),
}


@pytest.mark.parametrize("method", list(CASES))
def test_transform_decreases_the_loss_along_minimizes_iterates(method):
    factory, options = CASES[method]
    if "residual" in options:
        loss, x0 = sum_of_squares, ls_solved(method, "minimize").trace.x[LS_ROSEN, 0]
        ref = ls_solved(method, "minimize").trace.x[LS_ROSEN, : STEPS + 1]
    else:
        loss, x0 = padded_fun("rosenbrock"), STARTS[ROSEN_ROW]
        ref = solved(method).trace.x[ROSEN_ROW, : STEPS + 1]
    path, losses, state = _train(factory(**options), loss, x0)
    assert np.all(np.diff(losses) <= 0) and losses[-1] < 0.5 * losses[0], losses
    # the same step function; the batched run computes the same numbers, up to rounding
    # in another compiled program, which a few steps do not amplify beyond 1e-9
    np.testing.assert_allclose(path, ref, rtol=1e-9, atol=1e-12)
    assert int(state.count) == STEPS and not bool(state.stalled)
    assert int(state.nfev) >= STEPS and int(state.ngev) >= STEPS

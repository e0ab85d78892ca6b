"""The result type of :func:`optimizers.minimize` and its per-iteration trace."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from optimizers._status import status_message

__all__ = ["OptimizeResult", "Trace"]


class Trace(NamedTuple):
    """Per-iteration history, buffers of length ``max_iter + 1`` (entry 0 is x0).

    ``f``, ``grad_norm`` (infinity norm) and the cumulative counters ``nfev``, ``ngev``,
    ``nhvp`` after each iteration, all floating point so that entries after the last
    iteration can be NaN. ``x``: the flat iterates, shape ``(max_iter + 1, n)`` in
    ``ravel_pytree`` order, NaN after the last iteration; ``None`` unless
    ``minimize(..., record_path=True)``.
    """

    f: jax.Array
    grad_norm: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhvp: jax.Array
    x: jax.Array | None = None


class OptimizeResult(NamedTuple):
    """Outcome of :func:`optimizers.minimize` (a pytree: it passes through jit and vmap).

    x: the final point, same pytree structure as x0. fun: f(x). grad_norm: infinity norm of
    the gradient at x. nit: iterations done (calls of the method's step, rejected
    trust-region steps included). nfev, ngev, nhvp: evaluations of f, of the gradient and of
    Hessian-vector products (a dense Hessian counts n), line-search trials included.
    status: int32 code (``optimizers.STATUS_MESSAGES``); success: the status is CONVERGED,
    FTOL or XTOL.
    trace: :class:`Trace`. grad: the gradient at x, same pytree structure as x0. aux: with
    ``minimize(..., has_aux=True)`` the aux output of fun at x, else None (an empty pytree,
    so the result still passes through jit and vmap). ``message`` is a property computed
    on the host from ``status``.
    """

    x: Any
    fun: jax.Array
    grad_norm: jax.Array
    nit: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhvp: jax.Array
    status: jax.Array
    success: jax.Array
    trace: Trace
    grad: Any = None
    aux: Any = None

    @property
    def message(self):
        """Text for ``status`` (a ``str``, or an array of ``str`` for a vmapped result)."""
        return status_message(self.status)

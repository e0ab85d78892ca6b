"""Status codes of :func:`optimizers.minimize`, in one table.

| code | name              | meaning                                                          |
| ---- | ----------------- | ---------------------------------------------------------------- |
| 0    | ``CONVERGED``     | ``grad_norm <= gtol`` (infinity norm of the gradient)            |
| 1    | ``MAX_ITER``      | ``max_iter`` iterations done without convergence                 |
| 2    | ``NO_PROGRESS``   | the line search or the trust region cannot decrease f any more;  |
|      |                   | the best point found (up to the noise of f) is returned          |
| 3    | ``NONFINITE_START`` | f(x0) or its gradient is not finite; x0 is returned, nit = 0   |
| 4    | ``NONFINITE``     | f or its gradient became non-finite during the run (a diverging  |
|      |                   | fixed-step method); the last finite point is returned            |
| 5    | ``FTOL``          | ``ftol > 0`` and a step decreased f by <= ftol * max(1, abs(f))  |
| 6    | ``XTOL``          | ``xtol > 0`` and a step moved x by <= xtol * max(1, ||x||_inf)   |

``success`` is true for ``CONVERGED``, ``FTOL`` and ``XTOL``. ``status`` is an int32 array, so it works under
``jax.jit`` and ``jax.vmap``; :func:`status_message` turns it into text on the host.
"""

from __future__ import annotations

import enum

import numpy as np

__all__ = [
    "CONVERGED",
    "FTOL",
    "MAX_ITER",
    "NO_PROGRESS",
    "NONFINITE_START",
    "NONFINITE",
    "STATUS_MESSAGES",
    "Status",
    "XTOL",
    "is_success",
    "status_message",
]


class Status(enum.IntEnum):
    """Why ``minimize`` stopped (``result.status``); the table in the module docstring."""

    CONVERGED = 0
    MAX_ITER = 1
    NO_PROGRESS = 2
    NONFINITE_START = 3
    NONFINITE = 4
    FTOL = 5
    XTOL = 6


RUNNING = -1  # internal: the loop goes on; never returned
CONVERGED, MAX_ITER, NO_PROGRESS = Status.CONVERGED, Status.MAX_ITER, Status.NO_PROGRESS
NONFINITE_START, NONFINITE, FTOL, XTOL = Status.NONFINITE_START, Status.NONFINITE, Status.FTOL, Status.XTOL
#: The statuses that count as success: a stopping test on g, f or x was met.
SUCCESS = (CONVERGED, FTOL, XTOL)

#: Status code -> message text (the table in this module's docstring).
STATUS_MESSAGES: dict[int, str] = {
    CONVERGED: "converged: gradient infinity norm <= gtol",
    MAX_ITER: "maximum number of iterations reached",
    NO_PROGRESS: (
        "no further progress: the line search or the trust region cannot decrease f; "
        "the best point found (up to the noise of f) is returned"
    ),
    NONFINITE_START: "f or its gradient is not finite at x0",
    NONFINITE: (
        "f or its gradient became non-finite during the iteration; "
        "the last finite point is returned"
    ),
    FTOL: "converged: the decrease of f in the last step <= ftol * max(1, |f|)",
    XTOL: "converged: the last step's infinity norm <= xtol * max(1, ||x||_inf)",
}


def is_success(status):
    """Whether ``status`` (an int or an int array, traced or not) is a success."""
    import jax.numpy as jnp

    status = jnp.asarray(status)
    return (status == CONVERGED) | (status == FTOL) | (status == XTOL)


def status_message(status):
    """Message text for a status code, on the host.

    A scalar status gives a ``str``; a batched status (from ``jax.vmap``) gives a numpy
    array of ``str`` of the same shape. Raises ``TypeError`` on a traced value: inside
    ``jit``, return ``status`` and map it with ``STATUS_MESSAGES`` afterwards.
    """
    try:
        codes = np.asarray(status)
    except Exception as err:  # a tracer cannot become a numpy array
        raise TypeError(
            "the status message is built on the host from a concrete status; inside jit or "
            "vmap return result.status and look it up in STATUS_MESSAGES afterwards"
        ) from err
    lookup = np.vectorize(lambda c: STATUS_MESSAGES.get(int(c), f"unknown status {int(c)}"),
                          otypes=[object])
    out = lookup(codes)
    return str(out[()]) if codes.ndim == 0 else out.astype(str)

"""Status codes of :func:`optimizers.minimize`, in one table.

| code | name              | meaning                                                          |
| ---- | ----------------- | ---------------------------------------------------------------- |
| 0    | ``CONVERGED``     | ``grad_norm <= gtol`` (infinity norm of the gradient)            |
| 1    | ``MAX_ITER``      | ``max_iter`` iterations done without convergence                 |
| 2    | ``NO_PROGRESS``   | the line search or the trust region cannot decrease f any more;  |
|      |                   | the best point found is returned                                 |
| 3    | ``NONFINITE_START`` | f(x0) or its gradient is not finite; x0 is returned, nit = 0   |
| 4    | ``NONFINITE``     | f or its gradient became non-finite during the run (a diverging  |
|      |                   | fixed-step method); the last finite point is returned            |

``success`` is true only for ``CONVERGED``. ``status`` is an int32 array, so it works under
``jax.jit`` and ``jax.vmap``; :func:`status_message` turns it into text on the host.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CONVERGED",
    "MAX_ITER",
    "NO_PROGRESS",
    "NONFINITE_START",
    "NONFINITE",
    "STATUS_MESSAGES",
    "status_message",
]

RUNNING = -1  # internal: the loop goes on; never returned
CONVERGED = 0
MAX_ITER = 1
NO_PROGRESS = 2
NONFINITE_START = 3
NONFINITE = 4

#: Status code -> message text (the table in this module's docstring).
STATUS_MESSAGES: dict[int, str] = {
    CONVERGED: "converged: gradient infinity norm <= gtol",
    MAX_ITER: "maximum number of iterations reached",
    NO_PROGRESS: (
        "no further progress: the line search or the trust region cannot decrease f; "
        "the best point found is returned"
    ),
    NONFINITE_START: "f or its gradient is not finite at x0",
    NONFINITE: (
        "f or its gradient became non-finite during the iteration; "
        "the last finite point is returned"
    ),
}


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

"""Compiled programs behind the spectral tools, so eager calls do not recompile.

Each tool checks its arguments in Python (errors name the argument, before anything is
traced) and then calls a module-level ``jax.jit`` program: the operator, the key and the
other arrays are traced arguments; sizes and options (k, which, num_iters, tol, ...) are
static. An operator's function (``f``, the matvec) is static aux data of its pytree and
compares by value (see ``curvature.operators._Static``), so a second call with the same
function object and arrays of the same shapes and dtypes reuses the compiled program: a
new dense matrix, a new ``x`` of a Hessian operator or a new key compiles nothing. Under
an outer ``jax.jit`` or ``jax.vmap`` the program is traced into the caller's (nested jit).

A static part that cannot be hashed (an ``f`` that is, say, a dataclass instance with
array fields) cannot key a cache: such a call runs the program's Python body uncached,
as every call did before the programs existed.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax


def program(*static_argnames: str) -> Callable:
    """Decorator: ``fun(*arrays, **static)`` compiled once per static options and
    argument shapes (``jax.jit`` with ``static_argnames``); statics are keyword-only."""

    def wrap(fun: Callable) -> Callable:
        jitted = jax.jit(fun, static_argnames=static_argnames)

        @functools.wraps(fun)
        def call(*args, **static):
            try:
                hash((jax.tree_util.tree_structure(args), tuple(static.items())))
            except TypeError:  # an unhashable function or option: no cache key
                return fun(*args, **static)
            return jitted(*args, **static)

        return call

    return wrap

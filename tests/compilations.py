"""Counting XLA compilations in tests, from ``jax.log_compiles`` records (a jit's own
``_cache_size`` also counts dispatch entries, e.g. numpy vs jax.Array inputs, that compile
nothing)."""

from __future__ import annotations

import collections
import contextlib
import logging

import jax


@contextlib.contextmanager
def compilations():
    """A ``Counter`` of the XLA compilations made while the block runs, by jitted function
    name: ``counts["_solve"]`` for the records ``Compiling jit(_solve) ...``."""
    counts = collections.Counter()

    class Counter(logging.Handler):
        def emit(self, record):
            msg = record.getMessage()
            if msg.startswith("Compiling jit("):
                counts[msg[len("Compiling jit("):].split(")")[0]] += 1

    counter, logger = Counter(), logging.getLogger("jax")
    logger.addHandler(counter)
    try:
        with jax.log_compiles():
            yield counts
    finally:
        logger.removeHandler(counter)

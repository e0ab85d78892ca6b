"""The plug-in interface of the method registry: a method is a :class:`Method` record.

A method is two pure functions over its own state (a pytree, usually a NamedTuple),
written once and used by both :func:`optimizers.minimize` (inside one ``lax.while_loop``)
and the optax transforms (one step per ``update`` call):

- ``init(x, options) -> state``: x the flat start vector (only its shape and dtype may be
  used: the optax ``init`` has no function to evaluate).
- ``step(objective, iterate, state, options) -> (iterate, state)``: one iteration from
  ``iterate`` (x, f(x), g(x), counters); returns the new iterate with f and g evaluated at
  the new x and every evaluation made added to its counters. A step that cannot decrease f
  returns the best point with ``stalled=True`` (the driver then stops with status
  ``NO_PROGRESS``).

``options`` is the validated dict of the method's options (defaults filled in). Options
declared ``static`` are Python values; the others (floats) may be traced arrays under jit,
so use them only in jnp arithmetic.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax

#: Largest dimension of the methods that hold a dense n x n matrix (newton, bfgs, trust-exact,
#: dogleg): 4096^2 float64 is 128 MiB, and an O(n^3) factorization per iteration.
DENSE_MAX_DIM = 4096

__all__ = ["DENSE_MAX_DIM", "FrozenOptions", "Iterate", "Method", "Option", "frozen_options"]


class Iterate(NamedTuple):
    """The point a step starts from / arrives at, with cumulative evaluation counters.

    x: flat point; f, g: value and gradient at x; nfev, ngev, nhvp: int32 counts of
    f, gradient and Hessian-vector evaluations so far; stalled: bool, the step could not
    decrease f (x is then the best point found, up to the noise of f). u: the linear term a direction or a model
    is built from in place of g, or None (then it is g): an optax transform sets it to the
    incoming ``updates`` on the iterate a step starts from, so that a chain such as
    ``optax.chain(optax.add_decayed_weights(wd), newton_cg())`` steers the direction, while
    line searches and trust-region ratios keep measuring f with g (:attr:`linear`).
    """

    x: jax.Array
    f: jax.Array
    g: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhvp: jax.Array
    stalled: jax.Array
    u: jax.Array | None = None

    @property
    def linear(self) -> jax.Array:
        """The gradient a direction or model uses: ``u`` where set, else ``g``. Read it on the
        iterate a step starts from (a step's result carries the start's ``u`` along)."""
        return self.g if self.u is None else self.u

    def counted(self, nfev=0, ngev=0, nhvp=0) -> "Iterate":
        """This iterate with the given numbers of evaluations added to its counters."""
        return self._replace(nfev=self.nfev + nfev, ngev=self.ngev + ngev, nhvp=self.nhvp + nhvp)


class Option(NamedTuple):
    """One option of a method: its default, a checker, whether it must be a Python value.

    check(value) returns the (possibly normalized) value or raises TypeError/ValueError
    with a message saying what is expected; static: the value shapes the compiled program
    (an int, a bool, a string, a function) and must be a concrete hashable Python value;
    non-static options are float scalars that may be traced under jit.
    """

    default: Any
    check: Callable[[Any], Any]
    static: bool
    doc: str


class FrozenOptions(Mapping):
    """A read-only, hashable name -> :class:`Option` mapping, so that a :class:`Method`
    record can be passed by value (and be a static argument of ``jax.jit``)."""

    def __init__(self, items):
        self._items = dict(items)
        self._hash = None

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __hash__(self):
        if self._hash is None:
            self._hash = hash(tuple(self._items.items()))
        return self._hash

    def __eq__(self, other):
        return isinstance(other, FrozenOptions) and self._items == other._items

    def __repr__(self):
        return f"FrozenOptions({self._items!r})"


def frozen_options(options: Mapping[str, "Option"]) -> FrozenOptions:
    """``options`` as a :class:`FrozenOptions` (unchanged if it is one)."""
    return options if isinstance(options, FrozenOptions) else FrozenOptions(options)


class Method(NamedTuple):
    """A registry entry. name: the string used by ``minimize(method=...)`` and configs.

    init, step: see the module docstring. options: name -> :class:`Option`. doc: one line.
    sync(objective, iterate, state, options) -> state: optional; called by the optax
    transform before each step, because there the gradient handed in may come from a
    different batch than the one the previous step ended with (e.g. L-BFGS recomputes its
    cached history projections). validate(options) -> None: optional cross-option checks,
    run before anything compiles. workspace(n, options) -> int: optional, the floats one
    step holds at once beyond the state (e.g. n * n for a dense Hessian), for the memory
    estimate of :mod:`optimizers._memory`; a lower bound is enough. max_dim: the largest
    number of parameters the method accepts (dense methods: ``DENSE_MAX_DIM``), or None.
    zero_is_stationary: a zero linear term (all-zero incoming updates of an optax chain,
    e.g. after ``optax.scale(0.0)``) means there is nowhere to go, so the transform returns
    the zero step without running ``step`` (the second-order methods, whose searches would
    otherwise count it a failure); False where the state moves on anyway (momentum, Adam:
    the transform runs the step, as optax's own transform would).
    """

    name: str
    init: Callable[[jax.Array, Mapping[str, Any]], Any]
    step: Callable[..., tuple[Iterate, Any]]
    options: Mapping[str, Option]
    doc: str
    sync: Callable[..., Any] | None = None
    validate: Callable[[Mapping[str, Any]], None] | None = None
    workspace: Callable[[int, Mapping[str, Any]], int] | None = None
    max_dim: int | None = None
    zero_is_stationary: bool = True

"""The problem registry: names, tags, accepted parameters, and construction by name.

A problem family is a factory registered with ``@register(name, tags=...)``. Its
keyword-only parameters and their defaults are the parameters ``get`` accepts (``dim``,
``cond``, ``seed``, ``n_samples``, ...); the default's type is the expected type.
Factories return a draft ``Problem`` (see ``draft``); ``get`` validates the parameters,
fills in the name and tags and caches the result, so two calls with equal parameters
return the same object (and the same ``fun``, which keeps jit caches warm).

A family that needs an optional package (the CUTEst problems of ``sif2jax``) registers a
*deferred source* with ``defer(prefix, tags=..., load=..., missing=...)``: nothing is
imported until a name with its prefix, one of its tags or the full list is asked for; then
``load()`` registers its problems. Where the package is absent, ``unavailable(name=...)``
or ``unavailable(tag=...)`` gives the install hint that the error messages carry.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .base import Problem


@dataclasses.dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Problem]
    tags: tuple
    defaults: dict
    footprint: Optional[Callable[..., int]] = None


_REGISTRY: dict[str, _Entry] = {}


@dataclasses.dataclass
class _Deferred:
    prefix: str
    tags: tuple
    load: Callable[[], None]
    missing: Callable[[], Optional[str]]
    what: str
    state: str = "pending"  # pending -> loaded | absent
    error: Optional[str] = None  # why an installed package failed to load


_DEFERRED: list[_Deferred] = []


def register(name: str, *, tags: tuple = (), footprint: Optional[Callable[..., int]] = None):
    """Decorator: register ``factory(**params) -> Problem`` under ``name`` with ``tags``.

    Every factory parameter must be keyword-only with a default (int, float, bool or a
    tuple of ints); ``params(name)`` reports them. ``footprint(**params)``: about how many
    float values an instance holds (data, x0, x_star) and one evaluation of ``fun`` and its
    gradient needs, so that an absurd size is refused before anything is allocated; the
    default counts every integer parameter but the seed as one vector of that length
    (right for problems that are O(dim); give it for anything larger, e.g. n_samples x dim
    data).
    """

    def deco(factory):
        if name in _REGISTRY:
            raise ValueError(f"problem name {name!r} is already registered")
        defaults = {}
        for p in inspect.signature(factory).parameters.values():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
                raise TypeError(f"problem factory {name!r}: parameter {p.name!r} must be keyword-only with a default")
            defaults[p.name] = p.default
        _REGISTRY[name] = _Entry(factory, tuple(tags), defaults, footprint)
        return factory

    return deco


def defer(prefix: str, *, tags: tuple, load: Callable[[], None], missing: Callable[[], Optional[str]],
          what: str) -> None:
    """Register a source of problems whose names start with ``prefix`` and whose tags are
    among ``tags``, loaded on first need: ``load()`` calls ``register`` for each problem.

    ``missing()`` returns None when the source can load, else the sentence to show (how to
    install what it needs); it is asked only when the source is first needed. ``what``
    names the source in messages ("the CUTEst problems").
    """
    _DEFERRED.append(_Deferred(prefix, tuple(tags), load, missing, what))


def _load_deferred(*, name: Optional[str] = None, tag: Optional[str] = None, every: bool = False) -> None:
    for src in _DEFERRED:
        if src.state != "pending":
            continue
        if not (every or (name is not None and name.startswith(src.prefix)) or (tag is not None and tag in src.tags)):
            continue
        if src.missing() is not None:
            src.state = "absent"
            continue
        try:
            src.load()
        except ImportError as err:  # installed but unusable (e.g. built for another jax)
            src.state, src.error = "absent", f"{src.what} could not be loaded ({type(err).__name__}: {err})"
            continue
        src.state = "loaded"


def unavailable(*, name: Optional[str] = None, tag: Optional[str] = None) -> Optional[str]:
    """Why problem ``name`` (or the problems tagged ``tag``) cannot be had: the install hint
    of the deferred source they belong to when its package is missing, the import error
    when it failed to load, else None."""
    for src in _DEFERRED:
        if (name is not None and name.startswith(src.prefix)) or (tag is not None and tag in src.tags):
            reason = src.error or src.missing()
            if reason is not None:
                return reason
    return None


def names(tag: Optional[str] = None) -> list[str]:
    """Sorted names of the registered problems; with ``tag``, only those carrying it."""
    if tag is not None and not isinstance(tag, str):
        raise TypeError(f"tag must be a string or None, got {type(tag).__name__}")
    _load_deferred(tag=tag, every=tag is None)
    return sorted(n for n, e in _REGISTRY.items() if tag is None or tag in e.tags)


def tags() -> list[str]:
    """Sorted list of every tag some problem carries."""
    _load_deferred(every=True)
    return sorted({t for e in _REGISTRY.values() for t in e.tags})


def params(name: str) -> dict:
    """The parameters ``get(name, ...)`` accepts, with their defaults."""
    return dict(_entry(name).defaults)


def get(name: str, **kwargs) -> Problem:
    """Build problem ``name`` with parameters ``kwargs`` (validated against ``params(name)``).

    Raises ValueError for an unknown name (listing the known ones), an unknown parameter
    or an impossible value, TypeError for a parameter of the wrong type.
    """
    entry = _entry(name)
    clean = {k: _check_param(name, k, v, entry.defaults) for k, v in kwargs.items()}
    _check_size(name, entry, clean)
    return _build(name, tuple(sorted(clean.items())), bool(jax.config.jax_enable_x64))


# Working copies an evaluation makes of the held values (x, gradient, residual, data casts).
_FOOTPRINT_FACTOR = 8


def footprint_bytes(name: str, **params) -> int:
    """About how many bytes problem ``name`` with ``params`` needs to be built and evaluated
    (float64; see ``register``'s ``footprint``)."""
    entry = _entry(name)
    full = {**entry.defaults, **params}
    if entry.footprint is not None:
        values = entry.footprint(**full)
    else:
        values = sum(v for k, v in full.items() if k != "seed" and isinstance(v, int) and not isinstance(v, bool))
    return int(values) * 8 * _FOOTPRINT_FACTOR


def _check_size(name, entry, params) -> None:
    from experiments.preflight import check_bytes

    shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if k != "seed") or "its defaults"
    check_bytes(footprint_bytes(name, **params), f"problem {name!r} with {shown}")


def _entry(name) -> _Entry:
    if not isinstance(name, str):
        raise TypeError(f"problem name must be a string, got {type(name).__name__}")
    if name not in _REGISTRY:
        _load_deferred(name=name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(unknown_message(name)) from None


def source_file(name: str) -> Optional[str]:
    """The file of the module that defines problem ``name``'s factory (None if unknown):
    part of what a cached traced program of the problem is keyed on."""
    try:
        return inspect.getsourcefile(inspect.unwrap(_entry(name).factory))
    except (TypeError, ValueError, OSError):
        return None


def unknown_message(name: str) -> str:
    """``unknown problem 'x'; known problems: ...``: the problems always present, then one
    line per deferred source (its prefix and how to list it, or how to install it). A name
    with a deferred source's prefix whose package is missing gets the install hint only."""
    hint = unavailable(name=name)
    if hint is not None:
        return f"unknown problem {name!r}: {hint}"
    deferred = tuple(src.prefix for src in _DEFERRED)
    base = [n for n in sorted(_REGISTRY) if not n.startswith(deferred)] if deferred else sorted(_REGISTRY)
    message = f"unknown problem {name!r}; known problems: {', '.join(base)}"
    for src in _DEFERRED:
        if src.state == "loaded" or (src.state == "pending" and src.missing() is None):
            first = src.tags[0] if src.tags else ""
            message += f"; and {src.what} {src.prefix}* (curvax list problems --tag {first})"
    return message


def _check_param(name, key, value, defaults):
    if key not in defaults:
        allowed = ", ".join(defaults) or "none"
        raise ValueError(f"problem {name!r} got unknown parameter {key!r}; allowed parameters: {allowed}")
    try:
        return coerce_param(value, defaults[key])
    except TypeError as err:
        raise TypeError(f"problem {name!r}: parameter {key!r} must be {err}, got {value!r}") from None


def coerce_param(value, default):
    """``value`` as a problem parameter whose default is ``default``: of the default's type
    (an integral float fits an int, as ``dim = 1e6`` in a config; a list of integers fits a
    tuple). TypeError whose message is what was expected ("an integer"), for the caller to
    place in its own sentence (``get`` and the config validator word it differently)."""
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if isinstance(default, bool):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise TypeError("a bool")
    if isinstance(default, int):
        if isinstance(value, numbers.Integral) and real:
            return int(value)
        if real and float(value).is_integer():
            return int(value)
        raise TypeError("an integer")
    if isinstance(default, float):
        if real:
            return float(value)
        raise TypeError("a number")
    if isinstance(default, tuple):
        if isinstance(value, (list, tuple)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in value
        ):
            return tuple(int(v) for v in value)
        raise TypeError("a list of integers")
    raise TypeError(f"settable only in code (its default is {default!r})")  # pragma: no cover


def build_problem(name: str, params: dict, seed: int) -> Problem:
    """Problem ``name`` with ``params`` as a config gives them: the config's ``seed`` goes
    to problems that take one (synthetic data) unless ``params`` sets it."""
    params = dict(params)
    if "seed" in _entry(name).defaults and "seed" not in params:
        params["seed"] = seed
    return get(name, **params)


@functools.lru_cache(maxsize=64)
def _build(name, items, x64) -> Problem:
    entry = _REGISTRY[name]
    try:
        problem = entry.factory(**dict(items))
    except ValueError as err:
        raise ValueError(f"problem {name!r}: {err}") from None
    kept = entry.tags if problem.dim == 2 else tuple(t for t in entry.tags if t != "2d")
    return dataclasses.replace(problem, name=name, tags=kept)


def _vector(v) -> jax.Array:
    """A 1-D float array in the default float dtype (float64 with x64 enabled)."""
    return jnp.asarray(np.asarray(v, dtype=np.float64).reshape(-1))


def draft(fun, x0, **fields) -> Problem:
    """A ``Problem`` before registration (``get`` fills in name and tags); ``dim = len(x0)``.

    ``x0`` and ``x_star`` become 1-D float arrays; ``minima``, ``saddles`` and ``maxima``
    tuples of float tuples.
    """
    x0 = _vector(x0)
    fields["description"] = inspect.cleandoc(fields.get("description") or "")
    if fields.get("x_star") is not None:
        fields["x_star"] = _vector(fields["x_star"])
    for array in (fields.get("data") or {}).values():
        array.setflags(write=False)  # problems are cached and shared: keep their data fixed
    for key in ("minima", "saddles", "maxima"):
        if key in fields:
            fields[key] = tuple(tuple(float(c) for c in point) for point in fields[key])
    return Problem(name="", fun=fun, x0=x0, dim=int(x0.shape[0]), **fields)


def least_squares(residual, x0, **fields) -> Problem:
    """Draft problem with ``fun(x) = sum(residual(x)**2)`` (the MGH convention, no 1/2)."""

    def fun(x):
        r = residual(x)
        return jnp.sum(r * r)

    return draft(fun, x0, residual=residual, **fields)


def const(values, like: jax.Array) -> jax.Array:
    """Data constant ``values`` in the dtype of the input ``like`` (keeps float32 in float32)."""
    return jnp.asarray(np.asarray(values, dtype=np.float64), dtype=like.dtype)


def check(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless ``condition`` (parameter range checks in factories)."""
    if not condition:
        raise ValueError(message)

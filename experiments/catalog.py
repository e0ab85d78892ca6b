"""What ``curvax list`` prints, without importing JAX: the built-in problems and methods.

Importing the registries imports JAX (about a second before anything is printed), so
``curvax list`` in a fresh process reads ``catalog.json`` beside this module instead: every
built-in problem with its dimension at the default parameters, tags, parameters and the
first line of its description, every method with its one-line doc and options, and the
deferred sources (CUTEst). ``build()`` makes the same from the live registries; a test
checks that the committed file equals it, so it cannot go stale (after adding a problem or
a method: ``python -m experiments.catalog`` rewrites it). Where the registries are already
imported (a notebook, a test that registered its own problem), the CLI lists them live.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["CATALOG", "build", "load", "write"]

CATALOG = Path(__file__).with_name("catalog.json")


def _first_line(text: str) -> str:
    for line in (text or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _shown(value):
    """An option default as JSON: functions and other objects as their kind."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return [_shown(v) for v in value]
    return f"<{type(value).__name__}>"


def build() -> dict:
    """The catalog from the live registries (imports JAX and builds every default instance)."""
    import optimizers
    from experiments.problems import registry

    deferred_prefixes = tuple(d.prefix for d in registry._DEFERRED)
    problems = []
    for name, entry in sorted(registry._REGISTRY.items()):
        if deferred_prefixes and name.startswith(deferred_prefixes):
            continue  # listed live (with --tag), where its package is installed
        problem = registry.get(name)
        doc = problem.description or entry.factory.__doc__ or ""
        problems.append({"name": name, "dim": int(problem.dim), "tags": list(entry.tags),
                         "params": {k: _shown(v) for k, v in entry.defaults.items()},
                         "description": _first_line(doc)})
    deferred = [{"prefix": d.prefix, "tags": list(d.tags), "what": d.what} for d in registry._DEFERRED]
    methods = []
    for name in optimizers.method_names():
        spec = optimizers.get_method(name)
        methods.append({"name": name, "doc": _first_line(spec.doc),
                        "options": {k: _shown(v) for k, v in optimizers.method_options(name).items()}})
    return {"problems": problems, "deferred": deferred, "methods": methods}


def load() -> dict:
    """The committed catalog (no JAX import)."""
    return json.loads(CATALOG.read_text(encoding="utf-8"))


def write(path: Path = CATALOG) -> None:
    """Rewrite the catalog from the live registries."""
    path.write_text(json.dumps(build(), indent=1, sort_keys=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {CATALOG}")

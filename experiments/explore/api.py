"""The explorer's questions and answers, apart from HTTP: every request is checked here and
answered with plain JSON-ready data, or refused with a :class:`RequestError` (a 4xx status
and one sentence).

- ``problems()``: the 2-D problems of the registry (box, known minima, saddles, maxima,
  description) and the methods the page can drop balls for, with their colours.
- ``surface(problem, n)``: f on an n x n grid over the problem's box, for the shaded map.
- ``point(problem, x)``: what the page draws under the mouse: f, the gradient (the
  compass), the Hessian's eigenvalues and eigenvectors, the second-order test of
  ``curvature.classify_critical_point`` (bowl / dome / saddle / flat) and the Newton step to
  the centre of the quadratic Taylor model.
- ``prepare(problem, methods)`` compiles a problem's runs ahead of the first click;
  ``run(problem, start, methods, learning_rate, momentum)`` runs every method from the start
  and returns the iterates, f and ||g|| per iteration.

Each (problem, method) is one ``jax.jit`` of ``optimizers.minimize_batch`` over a batch of
one start with the path recorded, the learning rate and momentum traced arguments: compiled
once, then a click costs the run itself (about a millisecond on a 2-D problem). Nothing a
request sends is evaluated: names are looked up in fixed tables, numbers parsed as floats.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["DEFAULT_METHODS", "Explorer", "MAX_ITER", "RequestError", "SHAPES"]

#: The balls dropped when the page does not say: the seeds' first-order balls and the
#: second-order methods the project is about.
DEFAULT_METHODS = ("gd", "momentum", "adam", "lbfgs", "newton-cg", "trust-ncg", "saddle-free-newton")
#: Methods whose learning rate (and momentum) the page's controls set.
FIRST_ORDER = {"gd": ("learning_rate",), "momentum": ("learning_rate", "momentum"), "adam": ("learning_rate",)}
#: Iterations per ball (the length of the recorded path).
MAX_ITER = 300
GTOL = 1e-8
#: The point's second-order test in the lesson's words.
SHAPES = {"minimum": "bowl", "maximum": "dome", "saddle": "saddle", "degenerate": "flat"}
_GRID_SIZES = (32, 256)  # allowed surface grid sizes, inclusive


class RequestError(ValueError):
    """A request the explorer refuses: ``status`` (400, 404, ...) and the reason."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _finite_or_none(value: float):
    value = float(value)
    return value if math.isfinite(value) else None


def _floats(values) -> list:
    return [_finite_or_none(v) for v in values]


class _Problem:
    """One 2-D problem with its compiled functions (built on first use, kept)."""

    def __init__(self, problem):
        import jax
        import jax.numpy as jnp
        import numpy as np

        import curvature

        self.problem = problem
        lo, hi = (np.broadcast_to(np.asarray(b, dtype=np.float64), (2,)) for b in problem.box)
        self.lo, self.hi = lo.tolist(), hi.tolist()
        fun = problem.fun

        def point(x):
            value, grad = jax.value_and_grad(fun)(x)
            hess = curvature.hessian(fun, x)
            eigvals, eigvecs = jnp.linalg.eigh(hess)
            test = curvature.classify_critical_point(fun, x, method="dense")
            return value, grad, hess, eigvals, eigvecs, test.label

        self.point = jax.jit(point)
        self.grid = jax.jit(jax.vmap(fun))
        self.runs: dict[str, Any] = {}
        self.lock = threading.Lock()


class Explorer:
    """The state behind one explorer server: the problems' compiled functions, shared by
    the request threads (each problem's compilations happen once, under its lock). Turns on
    ``jax_enable_x64`` for the process: everything is computed in float64."""

    def __init__(self, *, max_iter: int = MAX_ITER, compile_workers: int = 2):
        import jax

        from experiments import catalog

        # The explorer computes in float64 (the page shows f down to 1e-30): a process-wide
        # setting, turned on here once rather than toggled per request from several threads.
        jax.config.update("jax_enable_x64", True)
        self.max_iter = int(max_iter)
        self._names = None
        self._catalog = catalog.load()
        self._problems: dict[str, _Problem] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=compile_workers, thread_name_prefix="curvax-explore")

    # -- what exists --------------------------------------------------------

    def problem_names(self) -> list[str]:
        """The registry's problems tagged ``2d`` (those registered in this process included)."""
        if self._names is None:
            from experiments import problems

            self._names = problems.names("2d")
        return self._names

    def method_names(self, problem: str | None = None) -> list[str]:
        """Methods a ball can be dropped for (on ``problem``: the sum-of-squares methods only
        where it has a residual)."""
        import optimizers

        names = list(optimizers.method_names())
        if problem is None:
            return names
        p = self._get(problem).problem
        return [m for m in names if not _needs_split(m) or p.residual is not None or p.model_fn is not None]

    def problems(self) -> dict:
        from experiments.plots.colors import label_colors

        docs = {m["name"]: m["doc"] for m in self._catalog["methods"]}
        methods = self.method_names()
        colours = label_colors((m, m) for m in methods)
        out = []
        for name in self.problem_names():
            p = self._get(name)
            out.append({
                "name": name, "description": p.problem.description.split("\n\n")[0].replace("\n", " "),
                "tags": list(p.problem.tags),
                "lo": p.lo, "hi": p.hi, "x0": _floats(p.problem.x0),
                "minima": [list(m) for m in p.problem.minima], "saddles": [list(s) for s in p.problem.saddles],
                "maxima": [list(m) for m in p.problem.maxima], "f_star": p.problem.f_star,
                "methods": self.method_names(name),
            })
        return {
            "problems": out,
            "methods": [{"name": m, "doc": docs.get(m, ""), "color": colours[m],
                         "first_order": m in FIRST_ORDER} for m in methods],
            "default_methods": list(DEFAULT_METHODS),
            "max_iter": self.max_iter,
            "defaults": {"learning_rate": 0.01, "momentum": 0.9},
        }

    # -- answers ------------------------------------------------------------

    def surface(self, problem: str, n: int = 128) -> dict:
        import jax.numpy as jnp
        import numpy as np

        n = _integer(n, "n", *_GRID_SIZES)
        p = self._get(problem)
        xs = np.linspace(p.lo[0], p.hi[0], n)
        ys = np.linspace(p.lo[1], p.hi[1], n)
        gx, gy = np.meshgrid(xs, ys)  # row j is y = ys[j]
        values = np.asarray(p.grid(jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1))), dtype=np.float64)
        finite = values[np.isfinite(values)]
        return {"problem": problem, "n": n, "lo": p.lo, "hi": p.hi, "values": _floats(values),
                "min": float(finite.min()) if finite.size else None,
                "max": float(finite.max()) if finite.size else None}

    def point(self, problem: str, x) -> dict:
        import jax.numpy as jnp
        import numpy as np

        from curvature import CRITICAL_POINT_LABELS

        p = self._get(problem)
        x = _point(x, "x", p)
        value, grad, hess, eigvals, eigvecs, label = (np.asarray(a, dtype=np.float64) if i < 5 else int(a)
                                                      for i, a in enumerate(p.point(jnp.asarray(x))))
        newton = None
        if np.all(np.isfinite(hess)) and np.all(np.isfinite(grad)):
            scale = max(1.0, float(np.max(np.abs(eigvals))))
            if float(np.min(np.abs(eigvals))) > 1e-10 * scale:
                newton = _floats(np.asarray(x) - np.linalg.solve(hess, grad))
        name = CRITICAL_POINT_LABELS[label]
        return {"problem": problem, "x": list(x), "f": _finite_or_none(value), "grad": _floats(grad),
                "grad_norm": _finite_or_none(np.linalg.norm(grad)), "hessian": [_floats(r) for r in hess],
                "eigenvalues": _floats(eigvals), "eigenvectors": [_floats(eigvecs[:, k]) for k in range(2)],
                "label": name, "shape": SHAPES[name], "newton": newton}

    def prepare(self, problem: str, methods) -> dict:
        """Compile the runs of ``methods`` on ``problem`` (two at a time); the seconds it took."""
        p = self._get(problem)
        methods = self._methods(methods, problem)
        t0 = time.perf_counter()
        for future in [self._pool.submit(self._compiled, p, m) for m in methods]:
            future.result()
        return {"problem": problem, "methods": methods, "seconds": time.perf_counter() - t0}

    def run(self, problem: str, start, methods, learning_rate=0.01, momentum=0.9) -> dict:
        import jax
        import jax.numpy as jnp
        import numpy as np

        from optimizers import status_message

        p = self._get(problem)
        start = _point(start, "start", p)
        methods = self._methods(methods, problem)
        lr = _real(learning_rate, "learning_rate", 1e-6, 10.0)
        mom = _real(momentum, "momentum", 0.0, 0.999)
        x0s = jnp.asarray([start], dtype=jnp.float64)
        out = []
        for method in methods:
            compiled = self._compiled(p, method)
            res = jax.device_get(compiled(x0s, jnp.asarray(lr), jnp.asarray(mom)))
            k = int(res.nit[0]) + 1
            path = np.asarray(res.trace.x[0, :k], dtype=np.float64)
            out.append({"method": method, "nit": k - 1, "status": int(res.status[0]),
                        "message": str(status_message(res.status[0])),
                        "x": [_floats(row) for row in path], "f": _floats(res.trace.f[0, :k]),
                        "grad_norm": _floats(res.trace.grad_norm[0, :k]),
                        "nfev": int(res.nfev[0]), "ngev": int(res.ngev[0]), "nhvp": int(res.nhvp[0])})
        return {"problem": problem, "start": list(start), "learning_rate": lr, "momentum": mom, "runs": out}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals ----------------------------------------------------------

    def _get(self, name) -> _Problem:
        if not isinstance(name, str):
            raise RequestError(f"'problem' must be a string naming a 2-D problem, got {type(name).__name__}")
        if name not in self.problem_names():
            from experiments import problems

            known = self.problem_names()
            if name in problems.names():
                raise RequestError(f"problem {name!r} is not 2-D; the explorer draws: {', '.join(known)}", 400)
            raise RequestError(f"unknown problem {name!r}; 2-D problems: {', '.join(known)}", 404)
        with self._lock:
            if name not in self._problems:
                from experiments import problems

                problem = problems.get(name)
                if problem.box is None:
                    raise RequestError(f"problem {name!r} has no box to draw", 400)
                self._problems[name] = _Problem(problem)
            return self._problems[name]

    def _methods(self, methods, problem: str) -> list[str]:
        if isinstance(methods, str):
            methods = [m for m in methods.split(",") if m]
        if not isinstance(methods, (list, tuple)) or not methods or not all(isinstance(m, str) for m in methods):
            raise RequestError("'methods' must be a non-empty list of method names")
        if len(methods) > 32:
            raise RequestError(f"at most 32 methods per request, got {len(methods)}")
        allowed = self.method_names(problem)
        for m in methods:
            if m not in allowed:
                if m in self.method_names():
                    raise RequestError(f"method {m!r} needs a problem with a residual; {problem!r} has none")
                raise RequestError(f"unknown method {m!r}; known methods: {', '.join(allowed)}")
        return list(dict.fromkeys(methods))

    def _compiled(self, p: _Problem, method: str):
        with p.lock:
            compiled = p.runs.get(method)
        if compiled is not None:
            return compiled
        import jax
        import jax.numpy as jnp

        import optimizers

        problem = p.problem
        extra = optimizers.split_functions(optimizers.method_options(method), model_fn=problem.model_fn,
                                           loss_fn=problem.loss_fn, residual=problem.residual)
        controls = FIRST_ORDER.get(method, ())

        def solve(x0s, lr, mom):
            values = {"learning_rate": lr, "momentum": mom}
            options = {k: values[k] for k in controls}
            return optimizers.minimize_batch(problem.fun, x0s, method, gtol=GTOL, max_iter=self.max_iter,
                                             record_path=True, **options, **extra)

        x0s = jnp.zeros((1, 2), dtype=jnp.float64)
        scalar = jnp.zeros((), dtype=jnp.float64)
        compiled = jax.jit(solve).lower(x0s, scalar, scalar).compile()
        with p.lock:
            return p.runs.setdefault(method, compiled)


def _needs_split(method: str) -> bool:
    """A method that takes the split functions and has no Hessian fallback (no ``curvature``
    option): Gauss-Newton and Levenberg-Marquardt."""
    import optimizers

    options = optimizers.method_options(method)
    return bool(set(optimizers.SPLIT_FUNCTIONS) & set(options)) and "curvature" not in options


def _real(value, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{name!r} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise RequestError(f"{name!r} must be a finite number in [{lo:g}, {hi:g}], got {value!r}")
    return value


def _integer(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RequestError(f"{name!r} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _point(value, name: str, p: _Problem) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise RequestError(f"{name!r} must be a list of 2 numbers, got {value!r}")
    x = [_real(v, f"{name}[{i}]", -1e300, 1e300) for i, v in enumerate(value)]
    if not all(lo <= v <= hi for v, lo, hi in zip(x, p.lo, p.hi)):
        raise RequestError(f"{name!r} = {x} lies outside the box of {p.problem.name!r}: "
                           f"x in [{p.lo[0]:g}, {p.hi[0]:g}], y in [{p.lo[1]:g}, {p.hi[1]:g}]")
    return x

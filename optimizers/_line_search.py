"""The line-search globalisations: x+ = x + t d along a direction's proposal.

``STRONG_WOLFE`` (N&W Alg. 3.5/3.6; c1 = 1e-4, c2 = 0.9 by default; ``strong_wolfe(c2=0.1)``
for nonlinear CG, whose directions need the tighter curvature condition), ``ARMIJO``
(backtracking, N&W Alg. 3.1 with interpolation) and ``UNIT_STEP`` (no globalisation: x + d,
as plain Newton's method; the driver still stops on a non-finite point). Trial evaluations
are counted. A search that finds no decrease leaves x where it is; the run then stalls
unless the direction can retry from a reset state (a quasi-Newton restart).
"""

from __future__ import annotations

import jax.numpy as jnp

from optimizers._compose import Globalisation
from optimizers._method import Iterate
from optimizers._options import choice, integer, real
from optimizers._step_length import LineSearchResult, backtracking, lowest_f, no_lowest_f, strong_wolfe

__all__ = ["ARMIJO", "ARMIJO_OPTIONS", "STRONG_WOLFE", "UNIT_STEP", "WOLFE_OPTIONS", "check_wolfe_constants",
           "first_scale", "selected", "strong_wolfe_search", "wolfe_step"]

#: Options of the strong-Wolfe search, shared by every line-search method.
WOLFE_OPTIONS = {
    "c1": real(1e-4, "sufficient-decrease (Armijo) constant of the line search", 0.0, 1.0),
    "c2": real(0.9, "curvature constant of the strong-Wolfe line search, c1 < c2 < 1", 0.0, 1.0),
    "ls_max_iter": integer(25, "most trial steps (f and g evaluations) per line search", 1),
}

#: Options of the Armijo backtracking search.
ARMIJO_OPTIONS = {
    "c1": WOLFE_OPTIONS["c1"],
    "ls_shrink": real(0.5, "largest step factor between backtracking trials", 0.0, 1.0),
    "ls_max_iter": WOLFE_OPTIONS["ls_max_iter"],
}


def check_wolfe_constants(opts) -> None:
    """The ``validate`` hook of the strong-Wolfe search: 0 < c1 < c2 < 1.

    Each option's own check gives 0 < c < 1; this adds c1 < c2, without which a point
    satisfying both conditions need not exist. Concrete values only: a traced c1 or c2
    (a float option passed through ``jax.jit``) cannot be compared and is not checked.
    """
    c1, c2 = opts["c1"], opts["c2"]
    if isinstance(c1, (int, float)) and isinstance(c2, (int, float)) and not c1 < c2:
        raise ValueError(f"options 'c1' and 'c2': the strong-Wolfe line search needs "
                         f"0 < c1 < c2 < 1, got c1={c1!r}, c2={c2!r}")


def wolfe_step(objective, it: Iterate, d, opts, init_step=1.0, f_ref=None) -> tuple[Iterate, LineSearchResult]:
    """Strong-Wolfe search from ``it`` along ``d``; the new iterate (unchanged x if no decrease).
    f_ref: the lowest f met so far (see :func:`~optimizers._step_length.strong_wolfe`)."""
    ls = strong_wolfe(
        objective.value_and_grad, it.x, it.f, it.g, d,
        init_step=init_step, c1=opts["c1"], c2=opts["c2"], max_iter=opts["ls_max_iter"], f_ref=f_ref,
    )
    new = it._replace(x=ls.x, f=ls.f, g=ls.g).counted(nfev=ls.nfev, ngev=ls.ngev)
    return new, ls


def _armijo_step(objective, it: Iterate, d, opts, init_step=1.0) -> tuple[Iterate, LineSearchResult]:
    ls = backtracking(objective.value, objective.grad, it.x, it.f, it.g, d, init_step=init_step,
                      c1=opts["c1"], shrink=opts["ls_shrink"], max_iter=opts["ls_max_iter"])
    new = it._replace(x=ls.x, f=ls.f, g=ls.g).counted(nfev=ls.nfev, ngev=ls.ngev)
    return new, ls


def _searched(search, keeps_lowest=False):
    """The globalisation step of a line search ``search(objective, it, d, opts, t0)``; with
    ``keeps_lowest`` its state is the lowest f met (+inf at the start), handed to the search
    as ``f_ref``."""

    def step(direction, objective, it: Iterate, d_state, state, opts):
        prop = direction.propose(objective, it, d_state, opts)
        if keeps_lowest:
            new, ls = search(objective, prop.it, prop.d, opts, prop.init_step, f_ref=state)
            state = lowest_f(state, prop.it.f, new.f)
        else:
            new, ls = search(objective, prop.it, prop.d, opts, prop.init_step)
        d_state, retry = prop.state, False
        if direction.update is not None:
            d_state, retry = direction.update(objective, prop.it, new, d_state, opts, ls.decrease)
        return new._replace(stalled=~ls.decrease & ~jnp.asarray(retry)), d_state, state

    return step


def _lowest_f(x, opts):
    """The strong-Wolfe globalisation's state: the lowest f met, +inf before the first step."""
    return no_lowest_f(x)


def _unit_step(direction, objective, it: Iterate, d_state, state, opts):
    prop = direction.propose(objective, it, d_state, opts)
    x = prop.it.x + prop.d
    f, g = objective.value_and_grad(x)
    new = prop.it._replace(x=x, f=f, g=g).counted(nfev=1, ngev=1)
    d_state = prop.state
    if direction.update is not None:
        d_state, _ = direction.update(objective, prop.it, new, d_state, opts, jnp.isfinite(f))
    return new, d_state, state


def strong_wolfe_search(c2: float = 0.9) -> Globalisation:
    """The strong-Wolfe globalisation with default curvature constant ``c2``."""
    options = dict(WOLFE_OPTIONS)
    if c2 != 0.9:
        options["c2"] = real(c2, WOLFE_OPTIONS["c2"].doc, 0.0, 1.0)
    return Globalisation("strong-wolfe", "propose", options, _lowest_f, _searched(wolfe_step, keeps_lowest=True),
                         validate=check_wolfe_constants)


STRONG_WOLFE = strong_wolfe_search()
ARMIJO = Globalisation("armijo", "propose", ARMIJO_OPTIONS, lambda x, opts: (), _searched(_armijo_step))
UNIT_STEP = Globalisation("unit-step", "propose", {}, lambda x, opts: (), _unit_step)


def selected(option: str, choices: dict, doc: str) -> Globalisation:
    """A globalisation picked by the static option ``option`` among ``choices`` (name ->
    globalisation of the same kind), the first being the default; options are the union."""
    names = list(choices)
    options = {option: choice(names[0], doc, *names)}
    for g in choices.values():
        options.update(g.options)
    checks = {k: g.validate for k, g in choices.items() if g.validate is not None}

    def init(x, opts):
        return choices[opts[option]].init(x, opts)

    def step(direction, objective, it, d_state, state, opts):
        return choices[opts[option]].step(direction, objective, it, d_state, state, opts)

    def validate(opts):
        if opts[option] in checks:
            checks[opts[option]](opts)

    needs = {g.needs for g in choices.values()}
    if len(needs) != 1:
        raise ValueError(f"option {option!r}: the globalisations must all be line searches or all trust regions")
    return Globalisation("|".join(names), needs.pop(), options, init, step, validate=validate)


def first_scale(g):
    """Step scale of the first quasi-Newton iteration, min(1, 1/||g||_2): x moves at most 1."""
    gn = jnp.linalg.norm(g)
    return jnp.where(gn > 1, 1 / jnp.where(gn > 1, gn, 1), 1.0).astype(g.dtype)

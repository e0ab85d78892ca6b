"""The globalisations by name, for composing methods from public parts.

``optimizers.compose(name, direction, globalisation, doc)`` joins a :class:`Direction` with a
:class:`Globalisation`; these accessors give the library's own globalisations:

- :func:`line_search` ``("strong-wolfe" | "armijo" | "none")``: for a direction with
  ``propose`` (a search direction d);
- :func:`trust_region` ``("steihaug" | "gltr" | "exact" | "dogleg")``: for a direction with
  ``model`` (``"steihaug"``/``"gltr"`` need ``Model.matvec``, ``"exact"``/``"dogleg"`` the
  dense ``Model.hess``);
- :func:`damping`: Levenberg-Marquardt damping, the trust region in 1/radius form.
"""

from __future__ import annotations

from optimizers import _line_search, _trust_region
from optimizers._compose import Globalisation

__all__ = ["damping", "line_search", "trust_region"]

_LINE_SEARCHES = {"strong-wolfe": _line_search.STRONG_WOLFE, "armijo": _line_search.ARMIJO,
                  "none": _line_search.UNIT_STEP}


def line_search(kind: str = "strong-wolfe") -> Globalisation:
    """The line-search globalisation ``kind``: ``"strong-wolfe"`` (N&W Alg. 3.5/3.6; options
    c1, c2, ls_max_iter), ``"armijo"`` (backtracking; c1, ls_shrink, ls_max_iter) or
    ``"none"`` (the unit step x + d, no options)."""
    if kind not in _LINE_SEARCHES:
        raise ValueError(f"unknown line search {kind!r}; known: {', '.join(_LINE_SEARCHES)}")
    return _LINE_SEARCHES[kind]


def trust_region(subproblem: str = "steihaug") -> Globalisation:
    """The trust-region globalisation (N&W Alg. 4.1; options initial_radius, max_radius, eta
    and the solver's) with the subproblem solver ``subproblem``: ``"steihaug"``, ``"gltr"``,
    ``"exact"`` (Moré-Sorensen) or ``"dogleg"``."""
    if subproblem not in _trust_region.SUBPROBLEMS:
        raise ValueError(f"unknown trust-region subproblem {subproblem!r}; known: "
                         f"{', '.join(_trust_region.SUBPROBLEMS)}")
    return _trust_region.trust_region(subproblem)


def damping() -> Globalisation:
    """Levenberg-Marquardt damping: (B + lambda I) p = -g, lambda updated by the trust-region
    ratio (options damping, damping_increase, damping_decrease, min_damping, eta, cg_max_iter)."""
    return _trust_region.damped()

"""One colour per method, the same in every figure, animation and the explorer.

A method keeps its colour across configs (Adam is pink in the quickstart and in the MLP
run alike). A second optimizer of the same method in one config (two learning rates of gd,
say), and a method registered by a user, take the next colour of a spare palette in config
order. Imports nothing (the explorer's server sends this table to the page).
"""

from __future__ import annotations

__all__ = ["METHOD_COLORS", "SPARE_COLORS", "label_colors"]

METHOD_COLORS = {
    "gd": "#7f7f7f",
    "momentum": "#8c564b",
    "adam": "#e377c2",
    "nonlinear-cg": "#bcbd22",
    "lbfgs": "#1f77b4",
    "bfgs": "#17becf",
    "newton": "#000000",
    "newton-cg": "#2ca02c",
    "trust-ncg": "#ff7f0e",
    "trust-krylov": "#d62728",
    "trust-exact": "#9467bd",
    "dogleg": "#c49c94",
    "gauss-newton": "#98df8a",
    "levenberg-marquardt": "#ffbb78",
    "hessian-free": "#393b79",
    "saddle-free-newton": "#ad494a",
}
SPARE_COLORS = ("#637939", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#843c39", "#636363",
                "#8c6d31", "#6baed6")


def label_colors(optimizers) -> dict:
    """``{label: colour}`` for ``optimizers``, an iterable of ``(label, method)`` pairs in
    config order: the method's own colour for its first label, a spare one after that."""
    out, taken, spare = {}, set(), 0
    for label, method in optimizers:
        if label in out:
            continue
        color = METHOD_COLORS.get(method)
        if color is None or color in taken:
            color = SPARE_COLORS[spare % len(SPARE_COLORS)]
            spare += 1
        taken.add(color)
        out[label] = color
    return out

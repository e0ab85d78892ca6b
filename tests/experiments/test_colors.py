"""One colour per method in every figure: the table covers every registered method with
distinct colours, a method's colour does not depend on the config, and two optimizers of
one method (or user methods) get distinct spare colours."""

import matplotlib.colors

import optimizers
from experiments.plots.colors import METHOD_COLORS, SPARE_COLORS, label_colors


def test_every_method_has_its_own_valid_colour():
    assert set(METHOD_COLORS) == set(optimizers.method_names())
    everything = list(METHOD_COLORS.values()) + list(SPARE_COLORS)
    assert len(set(everything)) == len(everything)
    assert all(matplotlib.colors.is_color_like(c) for c in everything)


def test_a_method_keeps_its_colour_whatever_the_config():
    one = label_colors([("GD", "gd"), ("Adam", "adam"), ("L-BFGS", "lbfgs")])
    other = label_colors([("L-BFGS", "lbfgs"), ("my adam", "adam")])
    assert one["Adam"] == other["my adam"] == METHOD_COLORS["adam"]
    assert one["L-BFGS"] == other["L-BFGS"] == METHOD_COLORS["lbfgs"]


def test_repeats_and_unknown_methods_take_distinct_spare_colours():
    got = label_colors([("gd 1e-2", "gd"), ("gd 1e-3", "gd"), ("mine", "my-method"), ("gd 1e-4", "gd")])
    assert got["gd 1e-2"] == METHOD_COLORS["gd"]
    assert [got["gd 1e-3"], got["mine"], got["gd 1e-4"]] == list(SPARE_COLORS[:3])
    assert len(set(got.values())) == 4

"""Config validation: every error path names the file, the key path and what is allowed."""

from pathlib import Path

import pytest

import optimizers
from experiments import problems
from experiments.config import ConfigError, load, loads

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))

BASE = """
name = "t"
[[problems]]
name = "rosenbrock"
[[optimizers]]
method = "gd"
learning_rate = 1e-3
[[optimizers]]
method = "newton-cg"
"""


def check(text, key, *fragments, check_options=False):
    """``text`` must fail validation at ``key`` with every fragment in the message."""
    with pytest.raises(ConfigError) as info:
        loads(text, source="cfg.toml", check_options=check_options)
    err = info.value
    message = str(err)
    assert message.startswith("cfg.toml: "), message
    assert err.key == key, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_minimal_config_gets_documented_defaults():
    spec = loads(BASE, source="cfg.toml")
    assert (spec.seed, spec.dtype, spec.device) == (0, "float64", "auto")
    assert (spec.max_iter, spec.gtol, spec.repeats) == (1000, 1e-6, 1)
    assert [o.label for o in spec.optimizers] == ["gd", "newton-cg"]
    assert spec.optimizers[0].options == {"learning_rate": 1e-3}
    assert spec.problems[0].starts == 1 and spec.problems[0].x0 is None
    assert spec.plots.x_axis == ("iteration", "evaluations", "time")
    assert spec.plots.formats == ("png",) and spec.plots.band == "iqr"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_ready_config_validates(path):
    if path.stem == "cutest" and problems.unavailable(tag="cutest"):  # the optional extra is not installed
        with pytest.raises(ConfigError, match=r'pip install -e "\.\[cutest\]"'):
            load(path, check_options=False)
        return
    spec = load(path, check_options=False)
    assert spec.name == path.stem
    assert spec.problems and spec.optimizers


def test_ready_configs_are_all_there():
    names = {p.stem for p in CONFIGS}
    assert {"quickstart", "saddles", "ill_conditioned", "mgh_suite", "logistic_regression", "mlp",
            "large_scale", "cutest"} <= names


def test_method_own_checks_run_before_anything_compiles():
    bad = BASE.replace("learning_rate = 1e-3", "learning_rate = -1.0")
    check(bad, "optimizers[0]", "(the 1st [[optimizers]] table)", "method 'gd' rejected", "learning_rate",
          check_options=True)


def test_invalid_toml():
    check("name = ", "", "not valid TOML")


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load(tmp_path / "missing.toml")


PROBLEMS = '[[problems]]\nname = "rosenbrock"\n'
OPTIMIZERS = '[[optimizers]]\nmethod = "gd"\n'


@pytest.mark.parametrize(
    "text, missing",
    [(PROBLEMS + OPTIMIZERS, "name"), ('name = "t"\n' + OPTIMIZERS, "problems"),
     ('name = "t"\n' + PROBLEMS, "optimizers")],
)
def test_missing_required_top_level_key(text, missing):
    check(text, missing, "missing required key")


def test_unknown_key_lists_allowed_keys():
    check("colour = 1\n" + BASE, "colour", "unknown key", "'name'", "'budget'", "'plots'")
    check(BASE + "[budget]\nmax_iters = 3\n", "budget.max_iters", "unknown key", "'max_iter'", "'gtol'")
    check(BASE + "[plots]\naxis = 3\n", "plots.axis", "unknown key", "'x_axis'")


@pytest.mark.parametrize(
    "extra, key, fragment",
    [
        ('seed = "zero"\n', "seed", "expected an integer, got 'zero' (string)"),
        ("seed = true\n", "seed", "expected an integer, got True (boolean)"),
        ("seed = -1\n", "seed", "must be >= 0"),
        ('dtype = "float16"\n', "dtype", "expected one of 'float64', 'float32'"),
        ('device = "tpu"\n', "device", "expected one of 'cpu', 'gpu', 'auto'"),
        ('description = 3\n', "description", "expected a string"),
        ("budget = 3\n", "budget", "expected a table [budget]"),
    ],
)
def test_top_level_types_and_values(extra, key, fragment):
    check(extra + BASE, key, fragment)


@pytest.mark.parametrize(
    "section, key, fragment",
    [
        ("max_iter = 1.5", "budget.max_iter", "expected an integer, got 1.5 (float)"),
        ("max_iter = 0", "budget.max_iter", "must be > 0, got 0"),
        ("gtol = -1e-3", "budget.gtol", "must be > 0"),
        ('gtol = "small"', "budget.gtol", "expected a number"),
        ("gtol = nan", "budget.gtol", "expected a finite number"),
        ("repeats = 0", "budget.repeats", "must be > 0"),
    ],
)
def test_budget_errors(section, key, fragment):
    check(BASE + "[budget]\n" + section + "\n", key, fragment)


def test_bad_name():
    check(BASE.replace('name = "t"', 'name = "a/b"'), "name", "folder name")


def test_problems_must_be_an_array_of_tables():
    check('name = "t"\nproblems = [1]\n[[optimizers]]\nmethod = "gd"\n', "problems", "array of tables")
    check('name = "t"\nproblems = []\n[[optimizers]]\nmethod = "gd"\n', "problems", "at least one")


def test_unknown_problem_lists_known_ones():
    message = check(BASE.replace('name = "rosenbrock"', 'name = "rosenbrok"'), "problems[0].name",
                    "unknown problem 'rosenbrok'", "known problems:")
    for name in problems.names()[:5]:
        assert name in message


def test_unknown_method_lists_known_ones():
    message = check(BASE.replace('method = "newton-cg"', 'method = "newton-raphson"'), "optimizers[1].method",
                    "(the 2nd [[optimizers]] table)", "unknown method 'newton-raphson'")
    for name in optimizers.method_names():
        assert name in message


def test_missing_method():
    check(BASE + "[[optimizers]]\nlabel = \"x\"\n", "optimizers[2].method", "missing required key",
          "known methods:")


def test_unknown_option_lists_the_methods_options():
    message = check(BASE.replace("learning_rate = 1e-3", "learning_rat = 1e-3"), "optimizers[0].learning_rat",
                    "unknown option for method 'gd'", "'learning_rate'", "'label'", "'max_iter'")
    assert "'momentum'" not in message  # a momentum option is not a gd option


def test_option_of_wrong_type_names_its_key_path():
    text = BASE + '[[optimizers]]\nmethod = "adam"\nlearning_rate = "fast"\n'
    check(text, "optimizers[2].learning_rate", "(the 3rd [[optimizers]] table)", "expected a number",
          "'fast' (string)")
    check(BASE + '[[optimizers]]\nmethod = "momentum"\nnesterov = 1\n', "optimizers[2].nesterov",
          "expected a boolean")
    check(BASE + '[[optimizers]]\nmethod = "lbfgs"\nmemory_size = 2.5\n', "optimizers[2].memory_size",
          "expected an integer")


def test_options_filled_from_the_problem_cannot_be_set():
    check(BASE + '[[optimizers]]\nmethod = "hessian-free"\nresidual = "x"\n', "optimizers[2].residual",
          "unknown option for method 'hessian-free'")


def test_per_optimizer_budget_and_labels():
    spec = loads(BASE + '[[optimizers]]\nmethod = "gd"\nlabel = "GD slow"\nmax_iter = 7\ngtol = 1e-3\n',
                 source="cfg.toml")
    o = spec.optimizers[2]
    assert (o.label, o.max_iter, o.gtol) == ("GD slow", 7, 1e-3)
    check(BASE + '[[optimizers]]\nmethod = "gd"\n', "optimizers", "share the label 'gd'")
    check(BASE + '[[optimizers]]\nmethod = "gd"\nlabel = " "\n', "optimizers[2].label", "must not be empty")
    check(BASE + '[[optimizers]]\nmethod = "gd"\nlabel = "x"\nmax_iter = -2\n', "optimizers[2].max_iter",
          "must be > 0")


def test_problem_name_or_tag():
    check(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\ntag = "2d"'), "problems[0]",
          "(the 1st [[problems]] table)", "exactly one of 'name'")
    check(BASE.replace('name = "rosenbrock"', "starts = 2"), "problems[0]", "exactly one of 'name'")


def test_tag_expands_to_every_problem_with_it():
    spec = loads(BASE.replace('name = "rosenbrock"', 'tag = "mgh"'), source="cfg.toml")
    assert [p.name for p in spec.problems] == problems.names("mgh")
    check(BASE.replace('name = "rosenbrock"', 'tag = "nonesuch"'), "problems[0].tag",
          "no problem has the tag 'nonesuch'", "known tags:", "'mgh'")
    check(BASE.replace('name = "rosenbrock"', 'tag = "mgh"\ndim = 3'), "problems[0].dim", "unknown key")


def test_problem_parameters_are_checked_against_the_registry():
    text = BASE.replace('name = "rosenbrock"', 'name = "ill_conditioned_quadratic"\ndim = 10\ncond = 1e3')
    spec = loads(text, source="cfg.toml")
    assert spec.problems[0].params == {"dim": 10, "cond": 1e3}
    assert spec.problems[0].label == "ill_conditioned_quadratic (dim=10, cond=1000)"
    check(text.replace("cond = 1e3", "kappa = 1e3"), "problems[0].kappa", "unknown key", "'cond'", "'dim'")
    check(text.replace("dim = 10", "dim = 2.5"), "problems[0].dim", "expected an integer")
    check(text.replace("dim = 10", 'dim = "ten"'), "problems[0].dim", "expected an integer")
    # a value the problem itself rejects (condition number below 1)
    check(text.replace("cond = 1e3", "cond = 0.5"), "problems[0]", "rejected its parameters")


def test_integer_valued_float_is_accepted_for_an_integer_parameter():
    text = BASE.replace('name = "rosenbrock"', 'name = "extended_rosenbrock"\ndim = 1e3')
    assert loads(text, source="cfg.toml").problems[0].params["dim"] == 1000


def test_array_value_sweeps_a_parameter():
    text = BASE.replace('name = "rosenbrock"', 'name = "ill_conditioned_quadratic"\ndim = 8\ncond = [1e2, 1e4]')
    spec = loads(text, source="cfg.toml")
    assert [p.params["cond"] for p in spec.problems] == [1e2, 1e4]
    assert [p.label for p in spec.problems] == ["ill_conditioned_quadratic (dim=8, cond=100)",
                                                "ill_conditioned_quadratic (dim=8, cond=10000)"]
    check(text.replace("[1e2, 1e4]", "[]"), "problems[0].cond", "sweeps over nothing")
    check(text.replace("[1e2, 1e4]", '[1e2, "x"]'), "problems[0].cond[1]", "expected a number")
    labelled = text.replace("dim = 8", 'dim = 8\nlabel = "Q"')
    assert [p.label for p in loads(labelled, source="c").problems] == ["Q (cond=100)", "Q (cond=10000)"]
    check(BASE + '[[problems]]\nname = "rosenbrock"\n', "problems", "share the label 'rosenbrock'")


def test_starts_and_explicit_x0():
    spec = loads(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\nstarts = 4'), source="c")
    assert spec.problems[0].starts == 4
    check(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\nstarts = 0'), "problems[0].starts",
          "must be > 0")
    one = loads(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\nx0 = [0.5, 1]'), source="c")
    assert one.problems[0].x0 == ((0.5, 1.0),) and one.problems[0].starts == 1
    two = loads(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\nx0 = [[0, 0], [1, 2]]'), source="c")
    assert two.problems[0].starts == 2
    check(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\nx0 = [1, 2, 3]'), "problems[0].x0",
          "start 0 has 3 coordinates", "dim = 2")
    check(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\nx0 = [1, 2]\nstarts = 3'), "problems[0].x0",
          "not both")
    check(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\nx0 = [1, "a"]'), "problems[0].x0[0][1]",
          "expected a number")
    check(BASE.replace('name = "rosenbrock"', 'name = "rosenbrock"\nx0 = []'), "problems[0].x0",
          "expected an array of numbers")


@pytest.mark.parametrize(
    "line, key, fragment",
    [
        ('x_axis = ["iteration", "seconds"]', "plots.x_axis[1]", "expected one of 'iteration', 'evaluations', 'time'"),
        ('x_axis = []', "plots.x_axis", "non-empty array"),
        ('x_axis = ["time", "time"]', "plots.x_axis", "lists an entry twice"),
        ('y_axis = ["loss"]', "plots.y_axis[0]", "expected one of 'gap', 'grad_norm'"),
        ("trajectories = 1", "plots.trajectories", "expected a boolean"),
        ('band = "std"', "plots.band", "expected one of 'iqr', 'range', 'none'"),
        ('formats = ["svg"]', "plots.formats", "must include 'png'"),
        ('formats = ["pdf", "png"]', "plots.formats[0]", "expected one of 'png', 'svg'"),
        ("profile_tol = 0", "plots.profile_tol", "must be > 0"),
        ("path_max_dim = 100000", "plots.path_max_dim", "must be <= 10000"),
        ('x_scale = "symlog"', "plots.x_scale", "expected one of 'auto', 'linear', 'log'"),
        ('animate = "yes"', "plots.animate", "expected a boolean"),
        ("spectrum = 1", "plots.spectrum", "expected a boolean"),
    ],
)
def test_plot_settings(line, key, fragment):
    check(BASE + "[plots]\n" + line + "\n", key, fragment)


def test_animations_keep_the_path():
    off = "[plots]\ntrajectories = false\ncurvature = false\n"
    assert not loads(BASE + off, source="cfg.toml").record_path
    spec = loads(BASE + off + "animate = true\n", source="cfg.toml")
    assert spec.record_path and spec.plots.animate and not spec.plots.spectrum


def test_with_device_override():
    spec = loads(BASE, source="cfg.toml")
    assert spec.with_device("cpu").device == "cpu"
    with pytest.raises(ConfigError, match="device: expected one of"):
        spec.with_device("tpu")


def test_the_old_lbfgs_memory_name_points_to_memory_size():
    check(BASE + '[[optimizers]]\nmethod = "lbfgs"\nm = 5\n', "optimizers[2].m",
          "method 'lbfgs': option 'm' was renamed 'memory_size'", "pass memory_size= instead")

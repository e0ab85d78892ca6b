"""Plots from synthetic stored results (no optimizer runs): the statistics behind them
against hand-computed values, and every figure written as PNG and SVG."""

import json

import numpy as np
import pytest

from experiments.config import loads
from experiments.plots import median_band, performance_profile, plot_profiles, plot_run, solve_costs
from experiments.records import RunWriter, load_run, trace_chunk

CONFIG = """
name = "synthetic"
[[problems]]
name = "booth"
starts = 2
[[problems]]
name = "hill"
[[optimizers]]
method = "gd"
label = "A"
[[optimizers]]
method = "newton-cg"
label = "B"
[plots]
x_axis = ["iteration", "evaluations"]
profile_tol = 1e-6
"""


BOOTH = {"name": "booth", "params": {}, "dim": 2, "f_star": 0.0, "x_star": [1.0, 3.0], "minima": [[1.0, 3.0]],
         "box": [[-10.0, -10.0], [10.0, 10.0]], "x0": None, "tags": []}
HILL = {"name": "hill", "params": {}, "dim": 2, "f_star": None, "x_star": None, "minima": [],
        "box": [[-2.0, -2.0], [2.0, 2.0]], "x0": None, "tags": []}


def write_run(run_dir, config, problems, methods, spectra=None):
    """A stored run without running anything: ``problems`` are (label, meta, starts) with
    ``meta`` one of BOOTH, HILL (f* = 0: f shrinks geometrically; f* unknown: f falls
    linearly); ``methods`` are (label, method, rate, nit) in the order of ``config``'s
    [[optimizers]]; paths run straight from the start to (1, 3)."""
    runs, columns = [], []
    run_id = 0
    for problem, meta, starts in problems:
        f_star = meta["f_star"]
        for label, method, rate, nit in methods:
            for start in range(starts):
                k = np.arange(nit + 1)
                f = 10.0 * (start + 1) * rate ** k if f_star is not None else 4.0 - 2.0 * k
                x0 = np.array([-2.0 + start, 0.5])
                path = x0 + np.outer(k / nit, np.array([1.0, 3.0]) - x0)
                second = method != "gd"
                columns.append({
                    "run": np.full(k.size, run_id), "problem": [problem] * k.size, "label": [label] * k.size,
                    "method": [method] * k.size, "start": np.full(k.size, start), "iteration": k, "f": f,
                    "gap": f - f_star if f_star is not None else np.full(k.size, np.nan),
                    "grad_norm": 2 * f if f_star is not None else np.full(k.size, 2.0), "nfev": k + 1.0,
                    "ngev": k + 1.0, "nhvp": 3.0 * k if second else 0 * k,
                    "evaluations": 2 * (k + 1.0) + (6.0 * k if second else 0), "time": 1e-3 * k,
                    "x": path[:, 0], "y": path[:, 1],
                    "eig_min": np.full(k.size, 2.0 if f_star is not None else -2.0),
                    "eig_max": np.full(k.size, 18.0 if f_star is not None else -2.0),
                })
                runs.append({"run": run_id, "problem": problem, "problem_name": meta["name"], "label": label,
                             "method": method, "start": start, "f": float(f[-1]), "f_star": f_star,
                             "gap": None if f_star is None else float(f[-1]), "grad_norm": 0.0, "nit": nit,
                             "nfev": nit + 1, "ngev": nit + 1, "nhvp": 0, "evaluations": 0, "run_seconds": 0.01,
                             "compile_seconds": 1.0, "batch": starts, "status": 0, "message": "converged",
                             "success": True})
                run_id += 1
    spec = loads(config, source="synthetic.toml", check_options=False)
    writer = RunWriter(run_dir)
    writer.start(spec, {"device": "cpu"}, problems=[dict(meta, label=label, starts=starts)
                                                    for label, meta, starts in problems])
    merged = {k: np.concatenate([np.asarray(c[k], dtype=object if k in ("problem", "label", "method") else None)
                                 for c in columns]) for k in columns[0]}
    writer.add({"problem": "all", "label": "all", "starts": 0}, runs, merged, spectra)
    writer.finish("complete")
    return load_run(run_dir)


def spectra_of(problem, labels):
    """spectra.json entries: a bulk near 0 with an outlier at the start, the bulk moved
    right (and one method with a negative eigenvalue) at the end."""
    rng = np.random.RandomState(0)

    def entry(label, point, shift):
        nodes = np.sort(np.concatenate([rng.uniform(0, 1, (4, 5)), np.full((4, 1), 20.0)], axis=1) + shift, axis=1)
        return {"problem": problem, "label": label, "point": point, "start": 0, "iteration": 0,
                "nodes": nodes.tolist(), "weights": np.full((4, 6), 1 / 6).tolist()}

    return [entry(None, "start", 0.0)] + [entry(lab, "end", 2.0 - 3.0 * (i == 1)) for i, lab in enumerate(labels)]


def synthetic_run(run_dir):
    """booth (f* = 0, 2 starts) and hill (f* unknown, 1 start), methods A (slow) and B (fast)."""
    return write_run(run_dir, CONFIG, [("booth", BOOTH, 2), ("hill", HILL, 1)],
                     [("A", "gd", 0.5, 12), ("B", "newton-cg", 0.01, 4)])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("synthetic"))


def test_median_band_of_step_functions():
    curves = [(np.array([0.0, 2.0, 4.0]), np.array([8.0, 4.0, 2.0])),
              (np.array([1.0, 2.0]), np.array([6.0, 3.0])),
              (np.array([0.0, 3.0]), np.array([10.0, 1.0]))]
    x, med, lo, hi = median_band(curves)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    # held values at each x (NaN before a curve starts), by hand
    held = np.array([[8, 8, 4, 4, 2], [np.nan, 6, 3, 3, 3], [10, 10, 10, 1, 1]], dtype=float)
    np.testing.assert_allclose(med, np.nanmedian(held, axis=0))
    np.testing.assert_allclose(lo, np.nanpercentile(held, 25, axis=0))
    np.testing.assert_allclose(hi, np.nanpercentile(held, 75, axis=0))
    _, _, lo, hi = median_band(curves, band="range")
    np.testing.assert_allclose(lo, np.nanmin(held, axis=0))
    np.testing.assert_allclose(hi, np.nanmax(held, axis=0))


def test_performance_profile_by_hand():
    costs = np.array([[1.0, 2.0], [4.0, 2.0], [np.inf, 3.0], [np.inf, np.inf]])
    taus, rho = performance_profile(costs)
    at = {t: r for t, r in zip(taus.tolist(), rho.tolist())}
    assert at[1.0] == [0.25, 0.5]  # A is best on problem 0; B on problems 1 and 2
    assert at[2.0] == [0.5, 0.75]  # within 2x: A on 0 and 1 (ratio 2); B on 0, 1, 2
    assert rho[-1].tolist() == [0.5, 0.75]  # problem 3 is solved by nobody


def test_solve_costs_first_iterate_within_tolerance(data):
    costs, labels = solve_costs(data, "iteration", 1e-6)
    assert labels == ["A", "B"]
    # booth: f_k = 10 (s+1) rate^k <= 1e-6: A (rate 0.5) never within 12 iterations; B (0.01) at k = 4
    # hill: f* unknown, reference = lowest f reached (B: 4 - 2*4 = -4 at k = 4; A: 4 - 24 = -20 at k = 12)
    keys = sorted({(r["problem"], r["start"]) for r in data.results["runs"]})
    table = dict(zip(keys, costs.tolist()))
    assert table[("booth", 0)] == [np.inf, 4 + 1] and table[("booth", 1)] == [np.inf, 4 + 1]
    assert table[("hill", 0)] == [12 + 1, np.inf]
    evals, _ = solve_costs(data, "evaluations", 1e-6)
    assert dict(zip(keys, evals.tolist()))[("booth", 0)] == [np.inf, 2 * 5 + 6 * 4]


def test_every_figure(data, tmp_path):
    files = plot_run(data, out_dir=tmp_path)
    names = sorted(p.name for p in files)
    assert names == sorted(f"{stem}.png" for stem in ("convergence_iteration", "convergence_evaluations",
                                                      "trajectories_booth", "trajectories_hill", "profile",
                                                      "curvature"))
    for path in files:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_spread_stacks_equal_values():
    from experiments.plots.layout import spread

    assert spread([0.5, 0.5, 0.2], gap=0.1, low=0.0, high=1.0) == pytest.approx([0.5, 0.6, 0.2])
    assert spread([1.0, 1.0, 1.0], gap=0.1, low=0.0, high=1.0) == pytest.approx([0.8, 0.9, 1.0])
    assert spread([0.0] * 3, gap=1.0, low=0.0, high=1.0) == pytest.approx([0.0, 0.5, 1.0])  # no room: even


def test_spectrum_panels_redraw_the_stored_densities(one_problem):
    from experiments.plots import spectrum_figure

    fig = spectrum_figure(one_problem)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]
    assert len(lines) == 1 + len(SIX)  # the start (dashed) and every method's end
    assert lines[0].get_linestyle() == "--" and all(ln.get_linestyle() == "-" for ln in lines[1:])
    for line in lines:  # densities: mass 1 on the panel's one grid
        t = line.get_xdata()
        assert np.sum(line.get_ydata()) * (t[1] - t[0]) == pytest.approx(1.0, rel=1e-2)
    assert lines[2].get_xdata()[0] < 0 < lines[2].get_xdata()[-1]  # the negative eigenvalue is in view


def test_svg_on_request(data, tmp_path):
    spec = loads(CONFIG, source="synthetic.toml", check_options=False).plots
    files = plot_profiles(data, spec, tmp_path, ("png", "svg"))
    assert [p.name for p in files] == ["profile.png", "profile.svg"]
    assert b"<svg" in files[1].read_bytes()[:2000]


def test_plot_settings_come_from_the_stored_config(data, tmp_path):
    config = data.run_dir / "config.toml"
    original = config.read_text()
    try:
        config.write_text(original.replace('x_axis = ["iteration", "evaluations"]', 'x_axis = ["iteration"]')
                          + "trajectories = false\ncurvature = false\nprofile = false\n")
        names = sorted(p.name for p in plot_run(data.run_dir, out_dir=tmp_path))
    finally:
        config.write_text(original)
    assert names == ["convergence_iteration.png"]


def test_results_round_trip(data):
    stored = json.loads((data.run_dir / "results.json").read_text())
    assert stored["status"] == "complete" and len(stored["runs"]) == 6
    tr = data.trace_of(1)
    assert tr["iteration"].tolist() == list(range(13)) and np.all(tr["start"] == 1)
    np.testing.assert_array_equal(tr["f"], 20.0 * 0.5 ** np.arange(13))
    assert np.all(np.isnan(data.trace_of(4)["gap"]))  # hill: f* unknown -> empty field -> NaN
    assert trace_chunk({"run": [0], "problem": ["a,b"], "label": ['say "hi"'], "method": ["m"], "start": [0],
                        "iteration": [0], "f": [np.nan]}).startswith('0,"a,b","say ""hi""",m,0,0,,')


# ---------------------------------------------------------------- layout on the canvas

SIX = [("Gradient descent", "gd", 0.9, 300), ("Adam (lr 0.1)", "adam", 0.8, 200), ("L-BFGS", "lbfgs", 0.1, 12),
       ("Newton-CG", "newton-cg", 0.01, 5), ("Trust-NCG", "trust-ncg", 0.01, 6),
       ("Hessian-free (GGN)", "hessian-free", 0.05, 9)]


def _config(name, methods, plots="", axes='"iteration", "time"'):
    tables = "".join(f'[[optimizers]]\nmethod = "{m}"\nlabel = "{label}"\n' for label, m, _, _ in methods)
    return f'name = "{name}"\n[[problems]]\nname = "booth"\n{tables}[plots]\nx_axis = [{axes}]\n{plots}'


@pytest.fixture(scope="module")
def one_problem(tmp_path_factory):
    """One problem with a long label (one column of panels) and six long-labelled methods,
    as logistic_regression.toml draws."""
    label = "logistic_regression (dim=20, n_samples=1000, l2=0.001)"
    return write_run(tmp_path_factory.mktemp("one"), _config("logistic_regression_with_a_long_name", SIX,
                                                             "spectrum = true\n"),
                     [(label, BOOTH, 2)], SIX, spectra_of(label, [m[0] for m in SIX]))


@pytest.fixture(scope="module")
def many_problems(tmp_path_factory):
    """Five problem instances (two rows of panels) and seven methods."""
    methods = SIX + [("Saddle-free Newton", "saddle-free-newton", 0.02, 8)]
    problems = [(f"quadratic (cond=1e+0{i})", BOOTH, 2) for i in range(1, 4)] + [("hill", HILL, 1),
                                                                                ("hill (again)", HILL, 1)]
    config = _config("many", methods, "profile = true\ntrajectories = false\n", axes='"iteration"')
    return write_run(tmp_path_factory.mktemp("many"), config, problems, methods)


def _overlap(a, b, slack=0.5) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > slack) and (min(a.y1, b.y1) - max(a.y0, b.y0) > slack)


def layout_faults(fig) -> list[str]:
    """What of the figure's text is off the canvas or on top of something else, measured
    with the renderer: titles, legends and every legend entry inside ``fig.bbox``; legend
    entries clear of each other and of every panel's data area; panel titles clear of each
    other and of the figure title."""
    from experiments.plots.layout import fit

    fit(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    faults = []

    def inside(what, artist):
        box = artist.get_window_extent(renderer)
        if box.x0 < canvas.x0 - 0.5 or box.y0 < canvas.y0 - 0.5 or box.x1 > canvas.x1 + 0.5 or \
                box.y1 > canvas.y1 + 0.5:
            faults.append(f"{what} {artist.get_text() if hasattr(artist, 'get_text') else ''!r} off the canvas")
        return box

    panels = [ax for ax in fig.axes if ax.get_visible()]
    for ax in panels:  # labels drawn in a panel (the shares solved of a profile)
        notes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts]
        for i, (a, box_a) in enumerate(notes):
            if any(_overlap(box_a, box_b) for _, box_b in notes[i + 1:]):
                faults.append(f"label {a!r} overlaps another")
    titles = [(ax.title.get_text(), inside("panel title", ax.title)) for ax in panels if ax.get_title()]
    if fig._suptitle is not None:
        top = inside("figure title", fig._suptitle)
        titles.append(("figure title", top))
    for i, (a, box_a) in enumerate(titles):
        for b, box_b in titles[i + 1:]:
            if _overlap(box_a, box_b):
                faults.append(f"titles {a!r} and {b!r} overlap")
        for ax in panels:
            if _overlap(box_a, ax.bbox):
                faults.append(f"title {a!r} lies on a panel")
    for legend in fig.legends:
        inside("legend", legend)
        entries = [(t.get_text(), inside("legend entry", t)) for t in legend.get_texts()]
        for i, (a, box_a) in enumerate(entries):
            for b, box_b in entries[i + 1:]:
                if _overlap(box_a, box_b):
                    faults.append(f"legend entries {a!r} and {b!r} overlap")
            for ax in panels:
                if _overlap(box_a, ax.bbox):
                    faults.append(f"legend entry {a!r} lies on a panel's data area")
            for t, box_t in titles:
                if _overlap(box_a, box_t):
                    faults.append(f"legend entry {a!r} lies on the title {t!r}")
    return faults


@pytest.mark.parametrize("run", ["one_problem", "many_problems"])
def test_titles_and_legends_lie_on_the_canvas(run, request):
    from experiments.plots import run_figures

    data = request.getfixturevalue(run)
    stems = []
    for stem, fig in run_figures(data):
        stems.append(stem)
        assert layout_faults(fig) == [], stem
        legend = fig.legends[0] if fig.legends else None
        if legend is not None and not stem.startswith("trajectories"):  # every method, none cut short
            names = [t.get_text() for t in legend.get_texts()]
            assert all(label in names for label, *_ in SIX), (stem, names)
    assert "convergence_iteration" in stems and "curvature" in stems
    assert ("spectrum" in stems) == (run == "one_problem")


def test_critical_points_by_kind():
    from experiments.plots.trajectories import problem_points
    from experiments.problems import build_problem

    camel = build_problem("six_hump_camel", {}, 0)
    points = problem_points(camel, {"f_star": camel.f_star})
    assert sorted((k, len(v)) for k, v in points.items()) == [("global minimum", 2), ("local minimum", 4)]
    well = build_problem("multiwell", {}, 0)
    points = problem_points(well, {"f_star": well.f_star})
    assert sorted((k, len(v)) for k, v in points.items()) == [("global minimum", 4), ("maximum", 1),
                                                              ("saddle point", 4)]
    assert problem_points(build_problem("monkey_saddle", {}, 0), {"f_star": None}) == {"saddle point": [(0.0, 0.0)]}


# ---------------------------------------------------------------- animations

def test_frame_iterations_subsample_evenly_and_keep_the_last():
    from experiments.plots import frame_iterations

    assert frame_iterations(13).tolist() == list(range(13))
    frames = frame_iterations(501, 120)
    assert len(frames) == 120 and frames[0] == 0 and frames[-1] == 500 and np.all(np.diff(frames) > 0)
    assert np.ptp(np.diff(frames)) <= 1  # even steps
    assert frame_iterations(13, 5).tolist() == [0, 3, 6, 9, 12]


@pytest.fixture(scope="module")
def booth_animation(data):
    from experiments.plots import PathAnimation, _problem_loader
    from experiments.plots.layout import colors
    from experiments.plots.trajectories import contour_map, problem_points, recorded_paths

    meta = next(m for m in data.results["problems"] if m["label"] == "booth")
    paths, box = recorded_paths(data, meta)
    problem = _problem_loader(data)(meta)
    anim = PathAnimation({lab: [xy for xy, _ in runs] for lab, runs in paths.items()}, contour_map(problem, box, 0.0),
                         color=colors(data.results["optimizers"]), points=problem_points(problem, meta),
                         heading="booth", max_frames=5)
    return anim, paths


def test_the_balls_follow_the_recorded_paths(booth_animation):
    from matplotlib.colors import to_rgb

    anim, paths = booth_animation
    assert anim.frames.tolist() == [0, 3, 6, 9, 12]  # A runs 12 iterations, B 4: the longest decides
    images = list(anim.images())
    assert len(images) == 5
    for frame, image in enumerate(images):
        it = anim.frames[frame]
        anim._update(frame)
        for lab, runs in paths.items():
            expected = np.stack([xy[min(it, len(xy) - 1)] for xy, _ in runs])  # a stopped run stays put
            np.testing.assert_allclose(anim.positions(frame)[lab], expected)
            np.testing.assert_allclose(np.column_stack(anim.balls[lab].get_data()), expected)
        # B's balls are drawn last (on top): a ball's worth of B's colour around each centre
        # (its 1-pixel trail alone would give a handful of pixels)
        height, rgb = image.shape[0], np.asarray(to_rgb(anim.balls["B"].get_color()))
        for x, y in anim.ax.transData.transform(anim.positions(frame)["B"]):
            row, col = height - 1 - int(round(y)), int(round(x))
            window = image[row - 3:row + 4, col - 3:col + 4] / 255.0
            assert np.sum(np.all(np.abs(window - rgb) < 0.05, axis=-1)) >= 20, (frame, x, y)


def test_animations_written_as_gif(data, tmp_path):
    from PIL import Image

    from experiments.plots import _problem_loader, plot_animations

    files = plot_animations(data, _problem_loader(data), tmp_path, max_frames=5, mp4=False)
    assert [p.name for p in files] == ["animation_booth.gif", "animation_hill.gif"]
    with Image.open(files[0]) as gif:
        assert gif.n_frames == 5 and gif.is_animated
    assert not list(tmp_path.glob(".*"))


# ---------------------------------------------------------------- figures of results in memory

def _result(paths):
    """An OptimizeResult of hand-made runs (one (iterations, 2) path per start; batched when
    a list is given), f = |x - (1, 3)|^2 along the path."""
    from optimizers import OptimizeResult, Trace

    batched = isinstance(paths, list)
    paths = paths if batched else [paths]
    width = max(len(p) for p in paths)

    def pad(a):
        return np.concatenate([a, np.full((width - len(a),) + a.shape[1:], np.nan)])

    xs = np.stack([pad(p) for p in paths])
    f = np.sum((xs - np.array([1.0, 3.0])) ** 2, axis=-1)
    counts = np.tile(np.arange(width, dtype=np.float64), (len(paths), 1))
    trace = Trace(f=f, grad_norm=2 * np.sqrt(f), nfev=counts + 1, ngev=counts + 1, nhvp=counts, x=xs)
    nit = np.array([len(p) - 1 for p in paths])
    last = xs[np.arange(len(paths)), nit]
    res = OptimizeResult(x=last, fun=f[np.arange(len(paths)), nit], grad_norm=np.zeros(len(paths)), nit=nit,
                         nfev=nit + 1, ngev=nit + 1, nhvp=nit, status=np.zeros(len(paths), dtype=np.int32),
                         success=np.ones(len(paths), dtype=bool), trace=trace)
    if batched:
        return res
    return res._replace(**{k: getattr(res, k)[0] for k in ("x", "fun", "grad_norm", "nit", "nfev", "ngev", "nhvp",
                                                           "status", "success")},
                        trace=Trace(*(a[0] for a in trace)))


def test_plot_result_of_runs_in_memory():
    from experiments.plots import plot_result, result_runs

    line = np.linspace([-2.0, 0.0], [1.0, 3.0], 5)
    single = _result(line)
    batch = _result([np.linspace([0.0, 0.0], [1.0, 3.0], n) for n in (30, 60)])
    assert [len(r["f"]) for r in result_runs(batch)] == [30, 60] and result_runs(single)[0]["path"].shape == (5, 2)
    fig = plot_result({"lbfgs": single, "Adam, 2 starts": batch}, fun=lambda z: (z[0] - 1) ** 2 + (z[1] - 3) ** 2,
                      box=((-3.0, -1.0), (3.0, 4.0)), f_star=0.0, minima=[(1.0, 3.0)],
                      methods={"Adam, 2 starts": "adam"})
    assert len(fig.axes) == 3 and layout_faults(fig) == []
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names[:2] == ["lbfgs", "Adam, 2 starts"] and "global minimum" in names
    drawn = [np.column_stack(ln.get_data()) for ln in fig.axes[2].get_lines() if len(ln.get_xdata()) > 1]
    assert any(d.shape == line.shape and np.allclose(d, line) for d in drawn)
    assert plot_result(single).axes[0].get_ylabel() == "f"  # no fun, no f*: f itself, and the path on white

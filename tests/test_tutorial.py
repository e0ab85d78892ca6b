"""The tutorial (docs/tutorial/) says what its code prints, and its figures are the code's.

``python docs/tutorial/make_figures.py --out TMP --outputs TMP/outputs.json`` runs every
chapter as a reader would (its ```python blocks in order, one fresh interpreter per chapter)
and records what each block printed; it runs once for this module. Then:

- a block followed by a ```text block printed exactly that text, up to the numbers, which
  may differ by one unit in the last digit printed (rounding elsewhere); a line whose
  expected text starts with the PREFIX of a ``<!-- measured: PREFIX LO HI -->`` comment
  above the text block holds measured quantities (timings) and only has to print numbers
  within [LO, HI];
- a block without a ```text block after it prints nothing;
- every decimal number in the prose appears in the chapter's code or expected output;
- every figure the chapters reference is drawn, non-blank, and committed beside them, and
  the run draws no others.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial"
CHAPTERS = sorted(TUTORIAL.glob("[0-9][0-9]-*.md"))

PYTHON = re.compile(r"^```python\n(.*?)^```\n", re.M | re.S)
EXPECTED = re.compile(r"((?:\n|<!--[^\n]*-->\n)*)```text\n(.*?)^```\n", re.M | re.S)
MEASURED = re.compile(r"<!-- measured: (.+) (\S+) (\S+) -->")
FENCE = re.compile(r"^```.*?^```\n", re.M | re.S)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
DECIMAL = re.compile(r"\d*\.\d+(?:[eE][-+]?\d+)?")     # in prose: 0.5, 2.2361 (not a sentence's "8.")
FIGURE = re.compile(r"!\[[^\]]*\]\(([^)]+\.png)\)")


def expected_blocks(path: pathlib.Path) -> list[dict]:
    """Each python block of a chapter with the output the text gives for it (None: none)."""
    text = path.read_text()
    out = []
    for m in PYTHON.finditer(text):
        line = text.count("\n", 0, m.start(1)) + 1
        after = EXPECTED.match(text, m.end())
        measured, expected = [], None
        if after:
            expected = after.group(2)
            measured = [(p, float(lo), float(hi)) for p, lo, hi in MEASURED.findall(after.group(1))]
        out.append({"block": f"{path.name}:{line}", "expected": expected, "measured": measured})
    return out


def unit(number: str) -> float:
    """One unit in the last digit printed: 0.0819 -> 1e-4, 3.750e-04 -> 1e-7, 753 -> 1."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def compare(expected: str, actual: str, measured) -> list[str]:
    """What differs between the text's output and the printed one (empty: they agree)."""
    problems = []
    want, got = expected.rstrip("\n").split("\n"), actual.rstrip("\n").split("\n")
    if len(want) != len(got):
        return [f"{len(got)} lines printed, {len(want)} in the text:\n{actual}"]
    for w, g in zip(want, got):
        shape_w, shape_g = (re.sub(r"\s+", "", NUMBER.sub("#", s)) for s in (w, g))
        if shape_w != shape_g:
            problems.append(f"text says {w!r}, code printed {g!r}")
            continue
        numbers_w, numbers_g = NUMBER.findall(w), NUMBER.findall(g)
        bounds = next(((lo, hi) for prefix, lo, hi in measured if w.startswith(prefix)), None)
        for nw, ng in zip(numbers_w, numbers_g):
            if bounds is not None:
                ok = bounds[0] <= float(ng) <= bounds[1]
            else:
                ok = abs(float(nw) - float(ng)) <= 1.0001 * max(unit(nw), unit(ng))
            if not ok:
                problems.append(f"text says {w!r}, code printed {g!r} ({nw} vs {ng}"
                                + (f", outside the measured range {bounds})" if bounds else ")"))
                break
    return problems


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the tutorial once: the figures' folder and what every block printed."""
    out = tmp_path_factory.mktemp("tutorial")
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(TUTORIAL / "make_figures.py"), "--out", str(out / "figures"),
                           "--outputs", str(out / "outputs.json")], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"\ntutorial run: {time.perf_counter() - start:.1f} s\n{done.stdout}")
    return out / "figures", json.loads((out / "outputs.json").read_text())


def test_there_are_chapters_and_the_index_and_readme_link_them():
    assert len(CHAPTERS) >= 7
    index = (TUTORIAL / "README.md").read_text()
    for path in CHAPTERS:
        assert f"]({path.name})" in index, path.name
    assert "](docs/tutorial/README.md)" in (ROOT / "README.md").read_text()


def test_every_block_is_run(run):
    _, printed = run
    assert list(printed) == [p.name for p in CHAPTERS]
    for path in CHAPTERS:
        text = path.read_text()
        assert len(PYTHON.findall(text)) == text.count("```python"), path.name
        assert [b["block"] for b in printed[path.name]] == [b["block"] for b in expected_blocks(path)]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_printed_output_is_the_text(run, path):
    _, printed = run
    stdout = {b["block"]: b["stdout"] for b in printed[path.name]}
    problems = []
    for block in expected_blocks(path):
        actual = stdout[block["block"]]
        if block["expected"] is None:
            if actual:
                problems.append(f"{block['block']} prints but the text shows no output:\n{actual}")
            continue
        problems += [f"{block['block']}: {p}" for p in compare(block["expected"], actual, block["measured"])]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_numbers_in_the_prose_come_from_the_code(path):
    text = path.read_text()
    code = " ".join(m.group(0) for m in FENCE.finditer(text))
    known = {abs(float(n)) for n in NUMBER.findall(code)}
    prose = re.sub(r"<!--.*?-->", "", FENCE.sub("", text))
    strays = [n for n in DECIMAL.findall(prose) if float(n) not in known]
    assert not strays, f"{path.name}: decimal numbers in the text that no block shows: {strays}"


def test_figures_are_drawn_non_blank_and_committed(run):
    import matplotlib.image

    figures, _ = run
    shown = {name for path in CHAPTERS for name in FIGURE.findall(path.read_text())}
    # pictures from elsewhere in docs/ (the explorer's still, from its browser test) only exist
    stills = {name for name in shown if "/" in name}
    assert all((TUTORIAL / name).is_file() for name in stills), stills
    referenced = shown - stills
    assert referenced, "the chapters show no figure"
    assert {p.name for p in figures.glob("*.png")} == referenced
    assert {p.name for p in TUTORIAL.glob("*.png")} == referenced
    for name in sorted(referenced):
        image = matplotlib.image.imread(figures / name)[..., :3]
        assert image.shape[0] >= 200 and image.shape[1] >= 300, (name, image.shape)
        assert image.std() > 0.05, f"{name} is blank"
        assert (image.min(axis=-1) < 0.9).mean() > 0.02, f"{name} is nearly all white"


def test_compare_allows_one_unit_of_rounding_and_measured_ranges():
    assert compare("s = [0.09   0.2447]\n", "s = [0.09 0.2448]\n", []) == []
    assert compare("x: 0.2447\n", "x: 0.2449\n", []) != []
    assert compare("gd: 753 steps\n", "gd: 760 steps\n", []) != []
    assert compare("a minimum\n", "a saddle\n", []) != []
    assert compare("HVP / gradient: 2.6\n", "HVP / gradient: 9.3\n", [("HVP / gradient", 0.5, 20.0)]) == []
    assert compare("HVP / gradient: 2.6\n", "HVP / gradient: 31.0\n", [("HVP / gradient", 0.5, 20.0)]) != []

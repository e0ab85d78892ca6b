"""``curvax explore``: the answers against analytic truth, every refusal of the HTTP API, the
command's bad input, and the page in a real browser (headless Chromium from the system's
packages, driven by selenium; skipped with the reason where either is missing).

One server (port 0, in a thread) serves the whole module, so each (problem, method) is
compiled once. The still in the docs is this test's last screenshot:
``CURVAX_EXPLORE_STILL=docs/images/explore.png pytest tests/experiments/test_explore.py -k browser``."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import time
import urllib.request

import numpy as np
import pytest

from experiments.cli import main
from experiments.explore import ExplorerServer, RequestError, page_url
from experiments.plots.colors import METHOD_COLORS

METHODS = ["gd", "momentum", "newton-cg"]


@pytest.fixture(scope="module")
def server():
    srv = ExplorerServer(0)
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, method, path, body=None, *, raw=None, headers=None):
    """(status, decoded JSON or bytes) of one request to the server."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=120)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    kind = resp.getheader("Content-Type", "")
    return resp.status, json.loads(payload) if kind.startswith("application/json") else payload


# ------------------------------------------------------------------ answers


def test_the_compass_and_the_curvature_on_the_hill(server):
    # hill: z = 4 - (x^2 + y^2): gradient (-2x, -2y) points uphill to the peak, Hessian -2 I,
    # a dome, and the Newton step lands on the peak (0, 0) (the model is the function).
    got = server.explorer.point("hill", [1.0, -0.5])
    np.testing.assert_allclose(got["f"], 4 - 1.25, rtol=1e-14)
    np.testing.assert_allclose(got["grad"], [-2.0, 1.0], rtol=1e-14)
    np.testing.assert_allclose(got["hessian"], -2 * np.eye(2), atol=1e-14)
    np.testing.assert_allclose(got["eigenvalues"], [-2.0, -2.0], atol=1e-14)
    assert got["shape"] == "dome" and got["label"] == "maximum"
    np.testing.assert_allclose(got["newton"], [0.0, 0.0], atol=1e-14)


@pytest.mark.parametrize("problem, x, shape", [("quadratic_saddle", [0.3, 0.2], "saddle"),
                                               ("booth", [0.0, 0.0], "bowl"),
                                               ("monkey_saddle", [0.0, 0.0], "flat")])
def test_the_point_is_classified_as_the_second_order_test_says(server, problem, x, shape):
    got = server.explorer.point(problem, x)
    assert got["shape"] == shape
    h = np.asarray(got["hessian"])
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(h)), got["eigenvalues"], atol=1e-12)


def test_the_balls_follow_the_methods_real_iterates(server):
    import jax
    import jax.numpy as jnp

    import optimizers
    from experiments import problems

    start = [-2.0, 1.5]
    got = {r["method"]: r for r in server.explorer.run("himmelblau", start, METHODS, 0.01, 0.9)["runs"]}
    p = problems.get("himmelblau")
    ref = optimizers.minimize(p.fun, jnp.asarray(start), "newton-cg", gtol=1e-8, max_iter=300, record_path=True)
    run = got["newton-cg"]
    assert run["nit"] == int(ref.nit) and len(run["x"]) == run["nit"] + 1 == len(run["f"])
    np.testing.assert_allclose(run["x"], np.asarray(ref.trace.x[: int(ref.nit) + 1]), rtol=1e-10, atol=1e-12)
    assert run["x"][0] == start and run["status"] == 0
    # the first-order controls are traced arguments: another learning rate, another path, no compile
    compiled = dict(server.explorer._get("himmelblau").runs)
    slow = server.explorer.run("himmelblau", start, ["gd"], 0.001, 0.9)["runs"][0]
    assert server.explorer._get("himmelblau").runs == compiled
    gradient = np.asarray(jax.grad(p.fun)(jnp.asarray(start)))
    np.testing.assert_allclose(slow["x"][1], np.asarray(start) - 0.001 * gradient, rtol=1e-12)
    assert slow["x"][1] != got["gd"]["x"][1]


def test_the_catalog_lists_2d_problems_and_coloured_methods(server):
    status, got = request(server, "GET", "/api/problems")
    assert status == 200
    names = [p["name"] for p in got["problems"]]
    assert {"himmelblau", "hill", "quadratic_saddle", "rosenbrock"} <= set(names)
    assert "extended_rosenbrock" not in names
    assert {m["name"]: m["color"] for m in got["methods"]} == {m: METHOD_COLORS[m] for m in METHOD_COLORS}
    hill = next(p for p in got["problems"] if p["name"] == "hill")
    assert hill["maxima"] and "gauss-newton" not in hill["methods"]
    rosen = next(p for p in got["problems"] if p["name"] == "rosenbrock")
    assert "gauss-newton" in rosen["methods"]  # it has a residual


def test_the_surface_is_the_function_on_the_grid(server):
    status, got = request(server, "GET", "/api/surface?problem=booth&n=32")
    assert status == 200 and got["n"] == 32 and len(got["values"]) == 32 * 32
    xs, ys = np.linspace(got["lo"][0], got["hi"][0], 32), np.linspace(got["lo"][1], got["hi"][1], 32)
    x, y = xs[5], ys[20]  # row j = y index
    np.testing.assert_allclose(got["values"][20 * 32 + 5], (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2, rtol=1e-12)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("verb, path, body, status, words", [
    ("GET", "/nope", None, 404, "no such page"),
    ("GET", "/static/../api.py", None, 404, "no such page"),
    ("GET", "/api/run", None, 405, "takes POST"),
    ("POST", "/api/problems", {}, 405, "takes GET"),
    ("GET", "/api/surface?problem=nope", None, 404, "unknown problem 'nope'"),
    ("GET", "/api/surface?problem=extended_rosenbrock", None, 400, "not 2-D"),
    ("GET", "/api/surface?problem=booth&n=5000", None, 400, "'n' must be an integer in [32, 256]"),
    ("GET", "/api/surface?problem=booth&evil=1", None, 400, "unknown field(s) ['evil']"),
    ("POST", "/api/run", {"problem": "booth", "start": [0, 0]}, 400, "missing field(s) ['methods']"),
    ("POST", "/api/run", {"problem": "booth", "start": [99, 0], "methods": ["gd"]}, 400, "outside the box"),
    ("POST", "/api/run", {"problem": "booth", "start": [0, "1"], "methods": ["gd"]}, 400, "must be a number"),
    ("POST", "/api/run", {"problem": "booth", "start": [0], "methods": ["gd"]}, 400, "list of 2 numbers"),
    ("POST", "/api/run", {"problem": "booth", "start": [0, 0], "methods": ["__import__('os')"]}, 400,
     "unknown method"),
    ("POST", "/api/run", {"problem": "hill", "start": [0, 0], "methods": ["gauss-newton"]}, 400,
     "needs a problem with a residual"),
    ("POST", "/api/run", {"problem": "booth", "start": [0, 0], "methods": ["gd"], "learning_rate": -1}, 400,
     "'learning_rate' must be a finite number"),
    ("POST", "/api/point", {"problem": 3, "x": [0, 0]}, 400, "'problem' must be a string"),
])
def test_bad_requests_get_a_4xx_with_a_message(server, verb, path, body, status, words):
    got_status, got = request(server, verb, path, body)
    assert got_status == status, got
    assert words in got["error"]


@pytest.mark.parametrize("raw, words", [(b"{not json", "not JSON"), (b"[1, 2]", "must be a JSON object"),
                                        (b"\xff\xfe", "not JSON")])
def test_malformed_bodies_are_refused(server, raw, words):
    status, got = request(server, "POST", "/api/point", raw=raw)
    assert status == 400 and words in got["error"]


def test_a_huge_body_and_a_foreign_host_are_refused(server):
    status, got = request(server, "POST", "/api/point", raw=b" " * 70_000)
    assert status == 413 and "larger than" in got["error"]
    status, got = request(server, "GET", "/api/problems", headers={"Host": "evil.example:80"})
    assert status == 403 and "evil.example" in got["error"]


def test_the_page_and_its_files_are_served_offline(server):
    status, page = request(server, "GET", "/")
    assert status == 200 and b"/static/explorer.js" in page
    for name in ("explorer.js", "explorer.css"):
        status, data = request(server, "GET", f"/static/{name}")
        assert status == 200 and len(data) > 1000
    text = page + request(server, "GET", "/static/explorer.js")[1]
    assert b"http://" not in text and b"https://" not in text  # no CDN, nothing fetched from elsewhere


def test_api_errors_are_plain_request_errors():
    err = RequestError("x", 404)
    assert isinstance(err, ValueError) and err.status == 404


# ------------------------------------------------------------------ the command


@pytest.mark.parametrize("argv, words", [
    (["explore", "nope"], "unknown problem 'nope'"),
    (["explore", "extended_rosenbrock"], "not 2-D"),
    (["explore", "booth", "--methods", "gd,sgdd"], "unknown method 'sgdd'"),
])
def test_the_command_refuses_bad_input_in_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_a_port_in_use_is_named_with_one_to_try(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["explore", "booth", "--port", str(port), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"port {port} is in use" in err and "try --port " in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------ in a real browser


def _browser():
    """A headless Chromium (system packages) driven by selenium, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra has it)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip("no Chromium and ChromeDriver here (Debian: apt-get install chromium chromium-driver)")
    options = Options()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,900", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


def _wait(predicate, seconds=120.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the page")


def _screenshot(driver):
    import io

    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(driver.get_screenshot_as_png()), format="png")[..., :3]


def test_the_page_in_a_real_browser(server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        driver.get(page_url(server, "himmelblau", METHODS))
        state = lambda: driver.find_element(By.ID, "status").get_attribute("data-state")  # noqa: E731
        _wait(lambda: state() in ("ready", "error"))
        assert state() == "ready", driver.find_element(By.ID, "status").text
        canvas = driver.find_element(By.ID, "surface")
        box = canvas.rect
        shot = _screenshot(driver)
        top, left = int(box["y"]), int(box["x"])
        surface = shot[top + 5:top + int(box["height"]) - 5, left + 5:left + int(box["width"]) - 5]
        assert surface.std() > 0.08, "the surface is blank"
        assert len(np.unique((surface * 16).astype(int).reshape(-1, 3), axis=0)) > 20, "the surface has no shading"

        overlay = driver.find_element(By.ID, "overlay")
        ActionChains(driver).move_to_element_with_offset(overlay, 60, -100).perform()
        text = _wait(lambda: driver.find_element(By.ID, "point").text)
        assert "gradient" in text and "Hessian eigenvalues" in text

        ActionChains(driver).move_to_element_with_offset(overlay, -120, 130).click().perform()
        # the table is redrawn every frame: read it in one script call
        table = lambda: driver.execute_script(  # noqa: E731
            "return [...document.querySelectorAll('#readout tbody tr')].map("
            "r => [r.dataset.method, r.querySelector('.k').textContent, r.querySelector('.f').textContent]);")
        rows = _wait(table)
        assert [r[0] for r in rows] == METHODS
        first = table()
        time.sleep(0.7)
        moved = table()
        assert moved != first, "the readouts do not change"
        assert _wait(lambda: state() == "done", 60)
        runs = driver.execute_script(
            "return window.curvaxExplorer.runs.map(r => [r.method, r.nit, r.x[r.nit], r.canvas]);")
        problem = driver.execute_script("return window.curvaxExplorer.problem;")
        shot = _screenshot(driver)
        width, height = (int(canvas.get_attribute(k)) for k in ("width", "height"))  # drawing pixels
        for method, nit, (x, y), (px, py) in runs:
            # the ball ends on the method's last iterate, drawn in the method's colour
            want = ((x - problem["lo"][0]) / (problem["hi"][0] - problem["lo"][0]) * width,
                    height - (y - problem["lo"][1]) / (problem["hi"][1] - problem["lo"][1]) * height)
            np.testing.assert_allclose((px, py), want, atol=1e-6)
        ball = runs[-1]  # newton-cg's ball, drawn last, on top
        border = (box["width"] - width) / 2  # the canvas's CSS border
        colour = shot[int(box["y"] + border + ball[3][1]), int(box["x"] + border + ball[3][0])]
        hexed = METHOD_COLORS[ball[0]].lstrip("#")
        np.testing.assert_allclose(colour, [int(hexed[i:i + 2], 16) / 255 for i in (0, 2, 4)], atol=0.08)
        assert "start=" in driver.current_url and "methods=gd%2Cmomentum%2Cnewton-cg" in driver.current_url
        still = os.environ.get("CURVAX_EXPLORE_STILL")  # where docs/images/explore.png comes from
        if still:
            driver.save_screenshot(still)
    finally:
        driver.quit()


def test_the_server_answers_a_plain_client(server):
    with urllib.request.urlopen(server.url + "api/problems", timeout=60) as resp:
        assert resp.status == 200 and json.loads(resp.read())["max_iter"] > 0


def test_the_explorer_computes_in_float64_whatever_the_process_had():
    import subprocess
    import sys

    code = ("import jax; from experiments.explore import Explorer; e = Explorer(); "
            "print(jax.config.jax_enable_x64, e.point('hill', [1.0, 0.5])['f'])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         env={**os.environ, "JAX_ENABLE_X64": "0"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["True", "2.75"] and "truncated to dtype float32" not in run.stderr

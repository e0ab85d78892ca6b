"""The explorer's local web server: one page and a JSON API, on 127.0.0.1 only.

``GET /`` is the page, ``GET /static/<file>`` its script and style (served from this
package: the page works offline, with no CDN). The API (:mod:`experiments.explore.api`):

- ``GET /api/problems``
- ``GET /api/surface?problem=NAME&n=128``
- ``POST /api/point`` ``{"problem": ..., "x": [x, y]}``
- ``POST /api/prepare`` ``{"problem": ..., "methods": [...]}``
- ``POST /api/run`` ``{"problem": ..., "start": [x, y], "methods": [...], "learning_rate": ..., "momentum": ...}``

Every refusal is a 4xx with ``{"error": "<one sentence>"}``: an unknown path (404), a
method the path does not take (405), a body that is not a JSON object or too large (400,
413), a request whose Host header is not this server (403: a page on another site cannot
reach it through DNS rebinding), and what the API itself refuses.
"""

from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from experiments.explore.api import Explorer, RequestError

__all__ = ["ExplorerServer", "MAX_BODY"]

MAX_BODY = 64 * 1024
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png"}


def _static_files() -> dict[str, bytes]:
    """The page's files by name, read once from the package (a fixed table: a request can
    never name a path outside it)."""
    folder = resources.files("experiments.explore") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file() and f.name[0] != "."}


class ExplorerServer(ThreadingHTTPServer):
    """An HTTP server bound to ``127.0.0.1:port`` (port 0: any free one) answering with
    ``explorer`` (a :class:`~experiments.explore.api.Explorer`)."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, port: int = 0, explorer: Explorer | None = None, *, host: str = "127.0.0.1",
                 quiet: bool = True):
        self.explorer = explorer or Explorer()
        self.files = _static_files()
        self.quiet = quiet
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> threading.Thread:
        """Serve in a daemon thread (for tests and notebooks); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="curvax-explore", daemon=True)
        thread.start()
        return thread

    def server_close(self) -> None:
        super().server_close()
        self.explorer.close()


class _Handler(BaseHTTPRequestHandler):
    server: ExplorerServer
    protocol_version = "HTTP/1.1"
    server_version = "curvax-explore"

    # -- routing ------------------------------------------------------------

    def do_GET(self):  # noqa: N802 (the http.server protocol)
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self._answer("POST")

    def _answer(self, verb: str) -> None:
        try:
            self._check_host()
            url = urlsplit(self.path)
            route = _ROUTES.get(url.path)
            if route is None:
                static = url.path.removeprefix("/static/")
                if verb == "GET" and url.path == "/":
                    return self._send(HTTPStatus.OK, self.server.files["index.html"], _TYPES[".html"])
                if verb == "GET" and url.path.startswith("/static/") and static in self.server.files:
                    kind = _TYPES.get(static[static.rfind("."):], "application/octet-stream")
                    return self._send(HTTPStatus.OK, self.server.files[static], kind)
                raise RequestError(f"no such page: {url.path}", 404)
            expected, call = route
            if verb != expected:
                raise RequestError(f"{url.path} takes {expected}, not {verb}", 405)
            if verb == "GET":
                query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                answer = call(self.server.explorer, query)
            else:
                answer = call(self.server.explorer, self._body())
            self._json(HTTPStatus.OK, answer)
        except RequestError as err:
            self._json(err.status, {"error": str(err)})
        except Exception as err:  # a bug: say so, keep serving
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(err).__name__}: {err}"})

    def _check_host(self) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise RequestError(f"requests must be addressed to this machine, not {host!r}", 403)

    def _body(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError("a POST needs a Content-Length header and a JSON object body", 411)
        if int(length) > MAX_BODY:
            self.close_connection = True
            raise RequestError(f"request body of {length} bytes is larger than {MAX_BODY}", 413)
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RequestError(f"the body is not JSON ({err})") from None
        if not isinstance(body, dict):
            raise RequestError(f"the body must be a JSON object, got {type(body).__name__}")
        return body

    # -- answering ----------------------------------------------------------

    def _json(self, status, payload) -> None:
        self._send(status, json.dumps(payload, allow_nan=False).encode("utf-8"), "application/json")

    def _send(self, status, data: bytes, kind: str) -> None:
        self.send_response(int(status))
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 (the http.server signature)
        if not self.server.quiet:
            sys.stderr.write("curvax explore: " + format % args + "\n")


def _fields(body: dict, required: tuple, optional: tuple = ()) -> dict:
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise RequestError(f"unknown field(s) {unknown}; expected {list(required + optional)}")
    missing = [k for k in required if k not in body]
    if missing:
        raise RequestError(f"missing field(s) {missing}")
    return body


_ROUTES = {
    "/api/problems": ("GET", lambda e, q: e.problems()),
    "/api/surface": ("GET", lambda e, q: e.surface(**_fields(q, ("problem",), ("n",)))),
    "/api/point": ("POST", lambda e, b: e.point(**_fields(b, ("problem", "x")))),
    "/api/prepare": ("POST", lambda e, b: e.prepare(**_fields(b, ("problem", "methods")))),
    "/api/run": ("POST", lambda e, b: e.run(**_fields(b, ("problem", "start", "methods"),
                                                     ("learning_rate", "momentum")))),
}

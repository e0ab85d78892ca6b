"""The ``curvax explore`` subcommand: arguments, checks that need no JAX, and the serving
loop. Bad input is one line on stderr and exit status 2: an unknown problem or method, a
problem that is not 2-D, a port in use (with a free one to try)."""

from __future__ import annotations

import errno
import os
import sys
import threading

__all__ = ["add_parser", "explore"]

DEFAULT_PORT = 8765


def _port(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is in 0..65535 (0: any free one), got {value}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser(
        "explore", help="a web page: the surface, gradient and curvature of a 2-D problem, balls that roll",
        description="Serve a local page (127.0.0.1 only, works offline) showing the surface of a 2-D problem; "
                    "under the mouse the gradient arrow, the Hessian's eigen-directions, the point's "
                    "classification and the quadratic Taylor model with the Newton step; a click drops a ball "
                    "per method that follows that method's real iterates. Stop with Ctrl-C.",
        epilog="Example: curvax explore himmelblau --methods gd,momentum,newton-cg")
    p.add_argument("problem", nargs="?", default="himmelblau",
                   help="a 2-D problem (curvax list problems --tag 2d); default himmelblau")
    p.add_argument("--methods", default=None,
                   help="comma-separated methods to drop balls for (default: gd, momentum, adam, lbfgs, "
                        "newton-cg, trust-ncg, saddle-free-newton)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser; print the address only")


def _check(problem: str, methods: list[str]) -> str | None:
    """Why the arguments cannot be served, from the catalog (no JAX), else None."""
    from experiments import catalog

    data = catalog.load()
    flat = [p["name"] for p in data["problems"] if p["dim"] == 2 and "2d" in p["tags"]]
    names = [p["name"] for p in data["problems"]]
    if problem not in flat:
        if problem in names:
            return f"problem {problem!r} is not 2-D; the explorer draws: {', '.join(flat)}"
        return f"unknown problem {problem!r}; 2-D problems: {', '.join(flat)}"
    known = [m["name"] for m in data["methods"]]
    for m in methods:
        if m not in known:
            return f"unknown method {m!r}; known methods: {', '.join(known)}"
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _has_display() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def explore(args, err) -> int:
    """Run ``curvax explore``; ``err`` prints one error line. Returns the exit status."""
    from experiments.explore.api import DEFAULT_METHODS

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(DEFAULT_METHODS)
    reason = _check(args.problem, methods) if methods else "--methods names no method"
    if reason is not None:
        err(reason)
        return 2

    from experiments import compile_cache
    from experiments.explore import Explorer, ExplorerServer, RequestError, page_url

    if not compile_cache.off_by_environment():
        compile_cache.enable()
    try:
        server = ExplorerServer(args.port, Explorer(), quiet=True)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            err(f"port {args.port} is in use (another curvax explore?); try --port {_free_port()}")
        else:
            err(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}")
        return 2
    url = page_url(server, args.problem, methods)

    def warm():  # compile the first problem's balls while the browser starts
        try:
            server.explorer.prepare(args.problem, methods)
        except RequestError as e:
            print(f"curvax explore: {e}", file=sys.stderr)

    threading.Thread(target=warm, name="curvax-explore-warm", daemon=True).start()
    print(f"curvax explore: serving {url} (Ctrl-C stops)", flush=True)
    if not args.no_browser:
        import webbrowser

        if not _has_display() or not webbrowser.open(url):
            print(f"curvax explore: no display to open a browser on; open {url} in a browser "
                  "(--no-browser skips this)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("curvax explore: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0

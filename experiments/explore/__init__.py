"""``curvax explore``: a local web page over a 2-D problem's surface, with the gradient
compass, the curvature and the Taylor model under the mouse, and a ball per method rolling
along its real iterates from where you click.

``serve(problem, methods, port=0, open_browser=True)`` starts the server
(:class:`~experiments.explore.server.ExplorerServer`, 127.0.0.1 only) and blocks until
Ctrl-C; from a notebook, ``ExplorerServer(port).start()`` serves in a thread instead.
"""

from __future__ import annotations

from experiments.explore.api import DEFAULT_METHODS, Explorer, RequestError
from experiments.explore.server import ExplorerServer

__all__ = ["DEFAULT_METHODS", "Explorer", "ExplorerServer", "RequestError", "page_url"]


def page_url(server: ExplorerServer, problem: str | None = None, methods=None) -> str:
    """The page's address, opening on ``problem`` with ``methods`` selected."""
    from urllib.parse import urlencode

    query = {k: v for k, v in (("problem", problem), ("methods", ",".join(methods or ()))) if v}
    return server.url + ("?" + urlencode(query) if query else "")

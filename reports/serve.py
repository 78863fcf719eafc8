"""`partnerpulse reports serve`: the published pages over HTTP on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from reports import CONTENT_SECURITY_POLICY


class _Handler(http.server.SimpleHTTPRequestHandler):
    # The pages are the only thing served: no listing of the folder's publications.
    def list_directory(self, path):  # noqa: ANN001 (the stdlib's signature)
        self.send_error(404, "no listing")
        return None

    def end_headers(self) -> None:
        # Pages that request nothing: say so to the browser as well (the pages carry it too).
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


PORT = 8300  # `partnerpulse reports serve`'s default


def reports_server(reports_dir: Path, port: int = PORT) -> http.server.ThreadingHTTPServer:
    """A server of `reports_dir` on 127.0.0.1:`port` (0: any free port), not yet serving.

    Each request follows the `reports_dir` link anew, so a new publication is served as soon
    as it is switched in, without a restart."""
    handler = functools.partial(_Handler, directory=str(reports_dir))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)

"""A scripted HTTP server on loopback for the HTTP-layer unit tests.

Each request pops the next scripted reply for its path (or gets the path's default);
every request is recorded. A reply may be a callable of the recorded request.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)  # JSON-able, or bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # the fault "slow server" (not synchronisation)
    content_length: int | None = None  # announce more bytes than sent: a cut body


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


class StubServer:
    def __init__(self) -> None:
        self.replies: dict[str, deque] = defaultdict(deque)
        self.defaults: dict[str, Any] = {}
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                stub.seen.append(seen)
                queue = stub.replies.get(parts.path)
                reply = queue.popleft() if queue else stub.defaults.get(parts.path, Reply(404))
                if callable(reply):
                    reply = reply(seen)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                data = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                announced = reply.content_length if reply.content_length is not None else len(data)
                self.send_header("Content-Length", str(announced))
                if reply.content_length is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _handle  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def add(self, path: str, *replies: Reply | Any) -> None:
        self.replies[path].extend(replies)

    def default(self, path: str, reply: Reply | Any) -> None:
        self.defaults[path] = reply

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

"""The live view's HTTP server: the page, its live updates, its data, and ``/metrics``.

Routes: ``/`` (the page), ``/static/<asset>`` (its script and style, shipped in the package),
``/events`` (Server-Sent Events: the state as JSON at every change), ``/api/state`` (the same
JSON once) and ``/metrics`` (Prometheus text). The standard library's ``ThreadingHTTPServer``
in a daemon thread is enough: a handful of readers at most, each change a few kB; an async
framework would be a dependency for nothing.

Safety: with a token every route but the static assets (code, no data) needs it, as
``?token=`` or ``Authorization: Bearer``; without one (loopback only) the ``Host`` header
must name the loopback, so a page elsewhere cannot read the run through DNS rebinding.
"""

from __future__ import annotations

import errno
import hmac
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from squall.errors import ConfigError
from squall.ui.collector import exposition
from squall.ui.state import LiveState

ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
KEEPALIVE_S = 10.0  # an SSE comment this often keeps proxies from closing an idle stream
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


class UIServer(ThreadingHTTPServer):
    daemon_threads = True  # open event streams must not keep the process alive

    def __init__(self, host: str, port: int, state: LiveState, token: str | None) -> None:
        self.state = state
        self.token = token
        self.stopping = threading.Event()
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"--port {port}: {host}:{port} is already in use; choose another port "
                    "with --port N (--port 0 picks a free one)"
                ) from None
            raise ConfigError(
                f"--ui-host {host!r} --port {port}: cannot listen there: {exc.strerror or exc}"
            ) from None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self.thread = threading.Thread(target=self.serve_forever, name="squall-ui", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: UIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request line per poll would bury the run's own output

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        if url.path.startswith("/static/"):
            self._asset(url.path.removeprefix("/static/"))
            return
        if url.path == "/favicon.ico":  # browsers ask unprompted: no icon, and no 404 logged
            self._send(HTTPStatus.NO_CONTENT, "image/x-icon", b"")
            return
        if not self._allowed(parse_qs(url.query).get("token", [""])[0]):
            return
        state = self.server.state
        if url.path == "/":
            page = resources.files("squall.ui").joinpath("static/index.html").read_bytes()
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", page)
        elif url.path == "/api/state":
            body = json.dumps(state.view(), allow_nan=False).encode()
            self._send(HTTPStatus.OK, "application/json", body)
        elif url.path == "/metrics":
            self._send(HTTPStatus.OK, "text/plain; version=0.0.4; charset=utf-8", exposition(state))
        elif url.path == "/events":
            self._events()
        else:
            self._send(
                HTTPStatus.NOT_FOUND,
                "text/plain",
                f"no page {url.path!r}; try / /events /api/state /metrics\n".encode(),
            )

    def _allowed(self, query_token: str) -> bool:
        token = self.server.token
        if token is None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            if host in LOOPBACK_NAMES:
                return True
            self._send(
                HTTPStatus.FORBIDDEN,
                "text/plain",
                f"Host {host!r} is not the loopback; the live view answers only there\n".encode(),
            )
            return False
        auth = self.headers.get("Authorization") or ""
        given = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else query_token
        if hmac.compare_digest(given.encode(), token.encode()):
            return True
        self._send(
            HTTPStatus.UNAUTHORIZED,
            "text/plain",
            b"this live view needs its token: ?token=... or Authorization: Bearer ...\n",
        )
        return False

    def _asset(self, name: str) -> None:
        kind = ASSETS.get(name)
        if kind is None:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", f"no asset {name!r}\n".encode())
            return
        data = resources.files("squall.ui").joinpath(f"static/{name}").read_bytes()
        self._send(HTTPStatus.OK, f"{kind}; charset=utf-8", data)

    def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        self.end_headers()
        self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'self'")

    def _events(self) -> None:
        """One SSE stream: the state now, then again at every change, until the reader goes."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self._common_headers()
        self.close_connection = True  # no Content-Length: the stream ends with the connection
        self.end_headers()
        state, stopping = self.server.state, self.server.stopping
        version = -1
        try:
            while not stopping.is_set():
                now = state.wait_change(version, KEEPALIVE_S)
                if now == version:
                    self.wfile.write(b": keepalive\n\n")
                else:
                    version = now
                    data = json.dumps(state.view(), allow_nan=False)
                    self.wfile.write(f"id: {version}\nevent: state\ndata: {data}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the page was closed

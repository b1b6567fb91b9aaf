"""The browser harness itself (tests/ui/browser.py) against a tiny page served here.

The page is what the run's live page will be in small: a counter that Server-Sent Events
(``EventSource``) update from a ThreadingHTTPServer on 127.0.0.1, so these tests show that headless
chromium loads it, runs its script, keeps the event stream open and re-renders as events come.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ui.browser import (
    REPO,
    Browser,
    BrowserError,
    JavaScriptError,
    artifact_path,
    live_group_members,
)

pytestmark = pytest.mark.browser

COUNTER_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>harness</title><link rel="icon" href="data:,"></head>
<body>
<h1>events: <span id="count">0</span></h1>
<script>
  const source = new EventSource("/events");
  source.onmessage = (e) => { document.getElementById("count").textContent = e.data; };
</script>
</body></html>
"""

THROWING_PAGE = b"""<!doctype html>
<html><head><title>throws</title><link rel="icon" href="data:,"></head>
<body><script>
  console.error("logged", "failure");
  setTimeout(() => { throw new Error("boom from the page"); }, 0);
  setTimeout(() => { window.done = true; }, 50);
</script></body></html>
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stopping: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path == "/events":
            self._events()
            return
        body = {"/": COUNTER_PAGE, "/throws": THROWING_PAGE}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        """An SSE stream: 1, 2, 3, ... every 50 ms until the client or the server goes."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        n = 0
        try:
            while not self.server.stopping.wait(0.05):
                n += 1
                self.wfile.write(f"data: {n}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    """The base URL of the test pages, on 127.0.0.1 and a free port."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stopping.set()  # ends the event streams first: server_close joins their threads
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _count(browser: Browser) -> int:
    return int(browser.evaluate("document.getElementById('count').textContent"))


def test_page_loads_and_its_sse_counter_rises(browser: Browser, site: str) -> None:
    started = time.monotonic()
    browser.goto(f"{site}/", timeout_s=10)
    assert browser.evaluate("document.title") == "harness"
    assert browser.evaluate("({n: 1, list: [true, null, 'x']})") == {
        "n": 1,
        "list": [True, None, "x"],
    }

    browser.wait_for("Number(document.getElementById('count').textContent) > 0", timeout_s=10)
    first = _count(browser)
    time.sleep(0.5)
    second = _count(browser)
    assert second > first, f"the counter did not rise: {first} then {second}"
    assert browser.evaluate("source.readyState") == 1  # EventSource.OPEN: one stream, no reconnects
    assert browser.console_errors() == []
    assert time.monotonic() - started < 10


def test_wait_for_times_out_naming_the_predicate_and_its_last_value(
    browser: Browser, site: str
) -> None:
    browser.goto(f"{site}/")
    predicate = "document.title === 'never'"
    started = time.monotonic()
    with pytest.raises(AssertionError) as failure:
        browser.wait_for(predicate, timeout_s=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    message = str(failure.value)
    assert "timed out after 0.5 s" in message
    assert repr(predicate) in message
    assert "last returned False" in message

    # a predicate that throws until the end: the last value is the exception, named
    with pytest.raises(AssertionError, match=r"last returned JavaScriptError.*noSuchThing"):
        browser.wait_for("noSuchThing.ready", timeout_s=0.3)
    # and wait_for returns the truthy value
    assert browser.wait_for("document.getElementById('count') && 'found'") == "found"


def test_screenshot_is_a_non_empty_png_of_the_viewport(
    browser: Browser, site: str, tmp_path: Path
) -> None:
    browser.goto(f"{site}/")
    browser.wait_for("Number(document.getElementById('count').textContent) > 0")
    path = browser.screenshot(tmp_path / "shots" / "counter.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == browser.viewport == (1280, 800)
    assert len(data) > 1000


def test_console_errors_report_a_thrown_error_and_console_error(
    browser: Browser, site: str
) -> None:
    browser.goto(f"{site}/throws")
    browser.wait_for("window.done === true")
    errors = browser.console_errors()
    assert "[console.error] logged failure" in errors
    thrown = [e for e in errors if e.startswith("[exception]")]
    assert len(thrown) == 1, errors
    assert "Uncaught Error: boom from the page" in thrown[0]
    assert f"{site}/throws" in thrown[0]  # where it was thrown


def test_evaluate_raises_what_the_page_threw(browser: Browser, site: str) -> None:
    browser.goto(f"{site}/")
    with pytest.raises(JavaScriptError, match="ReferenceError: missing is not defined"):
        browser.evaluate("missing.value")
    assert browser.evaluate("Promise.resolve(41).then((x) => x + 1)") == 42
    assert browser.evaluate("undefined") is None
    # errors of evaluate are the caller's, not the page's
    assert browser.console_errors() == []


def test_goto_a_dead_address_fails_with_the_network_error(browser: Browser) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()  # a port nobody listens on
    with pytest.raises(AssertionError, match="net::ERR_CONNECTION_REFUSED"):
        browser.goto(f"http://127.0.0.1:{port}/", timeout_s=10)


def test_close_stops_the_browser_process_and_removes_its_profile() -> None:
    """Even when the test fails inside: the fixture is this context manager."""
    launched = Browser.launch()
    browser = launched.browser
    pid, profile = browser.pid, browser.profile
    assert pid is not None and profile.is_dir()
    assert len(live_group_members(pid)) > 1  # the browser and its children, in its group
    with pytest.raises(RuntimeError, match="the test failed"):
        with launched:
            raise RuntimeError("the test failed")
    assert not Path(f"/proc/{pid}").exists()  # reaped: not even a zombie
    assert live_group_members(pid) == []  # nor one of its children (renderer, zygote, gpu)
    assert not profile.exists()
    browser.close()  # idempotent


def test_a_browser_that_cannot_start_fails_with_its_exit_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    before = set(Path(tempfile.gettempdir()).glob("squall-chromium-*"))
    with pytest.raises(BrowserError, match=r"(?s)exited with 3.*cannot open display"):
        Browser(binary=fake)
    assert set(Path(tempfile.gettempdir()).glob("squall-chromium-*")) == before


def test_a_killed_test_runs_browser_is_stopped_and_its_profile_removed(tmp_path: Path) -> None:
    """A pytest killed mid-test leaves chromium running: the next Browser stops it."""
    code = (
        "import os, time\n"
        "from tests.ui.browser import Browser\n"
        "b = Browser()\n"
        "print(b.pid, b.profile, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        pid_text, profile_text = owner.stdout.readline().split()
    finally:
        owner.kill()  # SIGKILL: no teardown runs
        owner.wait()
    orphan, profile = int(pid_text), Path(profile_text)
    assert live_group_members(orphan) and profile.is_dir()
    with Browser.launch():
        pass
    deadline = time.monotonic() + 5
    while live_group_members(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_group_members(orphan) == []
    assert not profile.exists()


LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


def test_devtools_port_is_bound_to_loopback_only(browser: Browser) -> None:
    """Nothing but 127.0.0.1 (or ::1) listens on the DevTools port (/proc/net/tcp{,6})."""
    bound = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:] if Path(table).exists() else []:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state == "0A" and int(port, 16) == browser.port:  # 0A: LISTEN
                bound.append(address)
    assert bound, f"nothing listens on the DevTools port {browser.port}"
    assert set(bound) <= LOOPBACK, bound


def test_artifact_path_is_under_the_artifact_dir() -> None:
    path = artifact_path("harness-check.png")
    assert path.parent.is_dir()
    assert path.name == "harness-check.png"

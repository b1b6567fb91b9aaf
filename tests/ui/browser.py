"""A real browser for the UI tests: Debian's headless chromium, driven over the DevTools protocol.

Why the Chrome DevTools Protocol (CDP) directly, not Selenium: CDP is what chromium speaks
natively, so one WebSocket (the ``websockets`` package from PyPI, pyproject's dev extra) is the
whole stack; Selenium would add a second process (``chromium-driver``, which has to match the
browser's version exactly), the Selenium package and the WebDriver layer in between, and still
give no direct access to what the tests need most: the page's uncaught exceptions and console
errors as they happen (``Runtime.exceptionThrown``, ``Runtime.consoleAPICalled``,
``Log.entryAdded``) and a PNG of the page (``Page.captureScreenshot``).

The browser: ``/usr/lib/chromium/chromium`` (Debian's binary, not its ``/usr/bin/chromium`` shell
wrapper, which adds flags of its own and prints a warning on some machines), installed by
``tests/ui/setup_chromium.sh`` (``make chromium``, a prerequisite of ``make test`` like kcat).
It runs headless (``--headless=new``) as a child process in a session of its own, with a
temporary profile and ``--remote-debugging-port=0``: chromium binds a free port on 127.0.0.1
itself and writes it to ``<profile>/DevToolsActivePort``, so there is no race for a port picked
beforehand. :meth:`Browser.close` stops it by its process group (the child's own pid, never a
name), SIGTERM then SIGKILL, and removes the profile; the ``browser`` fixture calls it even when
the test fails.

Use (the fixture is registered for ``tests/ui`` by its conftest)::

    def test_page(browser: Browser) -> None:
        browser.goto("http://127.0.0.1:8080/", timeout_s=10)
        browser.wait_for("document.querySelectorAll('.component').length === 4", timeout_s=5)
        assert browser.evaluate("document.title") == "squall"
        browser.screenshot(artifact_path("page.png"))
        assert browser.console_errors() == []
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = Path(__file__).with_name("setup_chromium.sh")
# Debian's binary; the CHROMIUM environment variable names another one.
DEBIAN_CHROMIUM = Path("/usr/lib/chromium/chromium")
# Screenshots and other artifacts of the UI tests; SQUALL_ARTIFACT_DIR overrides it (CI).
ARTIFACT_DIR = Path(os.environ.get("SQUALL_ARTIFACT_DIR", REPO / "_build" / "artifacts" / "ui"))

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root (CI, the dev machines): chromium's sandbox refuses to run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",  # shared memory in /tmp: a small /dev/shm crashes the renderer
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",  # a free port, chosen by chromium, read from DevToolsActivePort
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",  # no update checks, no safe-browsing lists: no outside
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,800",
)
VIEWPORT = (1280, 800)
PROFILE_PREFIX = "squall-chromium-"  # temporary profiles: <tmp>/squall-chromium-<owner pid>-*  # the page's size in CSS pixels (Emulation.setDeviceMetricsOverride)


class BrowserError(RuntimeError):
    """Chromium did not start, or the DevTools protocol answered with an error."""


class JavaScriptError(RuntimeError):
    """An expression given to :meth:`Browser.evaluate` threw in the page."""


def find_chromium(install: bool = True) -> Path:
    """Debian's chromium binary; installs it with the test set-up's script if missing (as root).

    Fails (never skips: the UI tests are part of ``make test``) when it is not there after that.
    """
    override = os.environ.get("CHROMIUM")
    if override:
        path = Path(shutil.which(override) or override)
        if not os.access(path, os.X_OK):
            raise BrowserError(f"CHROMIUM={override!r} is not an executable")
        return path
    if os.access(DEBIAN_CHROMIUM, os.X_OK):
        return DEBIAN_CHROMIUM
    if install and os.geteuid() == 0:
        subprocess.run(["bash", str(SETUP_SCRIPT)], check=True)
        return find_chromium(install=False)
    raise BrowserError(
        f"chromium is missing ({DEBIAN_CHROMIUM}): `make chromium` installs it "
        "(Debian's package, tests/ui/setup_chromium.sh)"
    )


def chromium_version() -> str:
    """``Chromium 156.0.8078.114 built on Debian ...``: the binary's own ``--version``."""
    out = subprocess.run(
        [str(find_chromium()), "--version"], capture_output=True, text=True, timeout=30
    )
    return out.stdout.strip()


def artifact_path(name: str) -> Path:
    """A path for a test artifact (a screenshot) under :data:`ARTIFACT_DIR`, its folder made."""
    ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACT_DIR / name


class Browser:
    """One headless chromium with one page, driven over CDP. Use :meth:`launch` or the fixture."""

    def __init__(
        self,
        binary: Path | None = None,
        start_timeout_s: float = 30.0,
        viewport: tuple[int, int] = VIEWPORT,
    ) -> None:
        self.binary = binary or find_chromium()
        self.viewport = viewport
        _remove_orphans()
        # the owner's pid in the name: a later Browser removes what a killed test run left
        self.profile = Path(tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{os.getpid()}-"))
        self._stderr_path = self.profile / "squall-chromium.stderr"
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None
        self._ws_stack = contextlib.ExitStack()
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._errors: list[str] = []
        self.port = 0
        self.version = ""
        try:
            self._start(start_timeout_s)
        except BaseException:
            self.close()
            raise

    @classmethod
    def launch(
        cls,
        binary: Path | None = None,
        start_timeout_s: float = 30.0,
        viewport: tuple[int, int] = VIEWPORT,
    ) -> _Launched:
        """``with Browser.launch() as browser:``, closed (process stopped, profile gone) on exit."""
        return _Launched(cls(binary, start_timeout_s, viewport))

    @property
    def pid(self) -> int | None:
        """The browser process's pid (its process group's id too), None before it started."""
        return self._proc.pid if self._proc else None

    # -- the page's API ---------------------------------------------------------------------

    def goto(self, url: str, timeout_s: float = 30.0) -> None:
        """Navigate and wait for the page's load event; AssertionError if it fails to load."""
        self._events.clear()
        reply = self._call("Page.navigate", {"url": url}, timeout_s)
        if reply.get("errorText"):
            raise AssertionError(f"goto {url}: {reply['errorText']}")
        if "loaderId" not in reply:  # same-document navigation (#fragment): nothing loads
            return
        self._wait_event(
            lambda e: (
                e["method"] == "Page.lifecycleEvent"
                and e["params"].get("name") == "load"
                and e["params"].get("loaderId") == reply["loaderId"]
            ),
            timeout_s,
            f"goto {url}: no load event",
        )

    def evaluate(self, expression: str, timeout_s: float = 30.0) -> Any:
        """The JSON value of a JavaScript expression in the page (promises awaited).

        ``undefined`` is None; a value that is not JSON (a DOM node, a function) comes back as
        what CDP makes of it (usually ``{}``). Raises :class:`JavaScriptError` if it throws.
        """
        reply = self._call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout_s,
        )
        if "exceptionDetails" in reply:
            raise JavaScriptError(f"{expression!r} threw: {_describe(reply['exceptionDetails'])}")
        return reply["result"].get("value")

    def wait_for(self, predicate: str, timeout_s: float = 10.0, interval_s: float = 0.05) -> Any:
        """Poll a JavaScript expression until it is truthy; returns that value.

        On timeout: AssertionError naming the predicate and its last value (or what it threw).
        """
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while True:
            try:
                remaining = deadline - time.monotonic()
                last = self.evaluate(predicate, timeout_s=max(1.0, remaining))
                if last:
                    return last
            except JavaScriptError as exc:
                last = exc
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"wait_for timed out after {timeout_s:g} s: {predicate!r} "
                    f"last returned {last!r}"
                )
            time.sleep(interval_s)

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """A PNG of the viewport (Page.captureScreenshot) written to path; returns the path."""
        reply = self._call("Page.captureScreenshot", {"format": "png"}, 30.0)
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(reply["data"]))
        return out

    def console_errors(self) -> list[str]:
        """The page's uncaught exceptions, console.error/assert calls and error log entries.

        Each as ``"[exception] Uncaught Error: boom (http://...:12:5)"``, ``"[console.error]
        ..."`` or ``"[log:network] ..."``, since the browser started; all events the page sent
        before this call are included (one protocol round trip drains them).
        """
        self._call("Runtime.evaluate", {"expression": "0"}, 30.0)
        return list(self._errors)

    # -- process and protocol -----------------------------------------------------------------

    def close(self) -> None:
        """Stop chromium (its process group, by pid) and remove the profile; idempotent.

        Asks it first (CDP ``Browser.close``: it ends its own children), then SIGTERM and
        SIGKILL to its process group if it is still there.
        """
        asked = False
        if self._ws is not None:
            try:
                self._ws.send(json.dumps({"id": 0, "method": "Browser.close"}))
                asked = True
            except Exception:
                pass
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_group(proc, grace_s=5.0 if asked else 0.0)
        # after the browser: closing first would wait for its closing handshake
        self._ws = None
        try:
            self._ws_stack.close()
        except Exception:
            pass
        for _ in range(3):  # a renderer may still write into the profile while it goes
            shutil.rmtree(self.profile, ignore_errors=True)
            if not self.profile.exists():
                break
            time.sleep(0.2)

    def _start(self, timeout_s: float) -> None:
        args = [str(self.binary), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"]
        with open(self._stderr_path, "wb") as stderr:
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group: close() stops all of it
            )
        (self.profile / "squall-chromium.pid").write_text(str(self._proc.pid))
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                raise BrowserError(f"chromium exited with {self._proc.returncode}{self._tail()}")
            lines = active.read_text().split() if active.exists() else []
            if len(lines) >= 2:  # written as a whole? port and browser path both there
                self.port = int(lines[0])
                break
            if time.monotonic() >= deadline:
                raise BrowserError(f"chromium did not open its DevTools port{self._tail()}")
            time.sleep(0.05)
        self.version = self._http_json("/json/version")["Browser"]
        pages = [t for t in self._http_json("/json/list") if t.get("type") == "page"]
        target = pages[0] if pages else self._http_json("/json/new?about:blank", method="PUT")
        connection = connect(
            target["webSocketDebuggerUrl"],
            proxy=None,
            max_size=None,  # a screenshot is base64 of a PNG: several MB
            ping_interval=None,
            open_timeout=timeout_s,
        )
        self._ws = self._ws_stack.enter_context(connection)
        for domain in ("Page", "Runtime", "Log"):
            self._call(f"{domain}.enable", {}, timeout_s)
        self._call("Page.setLifecycleEventsEnabled", {"enabled": True}, timeout_s)
        width, height = self.viewport  # exactly, whatever the window's decorations take
        self._call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            timeout_s,
        )

    def _http_json(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as resp:
            return json.loads(resp.read())

    def _call(self, method: str, params: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if self._ws is None:
            raise BrowserError(f"{method}: the browser is closed")
        self._next_id += 1
        call_id = self._next_id
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = self._receive(deadline, f"{method}: no answer in {timeout_s:g} s")
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def _wait_event(
        self, match: Callable[[dict[str, Any]], bool], timeout_s: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self._events:
                if match(event):
                    return event
            self._receive(deadline, f"{what} in {timeout_s:g} s")

    def _receive(self, deadline: float, what: str) -> dict[str, Any]:
        """The next protocol message; events are recorded on the way."""
        assert self._ws is not None
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            raw = self._ws.recv(timeout=remaining)
        except TimeoutError:
            raise AssertionError(what) from None
        except ConnectionClosed as exc:
            raise BrowserError(f"the DevTools connection closed ({exc}){self._tail()}") from None
        message: dict[str, Any] = json.loads(raw)
        if "method" in message:
            if message["method"].startswith("Page."):  # what goto waits for; the rest is not kept
                self._events.append(message)
            error = _error_of(message)
            if error:
                self._errors.append(error)
        return message

    def _tail(self) -> str:
        try:
            text = self._stderr_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"; its stderr ends:\n{text[-2000:]}" if text else ""


class _Launched:
    """The context manager of :meth:`Browser.launch`."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser

    def __enter__(self) -> Browser:
        return self.browser

    def __exit__(self, *exc: object) -> None:
        self.browser.close()


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """Wait grace_s for proc to end, then SIGTERM its process group, SIGKILL after 5 s.

    The group is proc's own session (start_new_session), its id proc's pid; a member still
    running after the leader is gone (a renderer, the zygote) is killed too. Exited members wait
    as zombies for init to reap them: not running, not counted.
    """
    for sig, wait_s in ((None, grace_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        if sig is not None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    # while a member is there (even a zombie), its pid cannot be reused as a group id
    if live_group_members(proc.pid):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _remove_orphans() -> None:
    """Stop the chromium, and remove the profile, of test runs that were killed (dead owner pid).

    The browser is stopped by the pid recorded in its profile, and only if that process's
    command line still names the profile (a pid of the past may be another process now).
    """
    for profile in Path(tempfile.gettempdir()).glob(f"{PROFILE_PREFIX}*"):
        owner = profile.name.removeprefix(PROFILE_PREFIX).split("-", 1)[0]
        if not owner.isdigit() or Path(f"/proc/{owner}").exists():
            continue
        try:
            pid = int((profile / "squall-chromium.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            pid, cmdline = 0, b""
        if pid and f"--user-data-dir={profile}".encode() in cmdline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(profile, ignore_errors=True)


def live_group_members(pgid: int) -> list[int]:
    """The pids of the running (not zombie) processes of process group pgid, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


def _describe(details: dict[str, Any]) -> str:
    """``Uncaught Error: boom (http://127.0.0.1:8080/:12:5)`` from CDP's exceptionDetails."""
    exception = details.get("exception") or {}
    text = details.get("text") or ""
    description = (exception.get("description") or str(exception.get("value", ""))).strip()
    if description:  # the first line: the stack follows
        text = f"{text} {description.splitlines()[0]}".strip()
    where = details.get("url") or ""
    if where:
        line, column = details.get("lineNumber", 0) + 1, details.get("columnNumber", 0) + 1
        where = f" ({where}:{line}:{column})"
    return f"{text or 'exception'}{where}"


def _error_of(event: dict[str, Any]) -> str | None:
    """The error message an event carries, or None: exceptions, console errors, error logs."""
    method, params = event["method"], event.get("params", {})
    if method == "Runtime.exceptionThrown":
        return f"[exception] {_describe(params['exceptionDetails'])}"
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = params.get("args", [])
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
        return f"[console.{params['type']}] {text}"
    if method == "Log.entryAdded" and params["entry"].get("level") == "error":
        entry = params["entry"]
        where = f" ({entry['url']})" if entry.get("url") else ""
        return f"[log:{entry.get('source', '?')}] {entry.get('text', '')}{where}"
    return None


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A fresh headless chromium for one test, stopped and its profile removed afterwards."""
    with Browser.launch() as b:
        yield b

"""Run Maven for a runtime's provisioning: full output to a log file, one progress line on screen.

A first provisioning fetches several hundred files from Maven Central and Maven prints two lines
for each ("Downloading from ...", "Downloaded from ..."): ~700 lines that bury anything that
matters. :func:`run_maven` keeps every line in a log file inside the runtime's git-ignored folder
and shows a :class:`StatusLine` instead, fed by :class:`DownloadCount` (parsed from Maven's
"Downloaded from" lines, which is why Maven must not run with ``--no-transfer-progress``).

How many artifacts a pom resolves is only known once Maven has resolved them, so the line says
"resolving" with what is done so far rather than a made-up total. On failure the caller raises
its own error with :func:`failure_report`: the log's last lines and its path, nothing hidden.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

Say = Callable[[str], None]
Clock = Callable[[], float]

# Maven 3.x's Slf4jMavenTransferListener: "Downloaded from <repo id>: <url> (<size>[ at <rate>])",
# size formatted by FileSizeFormat with decimal units (B, kB, MB, GB; 1 kB = 1000 B).
_DOWNLOADED = re.compile(
    r"^(?:\[INFO\] )?Downloaded from [^:\s]+: (?P<url>\S+) "
    r"\((?P<size>\d+(?:\.\d+)?) (?P<unit>B|kB|KB|MB|GB)(?: at [^)]*)?\)\s*$"
)
_UNIT_BYTES = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3}

# A terminal gets at most this many redraws per second: Maven can log hundreds of lines a second
# from a warm cache, and redrawing for each costs more than it shows.
_TTY_REDRAW_S = 0.1
NON_TTY_INTERVAL_S = 5.0
TAIL_LINES = 30


@dataclass
class DownloadCount:
    """What Maven has downloaded so far: artifacts (jars), all files (poms, metadata too), bytes."""

    artifacts: int = 0
    files: int = 0
    bytes: int = 0

    def feed(self, line: str) -> bool:
        """Count ``line`` if it is a finished download; True when it was one."""
        match = _DOWNLOADED.match(line)
        if match is None:
            return False
        self.files += 1
        self.bytes += round(float(match["size"]) * _UNIT_BYTES[match["unit"]])
        if match["url"].endswith(".jar"):
            self.artifacts += 1
        return True

    def describe(self, name: str, elapsed_s: float) -> str:
        """The progress line, e.g. ``kafka runtime: resolving, 61 artifacts (212 files),
        48.2 MB downloaded, 12 s``."""
        return (
            f"{name}: resolving, {self.artifacts} artifacts ({self.files} files), "
            f"{mb(self.bytes)} downloaded, {elapsed_s:.0f} s"
        )


def mb(size_bytes: int) -> str:
    """``size_bytes`` in decimal megabytes, as Maven reports sizes: ``48.2 MB``."""
    return f"{size_bytes / 1000**2:.1f} MB"


class StatusLine:
    """One progress line: redrawn in place on a terminal, else said at most every ``interval_s``.

    ``say`` prints a whole line (the caller's usual output); ``tty`` is the stream to redraw on,
    used only when it is a terminal (a CI log gets no carriage returns, just sparse lines).
    """

    def __init__(
        self,
        say: Say,
        tty: TextIO | None = None,
        *,
        tty_prefix: str = "",
        interval_s: float = NON_TTY_INTERVAL_S,
        clock: Clock = time.monotonic,
    ) -> None:
        self._say = say
        self._tty = tty if tty is not None and tty.isatty() else None
        self._tty_prefix = tty_prefix
        self._interval_s = _TTY_REDRAW_S if self._tty else interval_s
        self._clock = clock
        self._last_s: float | None = None
        self._drawn = False

    def update(self, text: str) -> None:
        """Show ``text`` unless the previous update was less than the interval ago."""
        now = self._clock()
        if self._last_s is not None and now - self._last_s < self._interval_s:
            return
        self._last_s = now
        if self._tty is None:
            self._say(text)
            return
        width = shutil.get_terminal_size().columns - 1  # a wrapped line cannot be redrawn
        self._tty.write("\r" + (self._tty_prefix + text)[:width] + "\x1b[K")
        self._tty.flush()
        self._drawn = True

    def clear(self) -> None:
        """Erase the in-place line, so what is printed next starts on a clean line."""
        if self._tty is not None and self._drawn:
            self._tty.write("\r\x1b[K")
            self._tty.flush()
            self._drawn = False

    def done(self, text: str) -> None:
        """Replace the progress with the final line."""
        self.clear()
        self._say(text)


@dataclass(frozen=True)
class MavenRun:
    """The outcome of :func:`run_maven`; the full output is in ``log``."""

    returncode: int
    log: Path
    downloads: DownloadCount
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def track(
    lines: Iterable[str], sink: TextIO, name: str, status: StatusLine, start_s: float, clock: Clock
) -> DownloadCount:
    """Copy Maven's ``lines`` to ``sink`` and keep ``status`` up to date; the downloads seen."""
    count = DownloadCount()
    for line in lines:
        sink.write(line)
        if count.feed(line):
            status.update(count.describe(name, clock() - start_s))
    return count


def run_maven(
    cmd: Sequence[str],
    *,
    name: str,
    log: Path,
    status: StatusLine,
    env: Mapping[str, str] | None = None,
    clock: Clock = time.monotonic,
) -> MavenRun:
    """Run ``cmd`` (``mvn -B ...``) with its output in ``log`` (replaced) and progress on
    ``status``; the in-place line is cleared before returning, whatever the outcome."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start_s = clock()
    with log.open("w", encoding="utf-8") as sink:
        sink.write(f"$ {shlex.join(cmd)}\n")
        sink.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=None if env is None else dict(env),
        )
        assert proc.stdout is not None
        try:
            count = track(proc.stdout, sink, name, status, start_s, clock)
            returncode = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C): leave no Maven running
                proc.kill()
                proc.wait()
            status.clear()
    return MavenRun(returncode, log, count, clock() - start_s)


def tail(log: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of ``log``."""
    with log.open(encoding="utf-8", errors="replace") as text:
        return [line.rstrip("\n") for line in deque(text, maxlen=lines)]


def failure_report(run: MavenRun, what: str, lines: int = TAIL_LINES) -> str:
    """The message of a failed run: what failed, the log's last lines (Maven's own account of
    the error, e.g. the artifact it could not resolve) and where the whole log is."""
    last = tail(run.log, lines)
    return (
        f"Maven failed (exit {run.returncode}) {what}; the last {len(last)} lines of its log:\n"
        + "\n".join("  " + line for line in last)
        + f"\nfull log: {run.log}"
    )


def jar_summary(folders: Iterable[Path]) -> tuple[int, int]:
    """How many jars ``folders`` hold and their total size in bytes."""
    jars = [jar for folder in folders for jar in folder.glob("*.jar")]
    return len(jars), sum(jar.stat().st_size for jar in jars)


def final_line(name: str, folders: Iterable[Path], run: MavenRun) -> str:
    """``kafka runtime: 87 artifacts, 112.0 MB, 41 s — log: <path>``."""
    count, size = jar_summary(folders)
    return f"{name}: {count} artifacts, {mb(size)}, {run.elapsed_s:.0f} s — log: {run.log}"

"""`squall run ... --ui` as a user starts it, in a subprocess, read through its page's routes."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
SQUALL = Path(sys.executable).parent / "squall"
# a component's row of the run's summary table: name, emitted, acked, failed, executed, ...
SUMMARY_ROW = re.compile(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+(\d+)$", re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveRun:
    """One ``squall run`` with ``--ui``: its output, its page's JSON and its /metrics."""

    __test__ = False

    def __init__(self, args: list[str], tmp_path: Path) -> None:
        self.out_path, self.err_path = tmp_path / "stdout", tmp_path / "stderr"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.proc = subprocess.Popen([str(SQUALL), *args], cwd=ROOT, stdout=out, stderr=err)
        self._url: str | None = None

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    @property
    def url(self) -> str:
        """The page's address as printed, reached through the loopback."""
        if self._url is None:
            found = eventually(
                lambda: re.search(r"live view at (http://\S+)", self.stderr()),
                "the live view's address on stderr",
                timeout_s=60,
                every_s=0.2,
            )
            self._url = found.group(1).replace("0.0.0.0", "127.0.0.1")
        return self._url

    def get(self, path: str, token: bool = True) -> bytes:
        base, _, query = self.url.partition("?")
        url = base.rstrip("/") + path + (f"?{query}" if query and token else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read()  # type: ignore[no-any-return]

    def status(self, path: str, token: bool = True) -> int:
        try:
            self.get(path, token)
        except urllib.error.HTTPError as exc:
            return exc.code
        return 200

    def state(self) -> dict[str, Any]:
        return json.loads(self.get("/api/state"))  # type: ignore[no-any-return]

    def metrics(self) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
        """{family: {(sample, sorted labels): value}} of one scrape."""
        text = self.get("/metrics").decode()
        return {
            f.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples}
            for f in text_string_to_metric_families(text)
        }

    def executed_by_component(self) -> dict[str, int]:
        """squall_tuples_executed_total summed over each component's tasks."""
        out: dict[str, int] = {}
        for (_, labels), value in self.metrics()["squall_tuples_executed"].items():
            component = dict(labels)["component"]
            out[component] = out.get(component, 0) + int(value)
        return out

    def summary_executed(self) -> dict[str, int]:
        """The executed column of the run's final summary table."""
        return {m.group(1): int(m.group(5)) for m in SUMMARY_ROW.finditer(self.stdout())}

    def final_state(self) -> dict[str, Any]:
        return eventually(
            lambda: (s := self.state())["finished"] and s,
            "the run's end",
            timeout_s=120,
            every_s=0.5,
        )

    def interrupt(self) -> None:
        """Ctrl-C, as a terminal sends it to the foreground process."""
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout_s: float = 60) -> int:
        return self.proc.wait(timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def total_executed(state: dict[str, Any]) -> int:
    return sum(c["executed"] for c in state["components"])


def counters_rise(run: LiveRun) -> tuple[int, int]:
    """Two reads of /api/state, the second with more tuples executed than the first."""
    first = eventually(
        lambda: total_executed(run.state()), "tuples executed", timeout_s=60, every_s=0.3
    )
    second = eventually(
        lambda: (n := total_executed(run.state())) > first and n,
        f"more than {first} tuples executed",
        timeout_s=30,
        every_s=0.3,
    )
    return first, second

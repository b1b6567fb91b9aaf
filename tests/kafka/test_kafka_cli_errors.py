"""Issue 15, item 7: what a user walking docs/kafka.md hit, as one clear line instead of
tracebacks: `squall kafka start --port P` on an instance that used another port, and
`squall produce` / `squall kafka read` against an address where no broker answers."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from squall.kafka import admin
from squall.kafka.broker import Broker
from squall.services import free_port

SQUALL = [sys.executable, "-m", "squall.cli"]


def squall(*args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SQUALL, *args], capture_output=True, text=True, timeout=timeout_s)


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released: nothing else took it since)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [
        ["produce", "--count", "5", "--producers", "2"],
        ["kafka", "read", "health.alerts"],
    ],
    ids=["produce", "read"],
)
def test_no_broker_at_the_address_is_one_line_naming_it(command: list[str]) -> None:
    address = f"127.0.0.1:{closed_port()}"
    out = squall(*command, "--bootstrap", address, timeout_s=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert address in lines[0] and "squall kafka start" in lines[0]
    assert "Traceback" not in out.stderr + out.stdout


def test_a_bootstrap_that_is_not_host_port_is_named() -> None:
    out = squall("produce", "--count", "1", "--bootstrap", "localhost", timeout_s=60)
    assert out.returncode == 2
    assert "'localhost' is not HOST:PORT" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.kafka
def test_start_on_another_port_refuses_while_running_and_moves_once_stopped(
    tmp_path: Path,
) -> None:
    name = f"test-move-{tmp_path.name}"
    first, second = free_port(), free_port()
    while second == first:
        second = free_port()
    try:
        started = squall(
            "kafka", "start", "--instance", name, "--port", str(first), "--topics", "kept:1"
        )
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{first}" in started.stdout

        refused = squall("kafka", "start", "--instance", name, "--port", str(second))
        assert refused.returncode == 2
        assert f"running on port {first}, not {second}" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert Broker(name).state().port == first  # type: ignore[union-attr]

        assert squall("kafka", "stop", "--instance", name).returncode == 0
        moved = squall("kafka", "start", "--instance", name, "--port", str(second))
        assert moved.returncode == 0, moved.stderr
        assert f"moving instance {name!r} from port {first} to {second}" in moved.stderr
        assert f"127.0.0.1:{second}" in moved.stdout
        # the same data on the new port, and nothing left on the old one
        assert admin.list_topics(f"127.0.0.1:{second}") == {"kept": 1}
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", first)) != 0
    finally:
        Broker(name).remove()

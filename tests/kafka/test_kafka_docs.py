"""docs/kafka.md ("With Kafka") runs as written: its shell block is executed line for line.

It runs on its own broker instance (``SQUALL_KAFKA_INSTANCE``), so a broker the user started
with the same commands is left alone; everything else is the text of the docs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from squall.kafka.broker import Broker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "kafka.md"


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, flags=re.S | re.M)


def test_with_kafka_commands_run_as_written() -> None:
    blocks = shell_blocks(DOC.read_text())
    assert len(blocks) == 1, "docs/kafka.md should have exactly one ```sh block"
    instance = f"docs-{os.getpid()}"
    env = {**os.environ, "SQUALL_KAFKA_INSTANCE": instance}
    try:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", blocks[0]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    finally:
        Broker(instance).remove()
    out = proc.stdout
    assert "kafka 4." in out and "started: 127.0.0.1:" in out
    acked = re.search(r"acknowledged by the broker: ([\d,]+) of ([\d,]+) sent \(0 failed\)", out)
    assert acked is not None, out
    assert acked.group(1) == acked.group(2)
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    alerts = [r for r in records if "reading_id" in r]
    trends = [r for r in records if "window_start_ms" in r]
    assert len(alerts) == 5
    assert all({"rule", "reading_id", "ts", "reading"} <= set(alert) for alert in alerts)
    assert 1 <= len(trends) <= 3
    assert all({"rule", "window_start_ms", "window_end_ms", "count"} <= set(t) for t in trends)
    assert "kafka stopped (pid" in out

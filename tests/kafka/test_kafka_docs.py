"""docs/kafka.md ("With Kafka", "The ward on Kafka") runs as written: its shell blocks are
executed line for line, the ward's after the first one's, on the broker it left behind.

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


def run_block(block: str, env: dict[str, str]) -> str:
    """One ``sh`` block under ``bash -euo pipefail``, as a reader would paste it; its stdout."""
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_with_kafka_commands_run_as_written() -> None:
    blocks = shell_blocks(DOC.read_text())
    assert len(blocks) == 2, "docs/kafka.md should have two ```sh blocks: Kafka, then the ward"
    instance = f"docs-{os.getpid()}"
    env = {**os.environ, "SQUALL_KAFKA_INSTANCE": instance}
    try:
        out = run_block(blocks[0], env)
        # The ward's walkthrough starts the broker the first one stopped, with its data, topics,
        # records and consumer groups left behind, as a reader's would be; and again after it.
        ward_runs = [run_block(blocks[1], env) for _ in range(2)]
    finally:
        Broker(instance).remove()
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
    critical_alerts = []
    for ward in ward_runs:
        assert "started: 127.0.0.1:" in ward and "kafka stopped (pid" in ward
        for topic in ("health.readings.critical", "health.readings"):
            acked = re.search(
                rf"acknowledged by the broker: ([\d,]+) of ([\d,]+) sent \(0 failed\) to "
                rf"'{re.escape(topic)}'",
                ward,
            )
            assert acked is not None and acked.group(1) == acked.group(2), ward
        assert re.search(r"^deadlines \(\d+ overload episode", ward, flags=re.M), ward
        assert re.search(r"^  critical\.default +p99 ", ward, flags=re.M), ward
        assert re.search(r"^  routine\.default +p99 ", ward, flags=re.M), ward
        counts = [int(line) for line in ward.splitlines() if line.isdigit()]
        assert len(counts) == 1, ward  # alerts of critical readings, in the whole topic
        critical_alerts.append(counts[0])
    # the second walkthrough adds its critical alerts to the first one's
    assert 0 < critical_alerts[0] < critical_alerts[1]

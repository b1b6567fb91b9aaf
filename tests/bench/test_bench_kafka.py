"""`python -m bench.run --quick --only kafka` (the Kafka end-to-end group) writes its rows and
issue 13's latency target line. Never asserts a timing or a met target (a quick run's numbers
mean nothing): only that the rows ran against the real broker, that the latency row's load
came from the generator and placement its note names, and that its alerts were timed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from squall.kafka.provision import is_provisioned

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.kafka,
    pytest.mark.slow,
    pytest.mark.skipif(not is_provisioned(), reason="Kafka not provisioned (make kafka-runtime)"),
]
NUMBER = r"[\d,]+(?:\.\d+)?"


def test_a_quick_kafka_run_writes_its_latency_row_and_target(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "bench.run", "--quick", "--only", "kafka"]
    proc = subprocess.run(
        [*args, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [md] = tmp_path.glob("*-quick.md")
    text = md.read_text()
    [row] = [ln for ln in text.splitlines() if "| HealthKafkaTopology at 200/s offered |" in ln]
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    # records/s achieved, p50 and p99 measured from alerts read back from the broker
    assert re.fullmatch(r"[\d,]+", cells[2]), cells
    assert re.fullmatch(NUMBER, cells[5]) and re.fullmatch(NUMBER, cells[6]), cells
    assert re.fullmatch(r"[1-9][\d,]* alerts", cells[8]), cells
    # the generator is librdkafka here (confluent-kafka is a dev dependency), and on a machine
    # with two CPUs the producer and the topology each have their own
    assert re.search(r"\(producer (confluent-kafka|kafka-python)", cells[9]), cells[9]
    if {0, 1} <= os.sched_getaffinity(0):
        assert "producer confluent-kafka on CPU 0, topology on CPU 1" in cells[9], cells[9]
    assert re.search(
        r"^\| 13 \| Kafka p99 <= 50 ms at 10k/s [^|]* \| — \| not measured in this run \|$",
        text,
        re.M,
    ), text

"""`python -m bench.run --quick --only realtime-kafka` (issue 11's ward on Kafka) writes its rows
and targets. Never asserts a timing or a met target (a quick run's numbers mean nothing): only
that every row ran against the real broker and reported the numbers its targets are judged on."""

from __future__ import annotations

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


def test_a_quick_kafka_realtime_run_writes_its_rows_and_targets(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "bench.run", "--quick", "--only", "realtime-kafka"]
    proc = subprocess.run(
        [*args, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [md] = tmp_path.glob("*-quick.md")
    text = md.read_text()
    rows = dict(re.findall(r"^\| realtime-kafka \| ([^|]+?) \| ([\d,]+) \|", text, re.M))
    names = list(rows)
    assert names[0] == "kafka: capacity (full work)", text
    assert re.fullmatch(rf"kafka: path floor at {NUMBER}/s \(no topology\)", names[1]), text
    assert names[2:] == [
        "kafka: edf+imprecise+discard at 0.5x",
        "kafka: edf+imprecise+discard at 2x",
    ], text
    assert all(int(v.replace(",", "")) > 0 for v in rows.values()), text
    assert re.search(rf"mandatory-only {NUMBER}/s", text), text
    # the floor: the Kafka path's own latency, measured through the broker, no topology
    [floor] = [ln for ln in text.splitlines() if f"| {names[1]} |" in ln]
    assert re.search(
        rf"acknowledged: p50 {NUMBER} ms, p99 {NUMBER} ms, max {NUMBER} ms; over 50 ms "
        rf"{NUMBER}% of {NUMBER}",
        floor,
    ), floor
    assert not re.search(r"of 0\b", floor), floor  # critical records were relayed and timed
    assert "The Kafka path alone (no topology" in text
    for name in names[2:]:
        [line] = [ln for ln in text.splitlines() if f"| {name} |" in ln]
        for field in (
            rf"offered {NUMBER}/s, achieved {NUMBER}/s",
            rf"critical p99 {NUMBER} ms, misses {NUMBER}%",
            rf"routine p99 {NUMBER} ms, misses {NUMBER}%",
            r"shed: ",
            rf"trend precision {NUMBER}",
            rf"critical lost \d+ \(of {NUMBER} alerts expected\)",
            rf"lag left {NUMBER}/{NUMBER}",
        ):
            assert re.search(field, line), (field, line)
    for target in (
        "kafka: 0 critical alerts lost or shed at every load",
        "kafka: the generator really offered every rate",
    ):
        assert re.search(
            rf"^\| 11 \| {re.escape(target)}[^|]* \| [^|]+ \| (yes|NO) \|$", text, re.M
        ), (
            target,
            text,
        )
    assert "Real time on Kafka (issue 11)" in text

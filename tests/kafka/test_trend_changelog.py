"""Trend windows across kill -9 (issue 17, item 5), against the real broker.

The oracle is a second run, not the project's arithmetic: the same fixed readings (explicit
Kafka record timestamps, so event time is the same in both runs) are read by run A, the
topology uninterrupted, and run B, with the trend checkpoints on, killed with SIGKILL mid-stream
(after at least one checkpoint, with windows open and readings still arriving) and restarted.
For every (rule, window) the last count B wrote must equal A's.

Both runs read the topic while it is written (paced, 600 readings/s), each with its own
group, trends topic and changelog, side by side. One partition and one task per bolt keep the
alerts in record order in both runs, so no alert is late in either (a late alert is not
counted, and which ones are late would depend on the interleaving of partitions).

Also here: the refusals a broker is needed for (a changelog that is not compacted; an
unreadable checkpoint).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bolts.trend_changelog import TrendChangelog
from health_core.config import HealthConfig
from squall.kafka.admin import ensure_topics
from squall.kafka.catch_up_read import MergedRead
from squall.kafka.changelog import ensure_changelog, plan_catch_up, read_latest
from squall.kafka.errors import KafkaConfigError
from tests.kafka.kit import one_parse_task, read_topic
from tests.polling import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
READINGS = 12_000
STEP_MS = 5  # event time between readings: 60 s of it, 30 windows of 10 s sliding 2 s
# An hour ago, on a window bound: the broker refuses timestamps more than an hour ahead
# (message.timestamp.after.max.ms) and drops records older than its retention (7 days).
T0_MS = (int(time.time()) - 3600) // 60 * 60_000
RATE_HZ = 600  # written over 20 s: both runs read while they arrive, even on a fast machine


def _readings() -> Iterator[tuple[int, bytes]]:
    """(record timestamp, course-form payload): fixed, so both runs read the same records."""
    rng = random.Random(17)
    for n in range(READINGS):
        body = {"idade": rng.randint(18, 80), "altura": rng.randint(150, 195)}
        body["peso"] = rng.randint(50, 120)
        yield T0_MS + n * STEP_MS, json.dumps([n, body]).encode()


def _produce_paced(bootstrap: str, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    start = time.monotonic()
    for n, (ts, payload) in enumerate(_readings()):
        producer.send(topic, payload, partition=0, timestamp_ms=ts)
        ahead = n / RATE_HZ - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    producer.flush(timeout=60)
    producer.close()


class Run:
    """One `squall run topologies/health_kafka.py` over the readings, its own group and topics."""

    def __init__(
        self, bootstrap: str, readings: str, name: str, changelog: bool, checkpoint_s: float = 6
    ) -> None:
        tag = f"{name}-{uuid.uuid4().hex[:8]}"
        self.bootstrap = bootstrap
        self.readings = readings
        self.group = f"trend-{tag}"
        self.trends = f"trends-{tag}"
        self.changelog = f"changelog-{tag}" if changelog else None
        topics = {f"alerts-{tag}": 1, f"invalid-{tag}": 1, self.trends: 1}
        ensure_topics(bootstrap, topics)
        options = {
            "health.kafka.bootstrap.servers": bootstrap,
            "health.kafka.readings.topic": readings,
            "health.kafka.alerts.topic": f"alerts-{tag}",
            "health.kafka.invalid.topic": f"invalid-{tag}",
            "health.kafka.trends.topic": self.trends,
            "health.kafka.group.id": self.group,
            "health.sinks.console": "false",
            "squall.kafka.spout.session.timeout.ms": "6000",
        }
        if self.changelog:
            options["health.kafka.trends.changelog.topic"] = self.changelog
            # Checkpoints rarer than commits, so that at the kill many committed readings are
            # not in the last checkpoint: only the catch-up can bring them back.
            options["health.kafka.trends.checkpoint.interval.secs"] = str(checkpoint_s)
            options["squall.kafka.spout.commit.interval.secs"] = "0.5"
        self.command = [sys.executable, "-m", "squall.cli", "run", "topologies/health_kafka.py"]
        for key, value in options.items():
            self.command += ["-o", f"{key}={value}"]
        self.log = ROOT / ".runtime" / "kafka" / f"trend-changelog-{tag}.log"
        # One parse task, one path: alerts reach the windows in order. A parallelism shapes
        # the topology when its file is read, so it comes from a config file, not from -o.
        self.config = self.log.with_suffix(".yaml")
        self.config.write_text(one_parse_task(ROOT / "config.yaml"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.probe: KafkaConsumer | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*self.command, "--quiet"],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SQUALL_HEALTH_CONFIG": str(self.config)},
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def _probe(self) -> KafkaConsumer:
        """One consumer for every look at the run (a new one each time took seconds on a
        loaded machine); it has the run's group only to read its commits, and never joins."""
        if self.probe is None:
            self.probe = KafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False
            )
        return self.probe

    def committed(self) -> int:
        return self._probe().committed(TopicPartition(self.readings, 0)) or 0

    def end_offset(self, topic: str) -> int:
        tp = TopicPartition(topic, 0)
        return int(self._probe().end_offsets([tp])[tp])

    def checkpoints(self) -> int:
        """Checkpoints written (as seen from here: at least): the changelog's records but the
        origin, which the spout writes before its first poll on the group's first run."""
        assert self.changelog
        return max(0, self.end_offset(self.changelog) - 1)

    def changelog_keys(self) -> list[str]:
        assert self.changelog
        return [r.key.decode() for r in read_topic(self.bootstrap, self.changelog)]

    def finish(self, readings: int = READINGS) -> None:
        """Once every reading is committed and no trend window came for 3 s: Ctrl-C."""
        eventually(
            lambda: self.committed() >= readings or not self.alive(),
            f"run {self.group} committing every reading",
            timeout_s=240,
            every_s=0.5,
        )
        assert self.alive(), self.tail()
        last = (-1, 0.0)
        while True:  # the last windows close on the next ticks (each second)
            end = self.end_offset(self.trends)
            if end != last[0]:
                last = (end, time.monotonic())
            elif time.monotonic() - last[1] >= 3:
                break
            time.sleep(0.5)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(60) == 0, self.tail()

    def stop(self) -> None:
        if self.probe is not None:
            self.probe.close(autocommit=False)
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def final_counts(self) -> tuple[dict[tuple[str, int, int], int], int]:
        """The last count per (rule, window) in the trends topic, and how many records."""
        records = [json.loads(r.value) for r in read_topic(self.bootstrap, self.trends)]
        last = {(t["rule"], t["window_start_ms"], t["window_end_ms"]): t["count"] for t in records}
        return last, len(records)


def test_trend_counts_after_kill_9_equal_an_uninterrupted_run(kafka_bootstrap: str) -> None:
    readings = f"readings-trend-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, {readings: 1})
    a = Run(kafka_bootstrap, readings, "a", changelog=False)
    b = Run(kafka_bootstrap, readings, "b", changelog=True)
    producer = threading.Thread(target=_produce_paced, args=(kafka_bootstrap, readings))
    try:
        a.start()
        b.start()
        producer.start()
        # Killed once B has written checkpoints and committed a share of the readings, 300 of
        # them since its last checkpoint (as seen from here: at least), with readings left
        # (its windows are open: the data runs on past them).
        seen = {"checkpoints": 0, "committed": 0}

        def due() -> int | bool:
            checkpoints, committed = b.checkpoints(), b.committed()
            if checkpoints != seen["checkpoints"]:
                seen.update(checkpoints=checkpoints, committed=committed)
                return False
            beyond = committed - seen["committed"]
            ready = checkpoints >= 1 and committed >= READINGS // 4 and beyond >= 300
            return committed if ready else not b.alive()

        killed_at = eventually(
            due, "run B committing 300 readings past a checkpoint", timeout_s=180, every_s=0.1
        )
        assert b.alive(), b.tail()
        assert b.proc is not None
        os.kill(b.proc.pid, signal.SIGKILL)
        assert b.proc.wait(30) == -signal.SIGKILL
        assert killed_at < READINGS, "run B had committed every reading before the kill"
        checkpoints_before = b.checkpoints()
        b.start()
        producer.join(120)
        a.finish()
        b.finish()
    finally:
        a.stop()
        b.stop()
    counts_a, records_a = a.final_counts()
    counts_b, records_b = b.final_counts()
    caught_up = re.findall(r"(\d+) committed records to re-emit", b.log.read_text())
    print(
        f"\nB killed at {killed_at} of {READINGS} committed, after {checkpoints_before} "
        f"checkpoints; catch-up re-emitted {caught_up}; windows: A {len(counts_a)} "
        f"({records_a} records), B {len(counts_b)} ({records_b} records)"
    )
    assert len(counts_a) >= 40  # 2 rules x ~28 windows: the readings span several windows
    assert counts_b == counts_a
    # The catch-up did something: the restart re-read committed records for the windows.
    assert caught_up and int(caught_up[-1]) > 0, b.tail()
    a.log.unlink()
    b.log.unlink()


# -- refusals -------------------------------------------------------------------------------


def test_a_changelog_topic_that_is_not_compacted_is_refused(kafka_bootstrap: str) -> None:
    topic = f"changelog-delete-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, {topic: 1})  # cleanup.policy=delete, the broker's default
    with pytest.raises(KafkaConfigError) as refused:
        ensure_changelog(kafka_bootstrap, topic)
    message = str(refused.value)
    assert message.startswith(
        f"changelog topic {topic!r} has cleanup.policy='delete'; a changelog must be compacted"
    )
    assert "set cleanup.policy=compact on it" in message
    # The spout's catch-up refuses it too, before reading anything.
    with pytest.raises(KafkaConfigError, match=re.escape(f"changelog topic {topic!r}")):
        plan_catch_up(kafka_bootstrap, ["any"], "g", topic, "g/")


def test_a_missing_changelog_is_created_compacted(kafka_bootstrap: str) -> None:
    topic = f"changelog-new-{uuid.uuid4().hex[:8]}"
    ensure_changelog(kafka_bootstrap, topic)
    ensure_changelog(kafka_bootstrap, topic)  # and then accepted as it is
    assert read_latest(kafka_bootstrap, topic, "") == ({}, {})


def test_an_unreadable_checkpoint_is_dead_lettered_and_recounted_from_the_start(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    tag = uuid.uuid4().hex[:8]
    changelog, invalid, group = f"changelog-bad-{tag}", f"invalid-{tag}", f"g-{tag}"
    readings = f"readings-{tag}"
    ensure_changelog(kafka_bootstrap, changelog)
    ensure_topics(kafka_bootstrap, {invalid: 1, readings: 1})
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.send(changelog, key=f"{group}/trend/0-of-1".encode(), value=b"{not json").get(30)
    producer.close()
    config = HealthConfig.from_mapping(
        {
            "kafka": {
                "bootstrap_servers": [kafka_bootstrap],
                "invalid_topic": invalid,
                "group_id": group,
                "trends_changelog_topic": changelog,
            }
        }
    )
    context = {"taskid": 3, "componentid": "trend", "component->tasks": {"trend": [3]}}
    caplog.set_level(logging.ERROR)
    checkpoints = TrendChangelog(config, context, 10_000, 2_000, logging.getLogger("test"))
    try:
        assert checkpoints.restore() is None  # starts from empty, not a crash loop...
    finally:
        checkpoints.close()
    assert (
        f"trend checkpoint {changelog}:0:0 (key {group}/trend/0-of-1) is unreadable: not JSON"
        in (caplog.text)
    )
    letters = [json.loads(r.value) for r in read_topic(kafka_bootstrap, invalid)]
    assert [(d["stage"], d["raw"], d["source"]["topic"]) for d in letters] == [
        ("trend-checkpoint", "{not json", changelog)
    ]
    # ...and the spout, seeing the same record, re-reads from the beginning (offset 0).
    KafkaProducer(bootstrap_servers=kafka_bootstrap).send(readings, b"x", partition=0).get(30)
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    consumer.commit({TopicPartition(readings, 0): _offset(1)})
    consumer.close()
    plan = plan_catch_up(kafka_bootstrap, [readings], group, changelog, f"{group}/")
    assert plan.ranges == {(readings, 0): (0, 1)} and plan.origin is None
    assert [r.value for r in read_ranges(kafka_bootstrap, plan.ranges)] == [b"x"]


def read_ranges(bootstrap: str, ranges: dict[tuple[str, int], tuple[int, int]]) -> list[Any]:
    """Every record of a catch-up's ranges, streamed as the spout reads them."""
    read = MergedRead(lambda: KafkaConsumer(bootstrap_servers=bootstrap), ranges)
    records: list[Any] = []
    eventually(
        lambda: read.done or records.extend(read.take(1000)),
        f"catch-up read of {ranges}",
        timeout_s=60,
        every_s=0,
    )
    return records


def _offset(n: int) -> Any:
    from kafka import OffsetAndMetadata

    return OffsetAndMetadata(n, "", -1)

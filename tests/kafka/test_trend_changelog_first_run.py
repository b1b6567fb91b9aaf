"""The group's first run with trend checkpoints (issue 17, item 5), against the real broker.

A group that has read part of the readings already (its offsets committed at ``K``) turns the
changelog on. Its windows must start at ``K``, not at the beginning of the readings (the
windows of its earlier runs were not kept), and a kill -9 of that first run before it wrote
any checkpoint must lose nothing: the spout wrote the origin record (the offsets it started
from) before its first poll, and the restart catches up from there.

Oracles: the counts per (rule, window) are recounted here from the records themselves with
``tests/kafka/oracle.py`` (its own payload checks, BMI and rules), over the records at or after
``K`` only; and the killed run's last counts must equal an uninterrupted run's from the same
offsets. One partition and one task per bolt keep the alerts in record order, so no alert is
late (a late one would make a count lower than the oracle's).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

from squall.kafka.admin import ensure_topics
from squall.kafka.catch_up_read import BUFFER
from squall.kafka.changelog import decode_origin, encode, ensure_changelog, plan_catch_up
from tests.kafka.kit import read_topic
from tests.kafka.oracle import alerts_of, rules, valid_reading
from tests.kafka.test_trend_changelog import Run, read_ranges
from tests.polling import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

HISTORY = 4_000  # readings before the group's committed offset K (= HISTORY)
READINGS = 10_000  # in all: 6,000 after K, written while the runs read
STEP_MS = 5
T0_MS = (int(time.time()) - 3600) // 60 * 60_000  # an hour ago (the broker's timestamp bounds)
RATE_HZ = 600


def _readings() -> Iterator[tuple[int, bytes]]:
    rng = random.Random(23)
    for n in range(READINGS):
        body = {"idade": rng.randint(18, 80), "altura": rng.randint(150, 195)}
        body["peso"] = rng.randint(50, 120)
        yield T0_MS + n * STEP_MS, json.dumps([n, body]).encode()


def _produce(bootstrap: str, topic: str, first: int, last: int, paced: bool) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    start = time.monotonic()
    for n, (ts, payload) in enumerate(_readings()):
        if not first <= n < last:
            continue
        producer.send(topic, payload, partition=0, timestamp_ms=ts)
        ahead = (n - first) / RATE_HZ - (time.monotonic() - start)
        if paced and ahead > 0:
            time.sleep(ahead)
    producer.flush(timeout=60)
    producer.close()


def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(offset, "", -1)})
    consumer.close()


def _oracle(since: int) -> Callable[[str, int, int], int]:
    """(rule, start, end) -> alerts of the readings at offsets >= ``since`` in the window
    ``(start, end]`` (docs/windows.md: a window holds ``start < ts <= end``)."""
    config_rules = rules()
    alerts = []  # (rule, ts)
    for n, (ts, payload) in enumerate(_readings()):
        reading = valid_reading(payload) if n >= since else None
        if reading is not None:
            alerts += [(rule, ts) for rule in alerts_of(reading, config_rules)]

    def count(rule: str, start: int, end: int) -> int:
        return sum(1 for r, ts in alerts if r == rule and start < ts <= end)

    return count


@dataclass
class FirstRuns:
    b: Run  # changelog on, from K, uninterrupted
    c: Run  # changelog on, from K, killed before its first checkpoint, restarted
    killed_at: int
    keys_at_kill: list[str]
    origin: dict[tuple[str, int], int]
    log_b: str
    log_c: str


@pytest.fixture(scope="module")
def first_runs(kafka_bootstrap: str) -> Iterator[FirstRuns]:
    readings = f"readings-first-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, {readings: 1})
    _produce(kafka_bootstrap, readings, 0, HISTORY, paced=False)
    b = Run(kafka_bootstrap, readings, "first-b", changelog=True)
    # an hour between checkpoints: the kill comes before the first one
    c = Run(kafka_bootstrap, readings, "first-c", changelog=True, checkpoint_s=3600)
    for run in (b, c):
        _commit(kafka_bootstrap, run.group, readings, HISTORY)  # read by earlier runs
    producer = threading.Thread(
        target=_produce, args=(kafka_bootstrap, readings, HISTORY, READINGS, True)
    )
    try:
        b.start()
        c.start()
        # the rest is written once both spouts have planned (they read while it arrives)
        for run in (b, c):
            eventually(
                lambda run=run: (
                    "catch-up for the state in" in run.log.read_text() or not run.alive()
                ),
                f"run {run.group} planning its catch-up",
                timeout_s=120,
            )
            assert run.alive(), run.tail()
        producer.start()
        killed_at = eventually(
            lambda: (c.committed() >= HISTORY + 1_500 and c.committed()) or not c.alive(),
            "run C committing 1500 readings past K",
            timeout_s=180,
            every_s=0.1,
        )
        assert c.alive() and c.proc is not None, c.tail()
        c.proc.kill()
        c.proc.wait(30)
        keys_at_kill = c.changelog_keys()
        assert c.changelog is not None
        origin = decode_origin(read_topic(kafka_bootstrap, c.changelog)[0].value)
        c.start()
        producer.join(120)
        b.finish(READINGS)
        c.finish(READINGS)
    finally:
        b.stop()
        c.stop()
    yield FirstRuns(b, c, killed_at, keys_at_kill, origin, b.log.read_text(), c.log.read_text())
    b.log.unlink()
    c.log.unlink()


def test_the_first_checkpointed_run_counts_only_records_after_the_committed_offsets(
    first_runs: FirstRuns,
) -> None:
    b = first_runs.b
    counts, records = b.final_counts()
    oracle = _oracle(since=HISTORY)
    wrong = {k: (n, oracle(*k)) for k, n in counts.items() if n != oracle(*k)}
    k_ms = T0_MS + HISTORY * STEP_MS  # the event time of the first reading after K
    # windows that hold the last reading before K and the first after it
    straddling = [k for k, n in counts.items() if k[1] < k_ms - STEP_MS and k_ms <= k[2] and n]
    print(f"\nB: {len(counts)} windows ({records} records), {len(straddling)} straddle K")
    assert len(counts) >= 20  # 2 rules x ~15 windows over the 30 s after K
    assert wrong == {}  # (count, oracle's): a record before K counted would show here
    # windows holding event time before K exist, and hold only what came after K
    assert len(straddling) >= 4
    assert re.findall(r"(\d+) committed records to re-emit", first_runs.log_b) == ["0"]
    assert "written as the origin" in first_runs.log_b
    assert b.changelog is not None
    origin = read_topic(b.bootstrap, b.changelog)[0]
    assert origin.key.decode() == f"{b.group}/origin"
    assert decode_origin(origin.value) == {(b.readings, 0): HISTORY}


def test_a_kill_9_before_the_first_checkpoint_loses_no_count(first_runs: FirstRuns) -> None:
    b, c = first_runs.b, first_runs.c
    # killed mid-stream with the origin as the changelog's only record: no checkpoint yet
    assert HISTORY < first_runs.killed_at < READINGS
    assert first_runs.keys_at_kill == [f"{c.group}/origin"]
    assert first_runs.origin == {(c.readings, 0): HISTORY}
    counts_b, _ = b.final_counts()
    counts_c, records_c = c.final_counts()
    planned = re.findall(r"(\d+) committed records to re-emit, (\{[^}]*\}|none)", first_runs.log_c)
    done = re.findall(r"done: (\d+) records re-emitted, at most (\d+) held", first_runs.log_c)
    print(
        f"\nC killed at {first_runs.killed_at} committed (K = {HISTORY}); catch-up {planned}, "
        f"{done}; windows: B {len(counts_b)}, C {len(counts_c)} ({records_c} records)"
    )
    assert counts_c == counts_b
    oracle = _oracle(since=HISTORY)
    assert all(n == oracle(*k) for k, n in counts_c.items())
    # the first start re-read nothing; the restart re-read from the origin to the commit
    assert [n for n, _ in planned][0] == "0" and len(planned) == 2
    ranges = re.findall(r"\((\d+), (\d+)\)", planned[1][1])
    assert len(ranges) == 1 and int(ranges[0][0]) == HISTORY
    assert int(ranges[0][1]) >= first_runs.killed_at
    assert done == [(str(int(ranges[0][1]) - HISTORY), done[0][1])]
    assert int(done[0][1]) <= BUFFER  # one partition: the bound is one buffer


# -- the plan, without a topology ------------------------------------------------------------


def test_the_origin_bounds_every_later_catch_up(kafka_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    readings, changelog, group = f"readings-o-{tag}", f"changelog-o-{tag}", f"g-{tag}"
    ensure_topics(kafka_bootstrap, {readings: 1})
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for n in range(10):
        producer.send(readings, b"%d" % n, partition=0, timestamp_ms=T0_MS + n * 1_000)
    producer.flush()
    _commit(kafka_bootstrap, group, readings, 6)

    def plan() -> Any:
        return plan_catch_up(kafka_bootstrap, [readings], group, changelog, f"{group}/")

    first = plan()  # no checkpoint, no origin: the first checkpointed run
    assert (first.ranges, first.origin) == ({}, {(readings, 0): 6})
    assert [r.key for r in read_topic(kafka_bootstrap, changelog)] == [f"{group}/origin".encode()]
    _commit(kafka_bootstrap, group, readings, 9)  # the run read on, then crashed
    again = plan()
    assert again.ranges == {(readings, 0): (6, 9)}
    assert [r.value for r in read_ranges(kafka_bootstrap, again.ranges)] == [b"6", b"7", b"8"]
    key = f"{group}/trend/0-of-1".encode()
    for resume_n, value, expected in [
        (2, None, (6, 9)),  # a watermark before the origin: not before the origin
        (7, None, (7, 9)),
        (None, b"{damaged", (6, 9)),  # unreadable: recounted from the origin
    ]:
        raw = value or encode(T0_MS + resume_n * 1_000 if resume_n else None, {})
        producer.send(changelog, key=key, value=raw).get(30)
        assert plan().ranges == {(readings, 0): expected}, (resume_n, value)
    assert Counter(r.key for r in read_topic(kafka_bootstrap, changelog))[key] == 3
    assert len(read_topic(kafka_bootstrap, changelog)) == 4  # no second origin

    # A group with no commit and a backfill: the origin is where this run starts.
    backfill = plan_catch_up(
        kafka_bootstrap, [readings], f"{group}-b", changelog, f"{group}-b/", starts={}
    )
    assert backfill.origin == {(readings, 0): 0}  # auto.offset.reset earliest
    started = plan_catch_up(
        kafka_bootstrap,
        [readings],
        f"{group}-s",
        changelog,
        f"{group}-s/",
        starts={(readings, 0): 3},
    )
    assert started.origin == {(readings, 0): 3}
    # An unreadable origin: said, not trusted, not replaced; without a checkpoint, from 0.
    producer.send(changelog, key=f"{group}-x/origin".encode(), value=b"[]").get(30)
    _commit(kafka_bootstrap, f"{group}-x", readings, 5)
    bad = plan_catch_up(kafka_bootstrap, [readings], f"{group}-x", changelog, f"{group}-x/")
    producer.close()
    assert bad.ranges == {(readings, 0): (0, 5)} and bad.origin is None
    assert bad.problem is not None and bad.problem.startswith(
        f"origin record {changelog}:0:6 (key {group}-x/origin) is unreadable: format is 'list'"
    )
    ensure_changelog(kafka_bootstrap, changelog)  # still the compacted topic it made

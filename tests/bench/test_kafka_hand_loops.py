"""The Kafka hand loops of `make bench` (bench/kafka_hand_loops.py) do HealthKafkaTopology's work.

On a tiny backlog in a real broker, each loop's alerts, dead letters and trend windows equal an
oracle computed here from the produced records with this file's own arithmetic (BMI, the two
default rules, sliding-window sums), and its group's commits cover the backlog. Never a timing.

    records   ts = T0 + i x 100 ms (event time: in the payload, or the Kafka timestamp for the
              course form), 1 in 7 malformed (truncated JSON, not UTF-8, not an object or list)
    windows   10 s, sliding every 2 s, ending at multiples of 2 s; a window (E - 10 s, E] is
              reported once the watermark (latest alert ts - 1 s) is past E
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bench.kafka_hand_loops import LOOPS, LoopRun, OutputTopics
from squall.kafka.admin import ensure_topics
from squall.kafka.broker import Broker
from squall.kafka.provision import instance_dir, is_provisioned

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(not is_provisioned(), reason="Kafka not provisioned (make kafka-runtime)"),
]

RECORDS = 300
STEP_MS = 100
WINDOW_MS, SLIDE_MS, LAG_MS = 10_000, 2_000, 1_000  # config.yaml's windows, TrendBolt's lag
PREFIX = "hand-loops-"


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    """A broker of this module's own: tests/kafka's session broker is that directory's fixture,
    and a second session fixture of the same instance name would remove it mid-session."""
    instances = instance_dir("x").parent
    for home in instances.glob(f"{PREFIX}*") if instances.is_dir() else []:
        owner = home.name.removeprefix(PREFIX)
        if owner.isdigit() and not os.path.exists(f"/proc/{owner}"):
            Broker(home.name).remove()  # left by a killed session
    broker = Broker(f"{PREFIX}{os.getpid()}", heap="512m")
    broker.remove()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        broker.remove()


@dataclass(frozen=True)
class Backlog:
    """The produced records and what the topology's work must make of them."""

    alerts: Counter[tuple[str, int]]  # (rule, reading id) -> alerts
    invalid: int
    trend_total: int  # sum of the counts of every reported window, each rule's


def _fits(weight: int, height: int) -> bool:
    # Away from the BMI rule's boundary, so no rounding can tip a reading either way
    return abs(weight / (height / 100) ** 2 - 35) > 0.2


def _produce(bootstrap: str, topic: str, partitions: int) -> Backlog:
    from kafka import KafkaProducer

    rng = random.Random(13)
    t0 = time.time_ns() // 1_000_000 - 120_000  # recent: retention never touches it
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    alerts: Counter[tuple[str, int]] = Counter()
    alert_times: list[tuple[str, int]] = []
    invalid = 0
    for i in range(RECORDS):
        ts, patient = t0 + i * STEP_MS, i % 37
        weight, height = rng.randint(30, 100), rng.randint(100, 200)
        while not _fits(weight, height):
            weight = rng.randint(30, 100)
        if i % 7 == 6:
            value = [b'{"id": 1, "age": 3', b"\xff\xfe not utf-8", b'"a string"'][i % 3]
            invalid += 1
        elif i % 2:  # self-describing, its own ts
            value = json.dumps(
                {"id": patient, "age": 30, "height_cm": height, "weight_kg": weight, "ts": ts}
            ).encode()
        else:  # the course's form: the record's timestamp is its event time
            value = json.dumps([patient, {"idade": 30, "altura": height, "peso": weight}]).encode()
        producer.send(topic, value=value, partition=i % partitions, timestamp_ms=ts)
        if i % 7 != 6:
            for rule, fires in (
                ("weight_kg > 80", weight > 80),
                ("bmi > 35", weight / (height / 100) ** 2 > 35),
            ):
                if fires:
                    alerts[(rule, patient)] += 1
                    alert_times.append((rule, ts))
    producer.flush()
    producer.close()
    # Windows end at multiples of the slide, from the one holding the first alert, up to the
    # last one the final watermark passed; an empty window adds 0 to the sum either way.
    watermark = max(ts for _, ts in alert_times) - LAG_MS
    end = -(-min(ts for _, ts in alert_times) // SLIDE_MS) * SLIDE_MS
    total = 0
    while end < watermark:
        total += sum(1 for _, ts in alert_times if end - WINDOW_MS < ts <= end)
        end += SLIDE_MS
    return Backlog(alerts, invalid, total)


def _read(bootstrap: str, topic: str) -> list[tuple[bytes | None, Any]]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(parts)
    out: list[tuple[bytes | None, Any]] = []
    while any(consumer.position(tp) < ends[tp] for tp in parts):
        for batch in consumer.poll(timeout_ms=500).values():
            out.extend((r.key, json.loads(r.value)) for r in batch)
    consumer.close()
    return out


def _committed(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """(offsets the group committed, records in the topic), over its partitions."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    ends = consumer.end_offsets(parts)
    consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    committed = admin.list_group_offsets(group).get(group, {})
    admin.close()
    return sum(committed[tp].offset for tp in parts if tp in committed), sum(ends.values())


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("client", list(LOOPS))
def test_a_hand_loop_does_the_topologys_work(bootstrap: str, client: str, partitions: int) -> None:
    tag = uuid.uuid4().hex[:8]
    readings = f"readings-{tag}"
    out = OutputTopics(f"alerts-{tag}", f"invalid-{tag}", f"trends-{tag}")
    ensure_topics(bootstrap, {readings: partitions, out.alerts: 1, out.invalid: 1, out.trends: 1})
    expected = _produce(bootstrap, readings, partitions)

    run: LoopRun = LOOPS[client](bootstrap, readings, out, f"group-{tag}", timeout_s=60)

    alerts = _read(bootstrap, out.alerts)
    got = Counter((value["rule"], value["reading_id"]) for _, value in alerts)
    assert got == expected.alerts
    assert all(key == str(value["reading_id"]).encode() for key, value in alerts)
    assert {value["reading"]["source"].rsplit(":", 2)[0] for _, value in alerts} == {readings}
    dead = _read(bootstrap, out.invalid)
    assert len(dead) == expected.invalid
    assert {value["stage"] for _, value in dead} == {"parse", "spout"}  # not-UTF-8: the spout's
    assert (run.records, run.outcome.alerts, run.outcome.invalid) == (
        RECORDS,
        sum(expected.alerts.values()),
        expected.invalid,
    )
    windows = _read(bootstrap, out.trends)
    assert sum(value["count"] for _, value in windows) == run.outcome.trend_total
    if partitions == 1:
        # In event-time order no alert is late, and the windows are exactly the oracle's. With
        # 3 partitions a partition's later readings may come before another's earlier ones and
        # be behind the watermark then: which ones depends on the fetches.
        assert run.late == 0
        assert run.outcome.trend_total == expected.trend_total > 0
    assert _committed(bootstrap, f"group-{tag}", readings) == (RECORDS, RECORDS)

"""KafkaHealthSpout's consumer-group membership against the real broker, driven the way Storm
drives a spout: ``next_tuple`` until ``topology.max.spout.pending`` tuples are in flight, acks
coming back a little later.

A lone member must keep its first assignment. With kafka-python 3.0.12 it did not, two runs in
three: the leader assigned from an empty metadata snapshot, rebalanced a moment later, and every
in-flight reading was emitted twice (under Storm the rejoin then hung for minutes).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kafka import KafkaProducer

from spouts.kafka_health import KafkaHealthSpout
from squall.testing import SpoutHarness
from tests.kafka.kit import HealthTopics

pytestmark = pytest.mark.kafka

READINGS = 1500
MAX_PENDING = 500


def produce(topics: HealthTopics, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap, acks="all")
    for i in range(count):
        doc = {"id": i, "age": 30, "height_cm": 170, "weight_kg": 70, "ts": 1_795_000_000_000 + i}
        producer.send(topics.readings, json.dumps(doc).encode(), partition=0)
    producer.flush()
    producer.close()


def drive_like_storm(harness: SpoutHarness, total: int, timeout_s: float = 60) -> list[str]:
    """Every tup_id the spout emitted, in order, until ``total`` distinct ones are acked."""
    emitted: list[str] = []
    pending: list[Any] = []
    acked: set[str] = set()
    started = time.monotonic()
    while len(acked) < total:
        assert time.monotonic() - started < timeout_s, f"only {len(acked)}/{total} acked"
        if len(pending) < MAX_PENDING:
            for emission in harness.next_tuple():
                emitted.append(emission.tup_id)
                pending.append(emission.tup_id)
        if time.monotonic() - started > 0.3:  # the first acks come back a little later
            for tup_id in pending[:20]:
                harness.ack(tup_id)
                acked.add(tup_id)
            del pending[:20]
        time.sleep(0.0005)
    return emitted


@pytest.mark.parametrize("attempt", range(3))
def test_a_lone_member_keeps_its_first_assignment(kafka_bootstrap: str, attempt: int) -> None:
    topics = HealthTopics.fresh(kafka_bootstrap, partitions=1)
    produce(topics, READINGS)
    harness = SpoutHarness(KafkaHealthSpout, topics.conf(), component="kafka")
    spout = harness.spout
    revokes: list[Any] = []
    on_revoked = spout.on_revoked
    # the first join "revokes" the empty set; count real revokes only
    spout.on_revoked = lambda revoked: (revoked and revokes.append(revoked), on_revoked(revoked))[1]
    try:
        emitted = drive_like_storm(harness, READINGS)
        revoked_while_running = list(revokes)  # close() revokes too
    finally:
        spout.close()
    assert revoked_while_running == []
    assert len(emitted) == READINGS  # nothing emitted twice
    assert spout.stats["consumer_replacements"] == 0

"""Issue 15, item 6: replays on demand. ``squall.kafka.spout.start`` makes a Kafka spout
whose group has committed everything read again from the beginning, from a time, or from
given offsets; the default goes on from the commits. Against the real broker, with records
of known timestamps; the spout's group join runs on real time."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

from spouts.kafka_health import KafkaHealthSpout
from squall.kafka.admin import ensure_topics
from squall.testing import SpoutHarness
from tests.polling import eventually

pytestmark = pytest.mark.kafka

T0 = 1_750_000_000_000
RECORDS = 10  # record i: partition i % 2, timestamp T0 + i s, payload naming i


@pytest.fixture(scope="module")
def backlog(kafka_bootstrap: str) -> tuple[str, str, dict[int, tuple[int, int]]]:
    """A topic whose group has committed every record: (topic, group, i -> (partition, offset))."""
    topic, group = f"backfill-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, {topic: 2, "health.invalid": 1})
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    where = {}
    for i in range(RECORDS):
        payload = f'[{i}, {{"idade": 40, "altura": 170, "peso": 90}}]'.encode()
        meta = producer.send(topic, payload, partition=i % 2, timestamp_ms=T0 + 1000 * i).get(30)
        where[i] = (meta.partition, meta.offset)
    producer.close()
    committer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    parts = [TopicPartition(topic, p) for p in (0, 1)]
    ends = committer.end_offsets(parts)
    committer.assign(parts)
    committer.commit({tp: OffsetAndMetadata(ends[tp], "", -1) for tp in parts})
    committer.close()
    return topic, group, where


def read_ids(
    bootstrap: str, topic: str, group: str, start: str | None, expect: int, client: str
) -> set[int]:
    conf = {
        "health.kafka.bootstrap.servers": bootstrap,
        "health.kafka.readings.topic": topic,
        "health.kafka.group.id": group,
        "squall.kafka.client": client,  # each test runs on both backends (conftest.py)
    }
    if start is not None:
        conf["squall.kafka.spout.start"] = start
    spout = SpoutHarness(KafkaHealthSpout, conf, component="kafka")
    ids: set[int] = set()

    def enough() -> bool:
        for emission in spout.next_tuple():
            ids.add(int(emission.values[0].split(",")[0].strip("[")))
            spout.ack(emission.tup_id)
        return len(ids) >= expect and spout.spout.consumer.assignment() != set()

    try:
        eventually(enough, f"{expect} records with start={start}", timeout_s=60, every_s=0.05)
        for _ in range(40):  # a little longer: nothing more may come
            enough()
    finally:
        spout.spout.close()
    return ids


def test_the_default_goes_on_from_the_commits(kafka_bootstrap, backlog, client) -> None:
    topic, group, _ = backlog
    assert read_ids(kafka_bootstrap, topic, group, None, 0, client) == set()


def test_earliest_reads_everything_again(kafka_bootstrap, backlog, client) -> None:
    topic, group, _ = backlog
    assert read_ids(kafka_bootstrap, topic, group, "earliest", RECORDS, client) == set(
        range(RECORDS)
    )


def test_a_timestamp_reads_from_the_first_record_at_or_after_it(
    kafka_bootstrap, backlog, client
) -> None:
    topic, group, _ = backlog
    got = read_ids(kafka_bootstrap, topic, group, f"timestamp:{T0 + 6000}", 4, client)
    assert got == {6, 7, 8, 9}


def test_offsets_start_the_named_partitions_there(kafka_bootstrap, backlog, client) -> None:
    topic, group, where = backlog
    # partition 0 from offset 3; partition 1 not named: from its commit (its end)
    expected = {i for i, (p, o) in where.items() if p == 0 and o >= 3}
    got = read_ids(kafka_bootstrap, topic, group, "offsets:0=3", len(expected), client)
    assert got == expected and expected

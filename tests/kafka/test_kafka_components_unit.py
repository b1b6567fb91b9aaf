"""The Kafka spout and sinks alone, with in-memory stand-ins for kafka-python's clients.

These check our own bookkeeping (what is emitted, acked, committed, replayed, dead-lettered)
step by step; the real-broker behaviour is in test_kafka_e2e.py.
"""

from __future__ import annotations

import json
import time
from collections import namedtuple
from typing import Any

import kafka
import pytest
from kafka import OffsetAndMetadata, TopicPartition
from kafka.future import Future

from bolts.kafka_parse import KafkaParseBolt
from bolts.kafka_sink import (
    AlertsKafkaSink,
    DeadLetterKafkaSink,
    TrendsKafkaSink,
    source_object,
)
from health_core.trend import TREND_FIELDS
from spouts.kafka_health import KafkaHealthSpout
from squall.kafka.errors import KafkaConfigError
from squall.kafka.rebalance import watch_assignment
from squall.testing import BoltHarness, SpoutHarness, make_tuple

# kafka-python's ConsumerRecord fields the spout reads (key and timestamp: the real-time runtime)
Record = namedtuple("Record", "topic partition offset value key timestamp", defaults=(None, None))
TOPIC = "health.readings"


class SendFuture(Future):
    """kafka-python's send future: ``get`` blocks for the broker's answer (here: is it there)."""

    def get(self, timeout: float | None = None) -> Any:
        if not self.is_done:
            raise kafka.errors.KafkaTimeoutError(f"no answer within {timeout}s")
        if self.failed():
            raise self.exception
        return self.value


class FakeProducer:
    """Records sends; futures complete only when the test says the broker answered."""

    instances: list[FakeProducer] = []

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.sent: list[tuple[str, bytes | None, bytes, Future]] = []
        self.auto_ack = True
        FakeProducer.instances.append(self)

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> Future:
        future = SendFuture()
        self.sent.append((topic, key, value, future))
        if self.auto_ack:
            future.success(object())
        return future

    def partitions_for(self, topic: str) -> set[int] | None:
        return None if topic.startswith("missing") else {0}

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


class FakeConsumer:
    """Hands out queued records from ``poll``; records commits; can simulate a rebalance."""

    instances: list[FakeConsumer] = []

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.queue: list[Record] = []
        self.commits: list[dict[TopicPartition, OffsetAndMetadata]] = []
        self.listener: Any = None
        self.seeks: list[tuple[str, int, int]] = []
        FakeConsumer.instances.append(self)

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, p) for p in range(4)}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set() if topic.startswith("missing") else {0, 1, 2, 3}

    def topics(self) -> set[str]:
        return {t for t in getattr(self, "topics_", []) if not t.startswith("missing")}

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self.topics_ = topics
        self.listener = listener

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Record]]:
        n = len(self.queue) if max_records is None else max_records
        taken, self.queue = self.queue[:n], self.queue[n:]
        out: dict[Any, list[Record]] = {}
        for record in taken:
            out.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return out

    def commit(
        self, offsets: dict[TopicPartition, OffsetAndMetadata], timeout_ms: int | None = None
    ) -> None:
        self.commits.append(offsets)

    def commit_async(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> Future:
        # the broker answers at once here; the spout reads the answer on its next turn
        self.commits.append(offsets)
        future = Future()
        future.success(None)
        return future

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp.topic, tp.partition, offset))

    def close(self, autocommit: bool = True) -> None:
        pass


@pytest.fixture(autouse=True)
def fake_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeProducer.instances.clear()
    FakeConsumer.instances.clear()
    monkeypatch.setattr(kafka, "KafkaProducer", FakeProducer)
    monkeypatch.setattr(kafka, "KafkaConsumer", FakeConsumer)


def spout(tuning: dict[str, Any] | None = None) -> tuple[SpoutHarness, FakeConsumer, FakeProducer]:
    """A spout task on the fake broker; ``tuning``: ``squall.kafka.spout.*`` keys."""
    conf = {
        "health.kafka.bootstrap.servers": "127.0.0.1:9",
        "squall.kafka.spout.commit.interval.secs": 0,  # commit at every chance: visible at once
        **(tuning or {}),
    }
    harness = SpoutHarness(KafkaHealthSpout, conf, component="kafka")
    return harness, FakeConsumer.instances[-1], FakeProducer.instances[-1]


def records(partition: int, offsets: range, value: bytes = b'[1, {"idade": 1}]') -> list[Record]:
    return [Record(TOPIC, partition, o, value) for o in offsets]


def drain(harness: SpoutHarness, rounds: int = 50) -> list[Any]:
    out = []
    for _ in range(rounds):
        harness.spout._idle_until = 0.0  # no idle back-off: the fake broker answers at once
        out.extend(harness.next_tuple())
    return out


def last_commit(consumer: FakeConsumer) -> dict[tuple[str, int], int]:
    merged: dict[tuple[str, int], int] = {}
    for commit in consumer.commits:
        merged.update({(tp.topic, tp.partition): meta.offset for tp, meta in commit.items()})
    return merged


def test_spout_emits_payload_source_and_timestamp_with_a_string_tup_id() -> None:
    harness, consumer, _ = spout()
    consumer.queue = records(0, range(3)) + records(1, range(5, 6))
    consumer.queue[0] = consumer.queue[0]._replace(timestamp=1_700_000_000_123)
    emitted = drain(harness)
    assert [e.tup_id for e in emitted] == [
        f"{TOPIC}:0:0",
        f"{TOPIC}:0:1",
        f"{TOPIC}:0:2",
        f"{TOPIC}:1:5",
    ]
    # the record's Kafka timestamp: a course-form reading's event time (KafkaParseBolt)
    assert emitted[0].values == ['[1, {"idade": 1}]', f"{TOPIC}:0:0", 1_700_000_000_123]
    assert emitted[1].values == ['[1, {"idade": 1}]', f"{TOPIC}:0:1", None]  # none known
    assert json.loads(json.dumps(emitted[0].tup_id)) == emitted[0].tup_id
    # group member settings that make at-least-once possible
    assert consumer.config["enable_auto_commit"] is False
    assert consumer.config["group_id"] == "squall-health"


def test_spout_refuses_to_start_on_a_missing_topic() -> None:
    with pytest.raises(KafkaConfigError, match="topic 'missing.readings' does not exist on"):
        SpoutHarness(
            KafkaHealthSpout,
            {
                "health.kafka.bootstrap.servers": "127.0.0.1:9",
                "health.kafka.readings.topic": "missing.readings",
            },
        )


def test_spout_commits_only_the_acked_prefix() -> None:
    harness, consumer, _ = spout()
    consumer.queue = records(0, range(4))
    drain(harness)
    harness.ack(f"{TOPIC}:0:1")
    harness.ack(f"{TOPIC}:0:2")
    assert last_commit(consumer).get((TOPIC, 0), 0) == 0  # 0 is still in flight
    harness.ack(f"{TOPIC}:0:0")
    assert last_commit(consumer)[(TOPIC, 0)] == 3
    harness.ack(f"{TOPIC}:0:3")
    assert last_commit(consumer)[(TOPIC, 0)] == 4


def test_failed_tuple_is_replayed_then_dead_lettered_with_its_reason() -> None:
    harness, consumer, producer = spout({"squall.kafka.spout.max.attempts": 2})
    consumer.queue = records(0, range(2), value=b'{"id": 5}')
    first = drain(harness)
    tup_id = f"{TOPIC}:0:0"
    harness.fail(tup_id)
    replay = harness.next_tuple()
    assert [(e.tup_id, e.values) for e in replay] == [(tup_id, first[0].values)]
    harness.fail(tup_id)  # second failure = max_attempts: dead-lettered, not replayed
    assert drain(harness) == []
    assert len(producer.sent) == 1
    topic, key, value, _ = producer.sent[0]
    assert topic == "health.invalid"
    assert key == tup_id.encode()
    dead = json.loads(value)
    assert dead["raw"] == '{"id": 5}'
    assert "failed 2 times" in dead["reason"]
    assert dead["source"] == {"topic": TOPIC, "partition": 0, "offset": 0}
    assert dead["stage"] == "spout"
    # dead-lettered counts as done: the commit moves past it once 1 is acked too
    harness.ack(f"{TOPIC}:0:1")
    assert last_commit(consumer)[(TOPIC, 0)] == 2


def test_dead_letter_waits_for_the_broker_before_counting_as_done() -> None:
    harness, consumer, producer = spout({"squall.kafka.spout.max.attempts": 1})
    consumer.queue = records(0, range(1))
    drain(harness)

    def refuse(topic: str, value: bytes, key: bytes | None = None) -> Future:
        future = SendFuture()
        future.failure(kafka.errors.KafkaTimeoutError("broker down"))
        return future

    producer.send = refuse  # type: ignore[method-assign]
    harness.fail(f"{TOPIC}:0:0")
    assert last_commit(consumer).get((TOPIC, 0), 0) == 0
    del producer.send  # the broker is back
    drain(harness, rounds=1)
    assert last_commit(consumer)[(TOPIC, 0)] == 1
    assert len(producer.sent) == 1


def test_non_utf8_payload_goes_straight_to_the_dead_letter_topic() -> None:
    harness, consumer, producer = spout()
    consumer.queue = records(3, range(7, 8), value=b"\xff\xfeabc")
    assert drain(harness) == []
    dead = json.loads(producer.sent[0][2])
    assert dead["reason"] == "payload is not UTF-8: byte 0xff at offset 0"
    assert dead["raw"] == "\\xff\\xfeabc"
    assert last_commit(consumer)[(TOPIC, 3)] == 8


def test_in_flight_is_bounded() -> None:
    harness, consumer, _ = spout({"squall.kafka.spout.max.in.flight": 3})
    consumer.queue = records(0, range(10))
    assert len(drain(harness)) == 3
    harness.ack(f"{TOPIC}:0:0")
    assert len(drain(harness)) == 1


def test_rebalance_drops_revoked_partitions_cleanly() -> None:
    harness, consumer, _ = spout()
    consumer.queue = records(0, range(3)) + records(1, range(3))
    drain(harness)
    harness.ack(f"{TOPIC}:0:0")
    harness.fail(f"{TOPIC}:0:1")  # queued for replay
    commits_before = len(consumer.commits)
    consumer.listener.on_partitions_revoked([TopicPartition(TOPIC, 0)])
    # no commit from inside the listener (kafka-python runs it on its event loop)
    assert len(consumer.commits) == commits_before
    assert last_commit(consumer)[(TOPIC, 0)] == 1  # the periodic commit after the ack of 0
    commits_before = len(consumer.commits)
    assert harness.next_tuple() == []  # the replay of 0:1 was dropped with the partition
    harness.ack(f"{TOPIC}:0:2")  # a late ack for a revoked partition: ignored
    assert len(consumer.commits) == commits_before
    harness.ack(f"{TOPIC}:1:0")
    assert last_commit(consumer)[(TOPIC, 1)] == 1
    # the partition comes back (to us or another member) from its committed offset
    consumer.queue = records(0, range(1, 3))
    assert [e.tup_id for e in drain(harness)] == [f"{TOPIC}:0:1", f"{TOPIC}:0:2"]


def test_a_partition_back_after_a_rebalance_commits_its_acked_prefix() -> None:
    """Acked before the revoke, not yet committed, and nothing more to read: the next commit
    still covers it (seen: a run that never finished with 2,196 of 60,000 never committed)."""
    # no periodic commit in this test
    harness, consumer, _ = spout({"squall.kafka.spout.commit.interval.secs": 3600})
    consumer.queue = records(0, range(3)) + records(1, range(2))
    drain(harness)
    for offset in range(3):
        harness.ack(f"{TOPIC}:0:{offset}")
    harness.ack(f"{TOPIC}:1:0")  # 1:1 stays in flight
    assert consumer.commits == []
    consumer.listener.on_partitions_revoked([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
    consumer.listener.on_partitions_assigned([TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
    assert consumer.seeks == [(TOPIC, 0, 3), (TOPIC, 1, 1)]
    # kafka-python re-fetches from the seek: 1:1 comes again and is emitted again
    consumer.queue = records(1, range(1, 2))
    assert [e.tup_id for e in drain(harness)] == [f"{TOPIC}:1:1"]
    harness.spout._commit(force=True)
    assert last_commit(consumer) == {(TOPIC, 0): 3, (TOPIC, 1): 1}
    harness.ack(f"{TOPIC}:1:1")
    harness.spout._commit(force=True)
    assert last_commit(consumer) == {(TOPIC, 0): 3, (TOPIC, 1): 2}


def test_a_join_stuck_after_a_revoke_gets_a_fresh_consumer() -> None:
    """kafka-python keeps reporting revoked partitions until the new assignment arrives, so
    a rejoin that never completes must be noticed from the revoke itself."""
    harness, consumer, _ = spout({"squall.kafka.spout.stuck.join.secs": 20})
    consumer.queue = records(0, range(2))
    drain(harness)
    consumer.listener.on_partitions_revoked([TopicPartition(TOPIC, 0)])
    assert consumer.assignment()  # what kafka-python still says during the rejoin
    spout_ = harness.spout
    watch_assignment(spout_, time.monotonic() + 5)
    assert FakeConsumer.instances[-1] is consumer  # a rejoin may take a while
    watch_assignment(spout_, time.monotonic() + 21)
    fresh = FakeConsumer.instances[-1]
    assert fresh is not consumer and fresh.listener is not None
    assert spout_.stats["consumer_replacements"] == 1
    assert spout_.tracker.in_flight() == 0
    # the fresh member is assigned: no further replacement
    fresh.listener.on_partitions_assigned([TopicPartition(TOPIC, 0)])
    watch_assignment(spout_, time.monotonic() + 60)
    assert FakeConsumer.instances[-1] is fresh


def test_a_completed_rejoin_is_left_alone() -> None:
    harness, consumer, _ = spout({"squall.kafka.spout.stuck.join.secs": 20})
    consumer.listener.on_partitions_revoked([TopicPartition(TOPIC, 0)])
    consumer.listener.on_partitions_assigned([TopicPartition(TOPIC, 0)])
    watch_assignment(harness.spout, time.monotonic() + 60)
    assert FakeConsumer.instances[-1] is consumer


def test_spout_reads_its_dotted_keys_typed() -> None:
    tuning = {
        "squall.kafka.spout.commit.interval.secs": "250ms",
        "squall.kafka.spout.session.timeout.ms": 6000,
    }
    harness, consumer, _ = spout(tuning)
    settings = harness.spout.settings
    assert (settings.commit_interval_s, settings.session_timeout_ms) == (0.25, 6000)
    assert consumer.config["session_timeout_ms"] == 6000


# --------------------------------------------------------------------------------- sinks

ALERT_SOURCES = {"threshold": {"default": ["rule", "reading_id", "ts", "reading"]}}
CONF = {"health.kafka.bootstrap.servers": "127.0.0.1:9"}


def alert(reading_id: int) -> Any:
    return make_tuple(
        ["bmi > 35", reading_id, 1, {"id": reading_id}],
        fields=["rule", "reading_id", "ts", "reading"],
        component="threshold",
        id=reading_id,
    )


def test_sink_acks_only_after_the_broker_acknowledged() -> None:
    harness = BoltHarness(AlertsKafkaSink, CONF, component="alerts", sources=ALERT_SOURCES)
    producer = FakeProducer.instances[-1]
    producer.auto_ack = False
    harness.process(alert(7))
    harness.process(alert(8))
    assert harness.acked == []  # sent, but the broker has not answered
    producer.sent[0][3].success(object())
    harness.tick()
    assert harness.acked == [7]
    producer.sent[1][3].failure(kafka.errors.KafkaTimeoutError("no answer"))
    harness.tick()
    assert harness.failed == [8]  # the spout will replay it
    topic, key, value, _ = producer.sent[0]
    assert topic == "health.alerts"
    assert key == b"7"
    assert json.loads(value) == {
        "rule": "bmi > 35",
        "reading_id": 7,
        "ts": 1,
        "reading": {"id": 7},
        "alert_id": None,  # a reading that did not come from Kafka has no coordinates
    }


def test_an_alert_id_is_its_records_coordinates_and_rule_the_same_on_a_replay() -> None:
    harness = BoltHarness(AlertsKafkaSink, CONF, component="alerts", sources=ALERT_SOURCES)
    producer = FakeProducer.instances[-1]
    reading = {"id": 7, "source": "health.readings:2:17"}
    for rule, tup_id in (("bmi > 35", "a"), ("weight_kg > 80", "b"), ("bmi > 35", "replay")):
        harness.process(
            make_tuple(
                [rule, 7, 1, reading],
                fields=["rule", "reading_id", "ts", "reading"],
                component="threshold",
                id=tup_id,
            )
        )
    ids = [json.loads(value)["alert_id"] for _, _, value, _ in producer.sent]
    assert ids == [
        "health.readings:2:17/bmi > 35",
        "health.readings:2:17/weight_kg > 80",
        "health.readings:2:17/bmi > 35",
    ]


def test_trend_windows_go_to_the_configured_trends_topic() -> None:
    fields = list(TREND_FIELDS)
    harness = BoltHarness(
        TrendsKafkaSink,
        {**CONF, "health.kafka.trends.topic": "course.trends"},
        component="trends",
        sources={"trend": {"default": fields}},
    )
    harness.process(
        make_tuple(
            ["bmi > 35", 0, 10_000, 4, "rising", 1, 0.25, 2], fields=fields, component="trend", id=1
        )
    )
    topic, key, value, _ = FakeProducer.instances[-1].sent[0]
    assert (topic, key) == ("course.trends", b"bmi > 35")
    record = json.loads(value)
    assert (record["count"], record["precision"], record["error_bound"]) == (4, 0.25, 2)


def test_sink_reads_its_dotted_keys_typed() -> None:
    conf = {
        **CONF,
        "squall.kafka.sink.max.pending": 2,
        "squall.kafka.sink.flush.timeout.secs": "2s",
    }
    sink = BoltHarness(AlertsKafkaSink, conf, component="alerts")
    assert (sink.bolt.max_pending, sink.bolt.flush_timeout_s) == (2, 2.0)


def test_sink_settles_completed_writes_on_the_next_tuple_without_a_tick() -> None:
    harness = BoltHarness(AlertsKafkaSink, CONF, component="alerts", sources=ALERT_SOURCES)
    harness.process(alert(1))  # the fake broker answers at once
    harness.process(alert(2))
    assert harness.acked == [1, 2]


def test_sink_refuses_to_start_on_a_missing_topic() -> None:
    conf = {**CONF, "health.kafka.alerts.topic": "missing.alerts"}
    with pytest.raises(KafkaConfigError, match="topic 'missing.alerts' does not exist on"):
        BoltHarness(AlertsKafkaSink, conf, component="alerts")


def test_dead_letter_sink_names_the_source_record() -> None:
    sources = {"parse": {"invalid": ["raw", "reason", "ts", "source"]}}
    harness = BoltHarness(DeadLetterKafkaSink, CONF, component="dead_letter", sources=sources)
    tup = make_tuple(
        ["not json", "not valid JSON", 5, f"{TOPIC}:2:41"],
        fields=["raw", "reason", "ts", "source"],
        component="parse",
        stream="invalid",
        id=1,
    )
    harness.process(tup)
    topic, key, value, _ = FakeProducer.instances[-1].sent[0]
    assert topic == "health.invalid"
    assert key == f"{TOPIC}:2:41".encode()
    assert json.loads(value) == {
        "raw": "not json",
        "reason": "not valid JSON",
        "ts": 5,
        "source": {"topic": TOPIC, "partition": 2, "offset": 41},
        "stage": "parse",
    }
    assert harness.acked == [1]
    assert source_object(None) is None


def test_kafka_parse_bolt_appends_the_source_to_invalid_output() -> None:
    harness = BoltHarness(KafkaParseBolt, {}, component="parse")
    out = harness.process(make_tuple(["{oops", f"{TOPIC}:0:9"], fields=["payload", "source"]))
    assert [e.stream for e in out] == ["invalid"]
    raw, reason, _ts, source = out[0].values
    assert (raw, source) == ("{oops", f"{TOPIC}:0:9")
    assert "not valid JSON" in reason
    good = harness.process(
        make_tuple(['[3, {"idade": 30, "altura": 170, "peso": 70}]', f"{TOPIC}:0:10"])
    )
    assert [e.stream for e in good] == ["default"]
    assert good[0].values[0] == 3
    assert good[0].values[2]["source"] == f"{TOPIC}:0:10"  # TrendBolt counts a replay once


def test_overload_skips_routine_records_by_key_within_m_k_and_commits_them() -> None:
    # (m,k) = (1,2) per key under overload: of each key's jobs, every other one is skipped
    # (greedy: discard, run, discard, ...), judged by the record's key before any parsing.
    from squall.realtime.context import Overload, RealtimeContext
    from squall.realtime.deadlines import Deadlines, StreamDeadline
    from squall.realtime.metrics import Metrics

    harness, consumer, _ = spout()
    overload, metrics = Overload(), Metrics()
    decl = StreamDeadline("kafka", "default", 1.0, "firm", 1, 2, frozenset({"discard"}))
    harness.spout.realtime = RealtimeContext("kafka", Deadlines((decl,)), metrics, overload)
    keys = [b"7", b"7", b"8", b"7", b"8", b"7"]
    consumer.queue = [
        Record(TOPIC, 0, o, b'[1, {"idade": 1}]', key, 1_700_000_000_000 + o)
        for o, key in enumerate(keys)
    ]
    overload.active = True
    emitted = [e.tup_id for e in drain(harness)]
    # key 7: jobs at offsets 0, 1, 3, 5 -> skip, run, skip, run; key 8: offsets 2, 4 -> skip, run
    assert emitted == [f"{TOPIC}:0:1", f"{TOPIC}:0:4", f"{TOPIC}:0:5"]
    assert metrics.streams["kafka.default"].shed["discard"] == 3
    assert harness.spout.stats["shed"] == 3
    for tup_id in emitted:
        harness.ack(tup_id)
    # skipped records are done: the whole prefix commits, nothing is replayed
    assert last_commit(consumer)[(TOPIC, 0)] == 6
    assert drain(harness) == []


def test_no_record_is_skipped_without_overload_and_release_is_the_record_timestamp() -> None:
    from squall.realtime.context import Overload, RealtimeContext
    from squall.realtime.deadlines import Deadlines, StreamDeadline
    from squall.realtime.metrics import Metrics

    harness, consumer, _ = spout()
    decl = StreamDeadline("kafka", "default", 1.0, "firm", 1, 2, frozenset({"discard"}))
    harness.spout.realtime = RealtimeContext("kafka", Deadlines((decl,)), Metrics(), Overload())
    for offset in range(3):
        consumer.queue = [Record(TOPIC, 0, offset, b"[1, {}]", b"7", 1_700_000_000_000 + offset)]
        (emitted,) = drain(harness)
        assert emitted.tup_id == f"{TOPIC}:0:{offset}"
        # the tree's deadline runs from when the producer wrote the record
        assert harness.spout.release_time == pytest.approx(1_700_000_000 + offset / 1000)


def test_periodic_commits_are_asynchronous_one_at_a_time_and_retried_on_failure() -> None:
    # The loop never waits on a periodic commit: the request goes out, its answer is read on
    # a later turn; while it is on its way no second one is sent; a failure is retried.
    harness, consumer, _ = spout()
    answers: list[Future] = []

    def commit_async(offsets: dict[TopicPartition, OffsetAndMetadata]) -> Future:
        consumer.commits.append(offsets)
        answers.append(Future())  # not answered yet
        return answers[-1]

    consumer.commit_async = commit_async  # type: ignore[method-assign]
    consumer.commit = lambda *a, **k: pytest.fail("a periodic commit must not block")  # type: ignore[method-assign]
    consumer.queue = records(0, range(3))
    drain(harness)
    for answer in answers:  # whatever went out while emitting (offset 0): answered
        answer.success(None)
    drain(harness, rounds=1)
    answers.clear()
    consumer.commits.clear()
    commits = harness.spout.stats["commits"]
    harness.ack(f"{TOPIC}:0:0")
    assert last_commit(consumer) == {(TOPIC, 0): 1} and len(answers) == 1
    harness.ack(f"{TOPIC}:0:1")  # the first is unanswered: no second request
    assert len(answers) == 1 and harness.spout.stats["commits"] == commits
    answers[0].failure(kafka.errors.KafkaError("rebalancing"))
    harness.ack(f"{TOPIC}:0:2")  # failure read, retried with the newest offsets
    assert len(answers) == 2 and last_commit(consumer) == {(TOPIC, 0): 3}
    answers[1].success(None)
    drain(harness, rounds=1)
    assert harness.spout.stats["commits"] == commits + 1
    assert harness.spout.tracker.committed((TOPIC, 0)) == 3


def test_a_dead_letter_write_does_not_block_the_loop() -> None:
    # The broker has not answered the dead-letter write yet: the spout goes on (no wait), the
    # record is still in flight (not committed); once the answer comes it is done.
    harness, consumer, producer = spout({"squall.kafka.spout.max.attempts": 1})
    consumer.queue = records(0, range(2))
    drain(harness)
    producer.auto_ack = False
    harness.fail(f"{TOPIC}:0:0")
    harness.ack(f"{TOPIC}:0:1")
    (_topic, _key, _value, future) = producer.sent[-1]
    assert not future.is_done
    assert last_commit(consumer).get((TOPIC, 0), 0) == 0  # 0 is not done until the broker says
    future.success(object())
    drain(harness, rounds=1)
    assert last_commit(consumer)[(TOPIC, 0)] == 2
    assert harness.spout.stats["dead_lettered"] == 1


def test_a_poll_that_drained_the_fetched_records_pauses_the_next_one(monkeypatch) -> None:
    # A poll is a round trip to kafka-python's network thread; a hard stream's spout is asked
    # until it has nothing due, so after a poll that returned fewer records than it asked for
    # (the fetched ones are drained) the next poll waits DRAINED_PAUSE_S.
    from squall.kafka import spout as spout_module

    harness, consumer, _ = spout()
    asked: list[int | None] = []
    poll = consumer.poll

    def counting(timeout_ms: int = 0, max_records: int | None = None) -> Any:
        asked.append(max_records)
        return poll(timeout_ms, max_records)

    consumer.poll = counting  # type: ignore[method-assign]
    now = [1_000.0]
    monkeypatch.setattr(spout_module.time, "monotonic", lambda: now[0])
    harness.spout._idle_until = 0.0
    consumer.queue = records(0, range(3))
    assert len(harness.next_tuple()) == 3 and len(asked) == 1 and asked[0] > 3
    consumer.queue = records(0, range(3, 5))
    now[0] += spout_module.DRAINED_PAUSE_S / 2
    assert harness.next_tuple() == [] and len(asked) == 1  # within the pause: not polled
    now[0] += spout_module.DRAINED_PAUSE_S / 2
    assert len(harness.next_tuple()) == 2 and len(asked) == 2

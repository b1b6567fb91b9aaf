"""Issue 15, item 7: a Kafka spout or sink started before its broker (or while it is away)
says so in one line and tries again with backoff, instead of raising in ``initialize`` (under
Storm: a worker crash loop that ``sparse stats`` shows only as a broken pipe). Then a real
broker comes up on that address, and the spout reads and the sink writes through it.

The backoff runs on a manual clock; the broker's start and the group join on real time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bolts.kafka_sink import AlertsKafkaSink
from spouts.kafka_health import KafkaHealthSpout
from squall.kafka.broker import Broker
from squall.services import free_port
from squall.testing import BoltHarness, SpoutHarness, make_tick_tuple, make_tuple
from tests.polling import eventually

pytestmark = pytest.mark.kafka

PAYLOADS = [f'[{n}, {{"idade": 40, "altura": 170, "peso": 95}}]' for n in range(3)]


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_spout_and_sink_wait_for_a_broker_that_comes_up_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, client: str
) -> None:
    caplog.set_level(logging.WARNING)
    port = free_port()
    address = f"127.0.0.1:{port}"
    conf = {
        "health.kafka.bootstrap.servers": address,
        "health.kafka.readings.topic": "readings",
        "health.kafka.alerts.topic": "alerts",
        "squall.kafka.spout.commit.interval.secs": 0,
        "squall.kafka.client": client,
    }
    now = [0.0]
    spout = SpoutHarness(KafkaHealthSpout, conf, component="kafka")  # no broker: must not raise
    sink = BoltHarness(AlertsKafkaSink, conf, component="alerts")
    for part in (spout.spout, sink.bolt):
        part.reconnect.clock = lambda: now[0]
        part.reconnect.next_at = 0.0  # its first failure was scheduled on the real clock
    assert spout.spout.consumer is None and sink.bolt.producer is None
    assert len(warnings_about(caplog, f"cannot reach Kafka at {address}")) == 2  # one each

    # before the backoff is over nothing is tried; after it one more attempt, no new warning
    spout.spout.reconnect.next_at = 1.0
    assert spout.next_tuple() == [] and spout.spout.reconnect.failures == 1
    now[0] = 1.0
    assert spout.next_tuple() == [] and spout.spout.reconnect.failures == 2
    # the sink fails what it cannot write: the spout replays it once Kafka answers
    alert = make_tuple(
        ["bmi > 35", 7, 1_700_000_000_000, {"id": 7}], id="a1", component="threshold"
    )
    sink.process(alert)
    assert sink.failed == ["a1"] and sink.acked == []
    assert len(warnings_about(caplog, f"cannot reach Kafka at {address}")) == 2

    broker = Broker(f"test-reconnect-{tmp_path.name}")
    try:
        broker.start(port=port, topics={"readings": 1, "alerts": 1})
        producer = KafkaProducer(bootstrap_servers=address, acks="all")
        for payload in PAYLOADS:
            producer.send("readings", payload.encode()).get(timeout=30)
        producer.close()

        now[0] = 1000.0  # every backoff over
        spout.next_tuple()
        assert spout.spout.consumer is not None
        assert warnings_about(caplog, f"reached Kafka at {address} after 2 failed attempt(s)")

        def emitted() -> list[str] | None:
            spout.spout._idle_until = 0.0
            spout.next_tuple()
            got = [e.values[0] for e in spout.emitted]
            return got if len(got) == len(PAYLOADS) else None

        assert (
            eventually(emitted, "the records read through the late broker", timeout_s=60)
            == PAYLOADS
        )

        sink.process(
            make_tuple(
                ["bmi > 35", 8, 1_700_000_000_000, {"id": 8}], id="a2", component="threshold"
            )
        )

        def written() -> list[str]:
            sink.bolt.producer.flush(5)
            sink.process(make_tick_tuple())  # a tick settles the writes the broker answered
            return sink.acked

        eventually(written, "the alert's write acked", timeout_s=30)
        assert sink.acked == ["a2"]
        reader = KafkaConsumer(bootstrap_servers=address, enable_auto_commit=False)
        part = TopicPartition("alerts", 0)
        reader.assign([part])
        reader.seek_to_beginning(part)
        records = [r for batch in reader.poll(timeout_ms=5000).values() for r in batch]
        reader.close()
        assert len(records) == 1 and b'"id":8' in records[0].value.replace(b" ", b"")
    finally:
        spout.spout.close()
        sink.bolt.close()
        broker.remove()

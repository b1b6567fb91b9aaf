"""The client-library choice (``squall.kafka.client``) and the confluent-kafka adapter, without a
broker: the setting's errors word for word, kafka-python arguments as librdkafka settings,
librdkafka errors as kafka-python's classes, futures, and the rebalance and commit callbacks.

The same adapter against a real broker: the fault tests of tests/kafka/test_kafka_e2e.py and
tests/kafka/test_kafka_reconnect.py, which run on both backends (the ``client`` fixture).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import TopicPartition as RdTopicPartition
from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)

from squall.kafka import clients, confluent, settings
from squall.kafka.clients import new_consumer, new_producer
from squall.kafka.confluent import ConfluentConsumer, ConfluentProducer
from squall.kafka.errors import KafkaConfigError
from squall.kafka.librdkafka import Future, kafka_error, librdkafka_config
from squall.kafka.producer import ProduceSpec, produce
from squall.kafka.security import ClientSecurity
from squall.kafka.settings import kafka_client
from squall.services import free_port

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------- the setting


def test_the_default_is_kafka_python_and_confluent_is_chosen_by_one_key() -> None:
    assert kafka_client({}) == "kafka-python"
    assert kafka_client({"squall.kafka.client": None}) == "kafka-python"
    assert kafka_client({"squall.kafka.client": "confluent"}) == "confluent"


def test_an_unknown_client_names_the_key_the_value_and_the_valid_ones() -> None:
    with pytest.raises(
        KafkaConfigError,
        match=re.escape(
            "setting squall.kafka.client must be one of 'kafka-python', 'confluent'; "
            "got 'librdkafka' (str)"
        ),
    ):
        kafka_client({"squall.kafka.client": "librdkafka"})


def test_a_key_under_the_client_key_is_a_typo_of_it() -> None:
    with pytest.raises(KafkaConfigError, match=re.escape("did you mean 'squall.kafka.client'?")):
        kafka_client({"squall.kafka.client.library": "confluent"})


def test_confluent_without_confluent_kafka_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clients, "confluent_available", lambda: False)
    expected = (
        "setting squall.kafka.client is 'confluent' but confluent-kafka is not installed here; "
        "`pip install 'squall[confluent]'` installs it (or use the default, 'kafka-python')"
    )
    with pytest.raises(KafkaConfigError, match=re.escape(expected)):
        kafka_client({"squall.kafka.client": "confluent"})
    with pytest.raises(KafkaConfigError, match=re.escape("--client is 'confluent' but")):
        produce(ProduceSpec("h:1", "t", count=1, client="confluent"))
    assert kafka_client({}) == "kafka-python"  # the default never needs it


def test_produce_refuses_an_unknown_client() -> None:
    with pytest.raises(
        KafkaConfigError,
        match=re.escape("--client 'rdkafka' is not one of ['kafka-python', 'confluent']"),
    ):
        produce(ProduceSpec("h:1", "t", count=1, client="rdkafka"))


def test_the_produce_command_takes_client_and_refuses_others() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "squall.cli", "produce", "--bootstrap", "127.0.0.1:1",
         "--count", "1", "--client", "rdkafka"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--client: invalid choice: 'rdkafka' (choose from kafka-python, confluent)" in (
        proc.stderr.replace("'kafka-python', 'confluent'", "kafka-python, confluent")
    )


def test_the_default_backend_is_kafka_python_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """kafka-python's clients are built with exactly the caller's arguments: no adapter."""
    made: list[tuple[str, dict[str, Any]]] = []
    import kafka

    monkeypatch.setattr(kafka, "KafkaConsumer", lambda **kw: made.append(("consumer", kw)))
    monkeypatch.setattr(kafka, "KafkaProducer", lambda **kw: made.append(("producer", kw)))
    new_consumer("kafka-python", bootstrap_servers=["h:1"], group_id="g")
    new_producer("kafka-python", bootstrap_servers=["h:1"], acks="all")
    assert made == [
        ("consumer", {"bootstrap_servers": ["h:1"], "group_id": "g"}),
        ("producer", {"bootstrap_servers": ["h:1"], "acks": "all"}),
    ]


# ---------------------------------------------------------------------------------- librdkafka


def test_consumer_arguments_become_librdkafka_settings_with_no_automatic_commit() -> None:
    conf = librdkafka_config(
        {
            "bootstrap_servers": ["a:1", "b:2"],
            "group_id": "g",
            "client_id": "c",
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_poll_records": 500,
            "fetch_max_wait_ms": 10,
            "max_poll_interval_ms": 600_000,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 2000,
            "bootstrap_timeout_ms": 2000,
            "security_protocol": "PLAINTEXT",
        },
        "consumer",
    )
    for key in ("logger", "error_cb"):
        conf.pop(key)
    assert conf == {
        "bootstrap.servers": "a:1,b:2",
        "log.connection.close": False,
        "group.id": "g",
        "client.id": "c",
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 10,
        "max.poll.interval.ms": 600_000,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 2000,
        "security.protocol": "PLAINTEXT",
        # at-least-once: only the spout says what is done
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
    }


def test_producer_arguments_become_an_idempotent_acks_all_producer() -> None:
    conf = librdkafka_config(
        {
            "bootstrap_servers": "a:1",
            "acks": "all",
            "linger_ms": 5,
            "batch_size": 65536,
            "retries": 2**31 - 1,
            "delivery_timeout_ms": 120_000,
            "max_block_ms": 15_000,
        },
        "producer",
    )
    assert conf["acks"] == "all" and conf["enable.idempotence"] is True
    assert conf["message.timeout.ms"] == 120_000 and conf["linger.ms"] == 5
    assert conf["partitioner"] == "murmur2_random"  # Java's key hash, as kafka-python
    assert "retries" not in conf and "max.block.ms" not in conf


def test_tls_and_scram_map_to_librdkafka(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SQUALL_TEST_PASSWORD", "s3cret")
    security = ClientSecurity(
        protocol="SASL_SSL",
        ca_file=str(ca),
        username="producer",
        password_env="SQUALL_TEST_PASSWORD",
    )
    conf = librdkafka_config({"bootstrap_servers": "h:1", **security.kafka_kwargs()}, "producer")
    assert {k: conf[k] for k in conf if k.startswith(("security", "ssl", "sasl"))} == {
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(ca),
        "ssl.endpoint.identification.algorithm": "https",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "producer",
        "sasl.password": "s3cret",
    }


def test_an_argument_without_a_translation_is_refused() -> None:
    with pytest.raises(TypeError, match="no librdkafka translation for .* 'compression_type'"):
        librdkafka_config({"bootstrap_servers": "h:1", "compression_type": "gzip"}, "producer")
    with pytest.raises(TypeError, match="squall commits only acked offsets"):
        librdkafka_config({"bootstrap_servers": "h:1", "enable_auto_commit": True}, "consumer")


def test_librdkafka_errors_become_kafka_python_classes() -> None:
    assert isinstance(
        kafka_error(RdKafkaError(RdKafkaError.GROUP_AUTHORIZATION_FAILED)),
        GroupAuthorizationFailedError,
    )
    assert isinstance(
        kafka_error(RdKafkaError(RdKafkaError.UNKNOWN_TOPIC_OR_PART)), UnknownTopicOrPartitionError
    )
    assert isinstance(kafka_error(RdKafkaError(RdKafkaError._TIMED_OUT)), KafkaTimeoutError)
    transport = kafka_error(RdKafkaError(RdKafkaError._TRANSPORT))
    assert type(transport) is KafkaError


def test_a_future_asks_its_client_while_not_done_and_runs_its_callbacks() -> None:
    seen: list[Any] = []
    future = Future(serve=lambda: seen.append("polled"))
    future.add_callback(lambda v: seen.append(("ok", v)))
    future.add_errback(lambda e: seen.append(("error", e)))
    assert not future.is_done and seen == ["polled"]
    future.success(7)
    assert future.is_done and future.succeeded() and not future.failed()
    assert seen == ["polled", ("ok", 7)]
    failed = Future()
    failed.failure(KafkaError("refused"))
    assert failed.is_done and failed.failed() and str(failed.exception) == "KafkaError: refused"
    late: list[Any] = []
    failed.add_errback(late.append)  # added after the answer: called at once
    assert late == [failed.exception]


# ---------------------------------------------------------------------------------- callbacks


class FakeRdConsumer:
    """The librdkafka consumer calls the adapter's callbacks make."""

    def __init__(self) -> None:
        self.assigned: list[tuple[str, int, int]] = []

    def assign(self, partitions: list[Any]) -> None:
        self.assigned = [(p.topic, p.partition, p.offset) for p in partitions]


def bare_consumer() -> ConfluentConsumer:
    consumer = ConfluentConsumer.__new__(ConfluentConsumer)  # no broker: only the callbacks
    consumer._listener = None
    consumer._seeks = None
    consumer._commits = __import__("collections").deque()
    return consumer


def test_a_seek_asked_while_partitions_are_assigned_becomes_their_start() -> None:
    """The spout's listener seeks a partition that came back to where its work stopped; in
    librdkafka that is the offset of the assign that follows the callback."""
    consumer = bare_consumer()
    events: list[Any] = []

    class Listener:
        def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
            events.append(("assigned", sorted(assigned)))
            consumer.seek(TopicPartition("r", 1), 1207)

        def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
            events.append(("revoked", sorted(revoked)))

    consumer._listener = Listener()
    rd = FakeRdConsumer()
    consumer._on_revoke(rd, [RdTopicPartition("r", 0)])
    consumer._on_assign(rd, [RdTopicPartition("r", 0), RdTopicPartition("r", 1)])
    assert events == [
        ("revoked", [TopicPartition("r", 0)]),
        ("assigned", [TopicPartition("r", 0), TopicPartition("r", 1)]),
    ]
    # r:0 from the group's commit (OFFSET_INVALID: librdkafka's "stored offset"), r:1 seeked
    assert rd.assigned == [("r", 0, -1001), ("r", 1, 1207)]
    assert consumer._seeks is None  # outside the callback a seek is a seek again


def test_an_asynchronous_commit_completes_on_its_own_answer() -> None:
    consumer = bare_consumer()
    sent: list[Any] = []

    class Rd:
        def commit(self, offsets: list[Any], asynchronous: bool) -> None:
            sent.append([(p.topic, p.partition, p.offset) for p in offsets])

    consumer._consumer = Rd()
    first = consumer.commit_async({TopicPartition("r", 0): OffsetAndMetadata(10, "", -1)})
    second = consumer.commit_async({TopicPartition("r", 0): OffsetAndMetadata(20, "", -1)})
    assert sent == [[("r", 0, 10)], [("r", 0, 20)]] and not first.is_done
    consumer._on_commit(None, [RdTopicPartition("r", 0, 99)])  # a synchronous one's: ignored
    assert not first.is_done and not second.is_done
    consumer._on_commit(
        RdKafkaError(RdKafkaError.REBALANCE_IN_PROGRESS), [RdTopicPartition("r", 0, 20)]
    )
    assert second.failed() and not first.is_done
    consumer._on_commit(None, [RdTopicPartition("r", 0, 10)])
    assert first.succeeded()


def test_an_asynchronous_commit_never_answered_fails_so_later_ones_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = bare_consumer()

    class Rd:
        def commit(self, offsets: list[Any], asynchronous: bool) -> None:
            pass

    consumer._consumer = Rd()
    monkeypatch.setattr(confluent, "COMMIT_ANSWER_S", 0.05)
    future = consumer.commit_async({TopicPartition("r", 0): OffsetAndMetadata(10, "", -1)})
    assert not future.is_done
    time.sleep(0.1)
    assert future.is_done and isinstance(future.exception, KafkaTimeoutError)
    consumer._on_commit(None, [RdTopicPartition("r", 0, 10)])  # its late answer: ignored


def test_a_synchronous_commit_is_bounded_by_its_timeout() -> None:
    consumer = bare_consumer()

    class Hanging:
        def commit(self, offsets: list[Any], asynchronous: bool) -> None:
            time.sleep(2)

    consumer._consumer = Hanging()
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match="offset commit not answered within 200 ms"):
        consumer.commit({TopicPartition("r", 0): OffsetAndMetadata(1, "", -1)}, timeout_ms=200)
    assert time.monotonic() - started < 1.5


# ---------------------------------------------------------------------------------- no broker


@pytest.mark.parametrize("make", [ConfluentConsumer, ConfluentProducer])
def test_no_broker_raises_as_kafka_python_does_within_the_bootstrap_timeout(make: Any) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match=re.escape(f"Unable to bootstrap from {address}")):
        make(bootstrap_servers=[address], group_id="g", bootstrap_timeout_ms=500) if (
            make is ConfluentConsumer
        ) else make(bootstrap_servers=[address], bootstrap_timeout_ms=500)
    assert time.monotonic() - started < 3


def test_the_setting_is_registered_for_runs() -> None:
    assert settings.CLIENT_SCHEMA.declares("squall.kafka.client")


def test_produce_forks_only_while_no_librdkafka_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A child forked from a process with librdkafka loaded (a test's or a topology's
    # confluent-kafka clients) crashed with SIGSEGV in its first garbage collection, on the
    # kafka-python backend too (CI, test_broker_restart_mid_stream_recovers_by_itself).
    from squall.kafka.producer import _librdkafka_here

    monkeypatch.delitem(sys.modules, "confluent_kafka", raising=False)
    assert not _librdkafka_here(ProduceSpec("h:1", "t", count=1))
    assert _librdkafka_here(ProduceSpec("h:1", "t", count=1, client="confluent"))
    monkeypatch.setitem(sys.modules, "confluent_kafka", object())
    assert _librdkafka_here(ProduceSpec("h:1", "t", count=1))

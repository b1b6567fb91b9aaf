"""The Kafka spout's and sink's keys (squall.kafka.settings): dotted, typed, typos refused, word for word.

No broker and no client: the settings are read before either is made.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bolts.kafka_sink import AlertsKafkaSink
from squall.kafka.errors import KafkaConfigError
from squall.kafka.settings import KafkaSpoutSettings
from squall.kafka.start import FORMS, StartAt
from squall.settings import check_known
from squall.testing import BoltHarness

SPOUT_KEYS = (
    "squall.kafka.spout.auto.offset.reset, squall.kafka.spout.commit.interval.secs, "
    "squall.kafka.spout.commit.timeout.ms, squall.kafka.spout.fetch.max.wait.ms, "
    "squall.kafka.spout.idle.poll.ms, "
    "squall.kafka.spout.max.attempts, squall.kafka.spout.max.in.flight, "
    "squall.kafka.spout.poll.max.records, squall.kafka.spout.session.timeout.ms, "
    "squall.kafka.spout.start, squall.kafka.spout.stuck.join.secs"
)


UNITS = "a number with a unit ms, s, m or h such as '250ms'; got 'soon'"


def _raises(message: str):
    return pytest.raises(KafkaConfigError, match="^" + re.escape(message) + "$")


def test_spout_tuning_reads_every_key_typed_with_its_default() -> None:
    conf = {
        "squall.kafka.spout.max.attempts": 3,
        "squall.kafka.spout.commit.interval.secs": "250ms",
        "squall.kafka.spout.stuck.join.secs": "1m",
        "squall.kafka.spout.start": "offsets:0=5,2=7",
        "topology.workers": 2,  # Storm's keys are not the spout's business
    }
    tuning = KafkaSpoutSettings.tuning(conf)
    assert tuning == {
        "max_attempts": 3,
        "max_in_flight": 2000,
        "commit_interval_s": 0.25,
        "poll_max_records": 500,
        "auto_offset_reset": "earliest",
        "idle_poll_ms": 100,
        "fetch_max_wait_ms": 10,
        "session_timeout_ms": 10_000,
        "commit_timeout_ms": 2000,
        "stuck_join_s": 60.0,
        "start": StartAt("offsets", offsets=((0, 5), (2, 7))),
    }
    settings = KafkaSpoutSettings(("localhost:9092",), ("t",), "g", "dlq", **tuning)
    assert settings.commit_interval_s == 0.25


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("squall.kafka.spout.max_attempts", "squall.kafka.spout.max.attempts"),
        ("squall.kafka.spout.max_in_flight", "squall.kafka.spout.max.in.flight"),
        ("squall.kafka.spout.commit_interval_s", "squall.kafka.spout.commit.interval.secs"),
        ("squall.kafka.spout.poll_max_records", "squall.kafka.spout.poll.max.records"),
        ("squall.kafka.spout.auto_offset_reset", "squall.kafka.spout.auto.offset.reset"),
        ("squall.kafka.spout.idle_poll_ms", "squall.kafka.spout.idle.poll.ms"),
        ("squall.kafka.spout.session_timeout_ms", "squall.kafka.spout.session.timeout.ms"),
        ("squall.kafka.spout.commit_timeout_ms", "squall.kafka.spout.commit.timeout.ms"),
        ("squall.kafka.spout.stuck_join_s", "squall.kafka.spout.stuck.join.secs"),
    ],
)
def test_an_old_spelling_of_a_spout_key_names_the_new_one(old: str, new: str) -> None:
    with _raises(f"setting {old!r} is the old spelling of {new!r}; use {new!r}"):
        KafkaSpoutSettings.tuning({old: 5})


def test_an_unknown_spout_key_names_the_closest_and_the_valid_ones() -> None:
    with _raises(
        "unknown setting 'squall.kafka.spout.max.atempts': not a key of the Kafka spout; "
        f"did you mean 'squall.kafka.spout.max.attempts'? valid: {SPOUT_KEYS}"
    ):
        KafkaSpoutSettings.tuning({"squall.kafka.spout.max.atempts": 3})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max.attempts", 0, "must be an integer >= 1; got 0"),
        ("max.in.flight", "many", "must be an integer >= 1; got 'many' (str)"),
        ("auto.offset.reset", "none", "must be one of 'earliest', 'latest'; got 'none' (str)"),
        ("session.timeout.ms", 5000, "must be an integer >= 6000; got 5000"),
        ("commit.interval.secs", "soon", "must be a duration >= 0 s: seconds, or " + UNITS),
        ("stuck.join.secs", 0, "must be a duration > 0 s; got 0"),
        ("start", "soon", "must be " + FORMS + "; got 'soon'"),
        ("start", "offsets:1=x", "must be " + FORMS + "; got 'offsets:1=x'"),
        ("start", "timestamp:-5", "must be " + FORMS + "; got 'timestamp:-5'"),
    ],
)
def test_a_bad_spout_value_names_the_key_the_value_and_what_is_valid(
    key: str, value: Any, message: str
) -> None:
    with _raises(f"setting squall.kafka.spout.{key} {message}"):
        KafkaSpoutSettings.tuning({f"squall.kafka.spout.{key}": value})


def test_settings_built_in_python_are_checked_by_the_same_readers() -> None:
    with _raises(
        "KafkaSpoutSettings.max_attempts must be an integer >= 1; got 0 "
        "(the key squall.kafka.spout.max.attempts)"
    ):
        KafkaSpoutSettings(("localhost:9092",), ("t",), "g", "dlq", max_attempts=0)
    typed = KafkaSpoutSettings(("localhost:9092",), ("t",), "g", "dlq", stuck_join_s="2s")  # type: ignore[arg-type]
    assert typed.stuck_join_s == 2.0


SINK_CONF = {"health.kafka.bootstrap.servers": "127.0.0.1:9"}


def test_an_old_spelling_of_a_sink_key_names_the_new_one() -> None:
    with _raises(
        "setting 'squall.kafka.sink.max_pending' is the old spelling of "
        "'squall.kafka.sink.max.pending'; use 'squall.kafka.sink.max.pending'"
    ):
        BoltHarness(AlertsKafkaSink, {**SINK_CONF, "squall.kafka.sink.max_pending": 10})
    with _raises(
        "setting 'squall.kafka.sink.flush_timeout_s' is the old spelling of "
        "'squall.kafka.sink.flush.timeout.secs'; use 'squall.kafka.sink.flush.timeout.secs'"
    ):
        BoltHarness(AlertsKafkaSink, {**SINK_CONF, "squall.kafka.sink.flush_timeout_s": 1})


def test_a_bad_sink_value_or_an_unknown_sink_key_is_named() -> None:
    with _raises("setting squall.kafka.sink.flush.timeout.secs must be a duration >= 0.1 s; got 0"):
        BoltHarness(AlertsKafkaSink, {**SINK_CONF, "squall.kafka.sink.flush.timeout.secs": 0})
    with _raises(
        "unknown setting 'squall.kafka.sink.max.pendings': not a key of the Kafka sink; did you "
        "mean 'squall.kafka.sink.max.pending'? valid: squall.kafka.sink.flush.timeout.secs, "
        "squall.kafka.sink.max.pending"
    ):
        BoltHarness(AlertsKafkaSink, {**SINK_CONF, "squall.kafka.sink.max.pendings": 10})


def test_a_run_knows_the_kafka_keys_and_refuses_a_typo_before_it_starts() -> None:
    check_known({"squall.kafka.spout.max.attempts": 3, "squall.kafka.sink.max.pending": 10})
    with _raises(
        "setting 'squall.kafka.spout.session_timeout_ms' is the old spelling of "
        "'squall.kafka.spout.session.timeout.ms'; use 'squall.kafka.spout.session.timeout.ms'"
    ):
        check_known({"squall.kafka.spout.session_timeout_ms": 6000})
    with _raises(
        "unknown setting 'squall.kafka.spout.max.atempts': not a key of the Kafka spout; "
        f"did you mean 'squall.kafka.spout.max.attempts'? valid: {SPOUT_KEYS}"
    ):
        check_known({"squall.kafka.spout.max.atempts": 3})

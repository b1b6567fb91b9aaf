"""Helpers of the end-to-end tests: topics per test, reading topics back, the delivery check.

The check is an oracle built from the readings topic itself: every record the broker holds
there is judged by ``tests.kafka.oracle`` (its own payload checks, BMI and reading of
config.yaml's rules, none of the project's code) to say which alerts must exist and which
records must be dead letters; the alerts and dead-letter topics are then read back and
compared. Duplicates are counted (at-least-once allows them); missing and unexpected ones fail
the test.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from squall import run_topology
from squall.kafka.admin import ensure_topics
from squall.kafka.broker import Broker
from squall.kafka.provision import instance_dir
from tests.kafka.oracle import alerts_of, rules, valid_reading

__test__ = False


@dataclass(frozen=True)
class HealthTopics:
    """uuid-named topics and group of one test, and the Storm config that points at them."""

    bootstrap: str
    readings: str
    alerts: str
    invalid: str
    trends: str
    group: str
    partitions: int = 4

    @classmethod
    def fresh(cls, bootstrap: str, partitions: int = 4) -> HealthTopics:
        tag = uuid.uuid4().hex[:10]
        topics = cls(
            bootstrap=bootstrap,
            readings=f"readings-{tag}",
            alerts=f"alerts-{tag}",
            invalid=f"invalid-{tag}",
            trends=f"trends-{tag}",
            group=f"health-{tag}",
            partitions=partitions,
        )
        ensure_topics(
            bootstrap,
            {topics.readings: partitions, topics.alerts: 2, topics.invalid: 1, topics.trends: 1},
        )
        return topics

    def conf(self, **extra: Any) -> dict[str, Any]:
        return {
            "health.kafka.bootstrap.servers": self.bootstrap,
            "health.kafka.readings.topic": self.readings,
            "health.kafka.alerts.topic": self.alerts,
            "health.kafka.invalid.topic": self.invalid,
            "health.kafka.group.id": self.group,
            "health.kafka.trends.topic": self.trends,
            "health.sinks.console": False,
            **extra,
        }

    def cli_options(self, **extra: Any) -> list[str]:
        options: list[str] = []
        for key, value in self.conf(**extra).items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            options += ["-o", f"{key}={text}"]
        return options


def read_topic(bootstrap_servers: str, topic: str, **client: Any) -> list[Any]:
    """Every record of ``topic`` up to its current end (waits for the end, not for a timeout);
    ``client``: more KafkaConsumer arguments (a secured broker's)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, **client
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts)
        records: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def progress_of(bootstrap: str, topics: HealthTopics) -> tuple[int, int]:
    """(records committed by the group, records in the readings topic).

    Read with ``KafkaConsumer.committed`` (an OffsetFetch; this consumer never joins the
    group). The admin client's ``list_group_offsets`` raised for some groups mid-run, which
    read as "nothing committed" and made a finished run look stuck.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=topics.group, enable_auto_commit=False
    )
    try:
        parts = [
            TopicPartition(topics.readings, p)
            for p in sorted(consumer.partitions_for_topic(topics.readings))
        ]
        ends = consumer.end_offsets(parts)
        done = 0
        for tp in parts:
            try:
                committed = consumer.committed(tp)
            except KafkaError:
                committed = None  # no coordinator yet, or the broker is restarting
            done += min(committed or 0, ends[tp])
        return done, sum(ends.values())
    finally:
        consumer.close(autocommit=False)


class _Finished(KeyboardInterrupt):
    """Ends ``run_topology`` from its progress hook: it treats Ctrl-C as "drain and stop"."""


@dataclass
class RunWatch:
    """Stops an embedded run once the group has committed the whole readings topic."""

    topics: HealthTopics
    timeout_s: float
    on_progress: Callable[[int, int, Any], None] | None = None
    # the topic is complete (default: already): a run fed while it goes waits for its producer
    input_complete: Callable[[], bool] = lambda: True
    history: list[tuple[float, int, int]] = field(default_factory=list)

    def __call__(self, elapsed: float, snapshot: Any) -> None:
        try:
            done, total = progress_of(self.topics.bootstrap, self.topics)
        except Exception as exc:  # the broker may be restarting: just look again next time
            print(f"[{elapsed:5.1f}s] progress unavailable: {exc}", file=sys.stderr)
            return
        self.history.append((elapsed, done, total))
        print(
            f"[{elapsed:5.1f}s] committed {done}/{total}, spout emitted {snapshot.spout_emitted},"
            f" trees acked {snapshot.trees_acked} failed {snapshot.trees_failed}",
            file=sys.stderr,
        )
        if self.on_progress is not None:
            self.on_progress(done, total, snapshot)
        if total and done >= total and self.input_complete():
            raise _Finished()
        if elapsed > self.timeout_s:
            # Not a speed assertion: a guard so a lost record shows as a failure, not a hang.
            raise AssertionError(f"not all records committed after {elapsed:.0f}s: {done}/{total}")


def run_until_committed(
    topology: Any,
    topics: HealthTopics,
    timeout_s: float = 240.0,
    on_progress: Callable[[int, int, Any], None] | None = None,
    input_complete: Callable[[], bool] = lambda: True,
    **conf: Any,
) -> Any:
    watch = RunWatch(topics, timeout_s, on_progress, input_complete)
    return run_topology(topology, topics.conf(**conf), progress=watch, progress_every_s=1.0)


@dataclass
class DeliveryReport:
    readings: int
    valid: int
    invalid: int
    expected_alerts: int
    alerts_seen: int
    missing_alerts: list[tuple[str, int]]
    duplicate_alerts: int
    unexpected_alerts: list[tuple[str, int]]
    dead_letters_seen: int
    missing_dead_letters: list[str]
    duplicate_dead_letters: int
    unexpected_dead_letters: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"readings {self.readings} (valid {self.valid}, invalid {self.invalid}); "
            f"alerts expected {self.expected_alerts}, seen {self.alerts_seen}, "
            f"missing {len(self.missing_alerts)}, duplicates {self.duplicate_alerts}, "
            f"unexpected {len(self.unexpected_alerts)}; dead letters seen "
            f"{self.dead_letters_seen}, missing {len(self.missing_dead_letters)}, "
            f"duplicates {self.duplicate_dead_letters}, "
            f"unexpected {len(self.unexpected_dead_letters)}"
        )


def check_delivery(topics: HealthTopics) -> DeliveryReport:
    """Compare the alerts and dead-letter topics against what the readings topic implies."""
    config_rules = rules()
    readings = read_topic(topics.bootstrap, topics.readings)
    expected_alerts: set[tuple[str, int]] = set()
    expected_dead: set[str] = set()
    valid = 0
    for record in readings:
        reading = valid_reading(record.value)
        if reading is not None:
            valid += 1
            for rule in alerts_of(reading, config_rules):
                expected_alerts.add((rule, int(reading["id"])))
        else:
            expected_dead.add(f"{record.topic}:{record.partition}:{record.offset}")
    alerts = Counter(
        (doc["rule"], doc["reading_id"])
        for doc in (json.loads(r.value) for r in read_topic(topics.bootstrap, topics.alerts))
    )
    dead = Counter()
    for record in read_topic(topics.bootstrap, topics.invalid):
        source = json.loads(record.value).get("source") or {}
        dead[f"{source.get('topic')}:{source.get('partition')}:{source.get('offset')}"] += 1
    return DeliveryReport(
        readings=len(readings),
        valid=valid,
        invalid=len(readings) - valid,
        expected_alerts=len(expected_alerts),
        alerts_seen=sum(alerts.values()),
        missing_alerts=sorted(expected_alerts - set(alerts)),
        duplicate_alerts=sum(alerts.values()) - len(alerts),
        unexpected_alerts=sorted(set(alerts) - expected_alerts),
        dead_letters_seen=sum(dead.values()),
        missing_dead_letters=sorted(expected_dead - set(dead)),
        duplicate_dead_letters=sum(dead.values()) - len(dead),
        unexpected_dead_letters=sorted(set(dead) - expected_dead),
    )


def in_background(action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` on a daemon thread (a fault injected while the topology runs)."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def remove_orphans(prefix: str) -> None:
    """Stop (by recorded pid) and delete the broker instances ``<prefix><pid>`` of test
    sessions that were killed (their pid no longer runs)."""
    instances = instance_dir("x").parent
    for home in instances.glob(f"{prefix}*") if instances.is_dir() else []:
        owner = home.name.removeprefix(prefix)
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            Broker(home.name).remove()


def one_parse_task(config: Path) -> str:
    """``config``'s text with one parse task, whatever the project's default."""
    text, found = re.subn(
        r"\nparallelism:\n  parse: \d+\n", "\nparallelism:\n  parse: 1\n", config.read_text()
    )
    assert found == 1, "config.yaml's parallelism.parse moved"
    return text

"""The ward on Kafka (topologies/health_ward_kafka.py) against the real broker, under overload.

Each test has its own uuid-named topics and consumer group, given to the topology file through
``$SQUALL_HEALTH_CONFIG`` (the critical spout's topic and group are its component config, read
when the file is loaded: ``-o`` does not reach them). Readings are produced with ``squall
produce``'s keys and patient ranges: critical patients 0-19 on their own topic, routine patients
20-219 on the readings topic, as config.yaml's ``ward`` section has them.

The backlog is produced before the topology starts, so every reading is older than its deadline
when it is done: the worker misses deadlines from the first completions and enters overload.

The oracle is the raw records: which readings must raise which alert is computed here from
their JSON (weight > 80, BMI > 35), not with the project's parse, BMI or rule code; an alert is
matched to its record by the ``source`` ("topic:partition:offset") every alert carries.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from streamparse import Topology

from health_core.config import HealthConfig
from squall import run_topology
from squall.engine.model import build_model
from squall.kafka.admin import ensure_topics
from squall.kafka.producer import ProduceSpec, produce
from squall.loading import load_topology
from tests.kafka.kit import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
WARD = ROOT / "topologies" / "health_ward_kafka.py"
CLASSES = ("critical", "routine")
PATIENTS = {"critical": (0, 19), "routine": (20, 219)}  # config.yaml's ward section
ROUTINE_POLICIES = "squall.realtime.routine.default.policies"


@dataclass(frozen=True)
class WardTopics:
    """uuid-named topics and group of one test, and the config file that points at them."""

    bootstrap: str
    critical: str
    routine: str
    alerts: str
    invalid: str
    trends: str
    group: str

    @classmethod
    def fresh(cls, bootstrap: str) -> WardTopics:
        tag = uuid.uuid4().hex[:10]
        topics = cls(
            bootstrap,
            critical=f"critical-{tag}",
            routine=f"routine-{tag}",
            alerts=f"alerts-{tag}",
            invalid=f"invalid-{tag}",
            trends=f"trends-{tag}",
            group=f"ward-{tag}",
        )
        ensure_topics(
            bootstrap,
            {
                topics.critical: 2,
                topics.routine: 4,
                topics.alerts: 2,
                topics.invalid: 1,
                topics.trends: 1,
            },
        )
        return topics

    def config_yaml(self) -> str:
        return (
            "kafka:\n"
            f"  bootstrap_servers: [{self.bootstrap!r}]\n"
            f"  readings_topic: {self.routine}\n"
            f"  critical_readings_topic: {self.critical}\n"
            f"  alerts_topic: {self.alerts}\n"
            f"  invalid_topic: {self.invalid}\n"
            f"  trends_topic: {self.trends}\n"
            f"  group_id: {self.group}\n"
            "sinks:\n"
            "  console: false\n"
        )

    def topic_of(self, reading_class: str) -> str:
        return self.critical if reading_class == "critical" else self.routine


def ward_topology(
    topics: WardTopics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> type[Topology]:
    """topologies/health_ward_kafka.py, loaded as `squall run` loads it, on this test's topics."""
    config = tmp_path / "ward.yaml"
    config.write_text(topics.config_yaml())
    monkeypatch.setenv("SQUALL_HEALTH_CONFIG", str(config))
    return load_topology(str(WARD))


def spout_sources(topology: type[Topology]) -> dict[str, tuple[str, str]]:
    """class -> (topic, group) that its spout reads, from the conf the spout task is given."""
    model = build_model(topology)
    sources = {}
    for cls in CLASSES:
        conf = {**(topology.config or {}), **model.components[cls].config}
        kafka = HealthConfig.from_storm_conf(conf).kafka
        sources[cls] = (kafka.readings_topic, kafka.group_id)
    return sources


def lag(bootstrap: str, topic: str, group: str) -> int:
    """Records of ``topic`` that ``group`` has not committed (OffsetFetch; never joins it)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = consumer.end_offsets(parts)
        return sum(ends[tp] - min(consumer.committed(tp) or 0, ends[tp]) for tp in parts)
    finally:
        consumer.close(autocommit=False)


def lags(topics: WardTopics, topology: type[Topology]) -> dict[str, int]:
    return {
        cls: lag(topics.bootstrap, topic, group)
        for cls, (topic, group) in spout_sources(topology).items()
    }


def produce_class(
    topics: WardTopics, reading_class: str, producers: int, count: int, seed: int
) -> None:
    result = produce(
        ProduceSpec(
            topics.bootstrap,
            topics.topic_of(reading_class),
            producers=producers,
            count=count,
            fmt="json",
            seed=seed,
            patients=PATIENTS[reading_class],
        )
    )
    assert result.errors == ()
    assert result.acked == result.sent == producers * count


def expected_alerts(topics: WardTopics) -> dict[tuple[str, str], str]:
    """(rule, "topic:partition:offset") -> class, of every alert the produced records imply.

    Exact integer arithmetic: BMI > 35 <=> weight * 10,000 > 35 * height_cm².
    """
    expected: dict[tuple[str, str], str] = {}
    for cls in CLASSES:
        for record in read_topic(topics.bootstrap, topics.topic_of(cls)):
            doc = json.loads(record.value)
            source = f"{record.topic}:{record.partition}:{record.offset}"
            weight, height = doc["weight_kg"], doc["height_cm"]
            if weight > 80:
                expected[("weight_kg > 80", source)] = cls
            if weight * 10_000 > 35 * height * height:
                expected[("bmi > 35", source)] = cls
    return expected


def alerts_seen(topics: WardTopics) -> Counter[tuple[str, str, str | None]]:
    """(rule, source, class) of every alert in the alerts topic, with duplicates counted."""
    seen: Counter[tuple[str, str, str | None]] = Counter()
    for record in read_topic(topics.bootstrap, topics.alerts):
        doc = json.loads(record.value)
        seen[(doc["rule"], doc["reading"]["source"], doc["reading"].get("class"))] += 1
    return seen


def run_until_drained(
    topology: type[Topology],
    topics: WardTopics,
    conf: dict[str, Any],
    timeout_s: float = 90.0,
) -> Any:
    """Run until both groups have committed their topic to its end (or ``timeout_s``)."""
    drained = threading.Event()

    def watch(elapsed: float, snapshot: Any) -> None:
        try:
            left = lags(topics, topology)
        except KafkaError as exc:  # no coordinator yet: look again next time
            print(f"[{elapsed:5.1f}s] lag unavailable: {exc}", file=sys.stderr)
            return
        print(f"[{elapsed:5.1f}s] lag {left}, trees acked {snapshot.trees_acked}", file=sys.stderr)
        if not any(left.values()):
            drained.set()

    result = run_topology(
        topology, conf, seconds=timeout_s, progress=watch, progress_every_s=0.5, stop=drained
    )
    assert drained.is_set(), f"lag left after {timeout_s:.0f} s: {lags(topics, topology)}"
    return result


def test_the_spouts_read_their_own_topic_in_their_own_group(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = WardTopics.fresh(kafka_bootstrap)
    sources = spout_sources(ward_topology(topics, tmp_path, monkeypatch))
    assert sources == {
        "critical": (topics.critical, f"{topics.group}.critical"),
        "routine": (topics.routine, topics.group),
    }


def test_produce_keys_every_record_by_a_patient_of_the_range(
    kafka_bootstrap: str, topic_name: str
) -> None:
    ensure_topics(kafka_bootstrap, {topic_name: 4})
    proc = subprocess.run(
        [sys.executable, "-m", "squall.cli", "produce", "--bootstrap", kafka_bootstrap,
         "--topic", topic_name, "--producers", "2", "--count", "300", "--format", "json",
         "--patients", "20-29", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = read_topic(kafka_bootstrap, topic_name)
    assert len(records) == 600
    ids = [json.loads(r.value)["id"] for r in records]
    assert [r.key for r in records] == [str(i).encode() for i in ids]
    assert set(ids) == set(range(20, 30))  # 600 draws from 10 patients: every one comes up
    # keyed: each patient's readings are on one partition, in the order they were sent
    partitions = {(r.key, r.partition) for r in records}
    assert len(partitions) == 10


def test_overload_with_the_rate_policy_loses_nothing_and_the_lag_drains(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog on both topics; routine declares ``rate`` only (no discard: nothing skipped).

    The first run is stopped early, while the routine spout is slowed and its records wait in
    Kafka as lag; a second run drains it. Every alert the records imply is in the alerts topic.
    """
    topics = WardTopics.fresh(kafka_bootstrap)
    topology = ward_topology(topics, tmp_path, monkeypatch)
    produce_class(topics, "critical", producers=1, count=300, seed=1)
    produce_class(topics, "routine", producers=4, count=5_000, seed=2)
    conf = {ROUTINE_POLICIES: "rate"}

    # Stopped a second after the first trees complete (overload is checked every 0.25 s) and
    # once 1,000 are done: far from the 20,300 records, whatever the machine's speed (the rate
    # policy holds the routine spout to a tenth of its turns meanwhile).
    stop = threading.Event()
    first_done: list[float] = []

    def stop_early(elapsed: float, snapshot: Any) -> None:
        if snapshot.trees_acked and not first_done:
            first_done.append(elapsed)
        if first_done and elapsed - first_done[0] >= 1.0 and snapshot.trees_acked >= 1_000:
            stop.set()

    first = run_topology(
        topology, conf, seconds=60, progress=stop_early, progress_every_s=0.25, stop=stop
    )
    assert first.errors == []
    assert stop.is_set(), "the first run never completed 1,000 readings"
    print(f"\nfirst run:\n{first.summary_table()}")
    assert first.overload_episodes >= 1
    assert first.rate_factor_min < 1.0
    left = lags(topics, topology)
    print(f"lag after the first run: {left}")
    assert left["routine"] > 0

    second = run_until_drained(topology, topics, conf)
    assert second.errors == []
    assert lags(topics, topology) == {"critical": 0, "routine": 0}
    for run in (first, second):
        assert run.realtime is not None
        for stream in ("critical.default", "routine.default"):
            assert run.realtime.streams[stream].shed["discard"] == 0

    expected = expected_alerts(topics)
    seen = alerts_seen(topics)
    found = {(rule, source): cls for rule, source, cls in seen}
    print(
        f"alerts expected {len(expected)}, seen {sum(seen.values())} "
        f"({sum(seen.values()) - len(seen)} duplicates)"
    )
    assert sorted(set(expected) - set(found)) == []  # nothing lost
    assert sorted(set(found) - set(expected)) == []
    assert found == expected  # and each alert carries its reading's class
    assert "critical" in expected.values() and "routine" in expected.values()


def test_overload_with_discard_commits_what_it_skips_and_never_skips_critical(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.yaml's policies: routine readings are discarded in overload, critical ones never.

    Discarded readings are done: committed (no lag is left) and counted as shed.
    """
    topics = WardTopics.fresh(kafka_bootstrap)
    topology = ward_topology(topics, tmp_path, monkeypatch)
    produce_class(topics, "critical", producers=1, count=500, seed=3)
    produce_class(topics, "routine", producers=4, count=1_000, seed=4)

    result = run_until_drained(topology, topics, {})
    assert result.errors == []
    assert result.realtime is not None
    streams = result.realtime.streams
    print(f"\n{result.summary_table()}")
    assert streams["routine.default"].shed["discard"] > 0
    assert sum(streams["critical.default"].shed.values()) == 0

    expected = expected_alerts(topics)
    seen = alerts_seen(topics)
    found = {(rule, source): cls for rule, source, cls in seen}
    critical = {key for key, cls in expected.items() if cls == "critical"}
    assert critical
    assert sorted(critical - set(found)) == []  # every critical alert, none skipped
    assert all(found[key] == "critical" for key in critical)
    assert sorted(set(found) - set(expected)) == []
    assert all(found[key] == cls for key, cls in expected.items() if key in found)

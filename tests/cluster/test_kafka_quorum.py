"""Three Kafka brokers on three test hosts: replication factor 3, min.insync.replicas 2,
producers on acks=all; a broker lost or restarted while the course's producers write loses no
acknowledged reading (issue 15, items 3 and 4).

The oracle is Kafka itself: the topic is read back (keys = reading ids) and compared with the
ids the producers had acknowledged (`squall produce --unique-ids` reports acked == sent, so the
acknowledged set is every id it generated). The project's parse/BMI/rule code is not involved;
the health topology's alerts are checked against the test's own arithmetic on the raw records.
Brokers, producers, read-back and topology all run inside test hosts (docs/cluster.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.kafka_cluster import (
    APP,
    BROKERS,
    KafkaCluster,
    delivery,
    expected_ids,
    finish,
)
from tests.polling import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.cluster]

PARTITIONS = 3
PRODUCERS = 2


def fresh_topic(cluster: KafkaCluster) -> str:
    topic = f"readings-{uuid.uuid4().hex[:8]}"
    cluster.client("create", topic, str(PARTITIONS))
    return topic


def test_three_brokers_serve_topics_replicated_three_times(kafka_cluster: KafkaCluster) -> None:
    cluster = kafka_cluster
    cluster.heal()
    assert cluster.client("cluster")["brokers"] == [1, 2, 3]
    topic = fresh_topic(cluster)
    parts = cluster.wait_fully_replicated(topic, timeout_s=30)
    assert len(parts) == PARTITIONS
    for part in parts:
        assert part["replicas"] == [1, 2, 3], part
    # each broker answers for itself at its own host's address
    for name in BROKERS:
        alone = f"{cluster.hosts[name].address}:9092"
        assert cluster.client("cluster", bootstrap=alone)["brokers"] == [1, 2, 3]


def records_in(cluster: KafkaCluster, topic: str) -> int:
    answer = cluster.try_client("ends", topic)
    return int(answer["records"]) if answer else 0


def leader_of_partition_0(cluster: KafkaCluster, topic: str) -> str:
    """The host whose broker leads partition 0: the fault hits a leader, not a bystander."""
    parts = cluster.client("topic", topic)
    return cluster.quorum.name_of(parts[0]["leader"])


def start_writing(
    cluster: KafkaCluster, topic: str, rate: float, count: int
) -> tuple[Any, set[str]]:
    """The producers running and some records already in Kafka; the ids they will send."""
    id_base = uuid.uuid4().int % 1_000_000
    producer = cluster.produce(topic, PRODUCERS, rate, count, id_base)
    eventually(lambda: records_in(cluster, topic) >= 200, "records before the fault", 60, 0.5)
    assert producer.poll() is None, "the producers ended before the fault"
    return producer, expected_ids(PRODUCERS, count, id_base)


def all_acknowledged(producer: Any, sent: int) -> None:
    code, out, err = finish(producer)
    assert code == 0, f"squall produce exited {code}:\n{out}\n{err}"
    assert f"acknowledged by the broker: {sent:,} of {sent:,} sent (0 failed)" in out, out


def test_a_broker_host_dies_mid_stream_and_no_acknowledged_reading_is_lost(
    kafka_cluster: KafkaCluster,
) -> None:
    cluster = kafka_cluster
    cluster.heal()
    topic = fresh_topic(cluster)
    cluster.wait_fully_replicated(topic, timeout_s=30)
    count = 1500  # per producer: 15 s at 100/s, the fault ~2 s in
    producer, acknowledged = start_writing(cluster, topic, rate=100, count=count)
    victim = leader_of_partition_0(cluster, topic)
    victim_id = cluster.quorum.node(victim).node_id

    fault_start = time.time()
    assert cluster.quorum.kill(victim) >= 1  # every process of the host: the host is lost
    fault_end = time.time()
    assert producer.poll() is None, "the producers ended before the broker was lost"

    all_acknowledged(producer, PRODUCERS * count)
    survivors = cluster.quorum.bootstrap_without(victim)
    records = cluster.client("read", topic, bootstrap=survivors)
    report = delivery(records, acknowledged, fault_start, fault_end)
    print(f"broker {victim_id} on {victim} lost: {report.line()}")
    assert not report.lost, f"{len(report.lost)} acknowledged readings lost: {report.line()}"
    assert not report.unexpected, report.line()
    assert report.before > 0 and report.after > 0, report.line()
    # the idempotent producer's retries leave no duplicate in the log
    assert report.duplicates == 0, report.line()

    # the two survivors lead every partition and hold it in sync (min.insync.replicas 2)
    def led_by_survivors() -> list[dict[str, Any]] | None:
        parts = cluster.try_client("topic", topic, bootstrap=survivors)
        if parts and all(p["leader"] != victim_id and len(p["isr"]) == 2 for p in parts):
            return list(parts)
        return None

    eventually(led_by_survivors, "partitions led and in sync on the 2 survivors", 30)
    assert sorted(cluster.client("cluster", bootstrap=survivors)["brokers"]) == sorted(
        {1, 2, 3} - {victim_id}
    )


def test_a_broker_restarts_mid_stream_and_no_acknowledged_reading_is_lost(
    kafka_cluster: KafkaCluster,
) -> None:
    cluster = kafka_cluster
    cluster.heal()
    topic = fresh_topic(cluster)
    cluster.wait_fully_replicated(topic, timeout_s=30)
    # per producer: 60 s at 100/s; the restart (stop, JVM start, catching up) takes ~15-30 s
    count = 6000
    producer, acknowledged = start_writing(cluster, topic, rate=100, count=count)
    victim = leader_of_partition_0(cluster, topic)
    victim_id = cluster.quorum.node(victim).node_id

    fault_start = time.time()
    cluster.quorum.stop(victim)  # SIGTERM by pid: a rolling restart's clean stop
    assert not cluster.quorum.running(victim)
    stopped = time.time()
    down_at = records_in(cluster, topic)
    cluster.quorum.start(victim)
    cluster.wait_brokers(len(BROKERS), timeout_s=90)
    registered = time.time()
    # back in every ISR: it fetched what was written while it was down
    cluster.wait_fully_replicated(topic, timeout_s=60)
    fault_end = time.time()
    back_at = records_in(cluster, topic)
    assert producer.poll() is None, (
        f"the producers ended before broker {victim_id} was back: not a mid-stream restart"
    )

    all_acknowledged(producer, PRODUCERS * count)
    records = cluster.client("read", topic)
    report = delivery(records, acknowledged, fault_start, fault_end)
    print(
        f"broker {victim_id} on {victim} restarted in {fault_end - fault_start:.1f}s (stop "
        f"{stopped - fault_start:.1f}s, up {registered - stopped:.1f}s, in sync "
        f"{fault_end - registered:.1f}s) "
        f"({down_at} records when down, {back_at} when back in sync): {report.line()}"
    )
    assert not report.lost, f"{len(report.lost)} acknowledged readings lost: {report.line()}"
    assert not report.unexpected, report.line()
    assert report.before > 0 and report.after > 0, report.line()
    assert back_at > down_at  # written while it was away, and then replicated to it
    assert report.duplicates == 0, report.line()


# --- (c) the health topology consuming through the loss of a broker -----------------------

RULES = ("weight_kg > 80", "bmi > 35")  # config.yaml's rules, checked below
MAX_SPOUT_PENDING = 500
SPOUT_TASKS = 1  # topologies/health_kafka.py: KafkaHealthSpout.spec(par=1), checked below


def alerts_by_arithmetic(values: list[list[str]]) -> set[tuple[str, str]]:
    """(rule, reading id) of every alert the readings imply, by the test's own arithmetic on
    the course's payload ``[id, {"idade", "altura", "peso"}]``; BMI > 35 compared exactly in
    integers (weight / (height_cm / 100)^2 > 35  <=>  weight * 10000 > 35 * height_cm^2)."""
    expected = set()
    for _key, value in values:
        reading_id, body = json.loads(value)
        weight, height = body["peso"], body["altura"]
        if weight > 80:
            expected.add(("weight_kg > 80", str(reading_id)))
        if weight * 10_000 > 35 * height * height:
            expected.add(("bmi > 35", str(reading_id)))
    return expected


def test_the_health_topology_consumes_through_a_broker_loss_without_losing_an_alert(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    root = Path(__file__).resolve().parents[2]
    assert yaml.safe_load((root / "config.yaml").read_text())["rules"] == list(RULES)
    assert "KafkaHealthSpout.spec(par=1)" in (root / "topologies" / "health_kafka.py").read_text()
    cluster = kafka_cluster
    cluster.heal()
    tag = uuid.uuid4().hex[:8]
    readings, alerts, invalid, trends = (
        f"{t}-{tag}" for t in ("readings", "alerts", "invalid", "trends")
    )
    group = f"health-{tag}"
    cluster.client("create", readings, str(PARTITIONS))
    for topic in (alerts, invalid, trends):
        cluster.client("create", topic, "1")
    options = {
        # Kafka's own form, comma-separated, as a user passes it with -o
        "health.kafka.bootstrap.servers": cluster.bootstrap,
        "health.kafka.readings.topic": readings,
        "health.kafka.alerts.topic": alerts,
        "health.kafka.invalid.topic": invalid,
        "health.kafka.trends.topic": trends,
        "health.kafka.group.id": group,
        "health.sinks.console": "false",
        "topology.max.spout.pending": str(MAX_SPOUT_PENDING),
    }
    argv = [sys.executable, "-m", "squall.cli", "run", "topologies/health_kafka.py", "--quiet"]
    for key, value in options.items():
        argv += ["-o", f"{key}={value}"]
    log = (tmp_path / "topology.log").open("wb")
    topology = cluster.hosts.popen(APP, argv, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        count = 1500  # per producer: 15 s at 100/s
        producer, acknowledged = start_writing(cluster, readings, rate=100, count=count)

        def consuming() -> dict[str, int] | None:
            progress = cluster.try_client("committed", readings, group)
            return progress if progress and progress["committed"] >= 100 else None

        eventually(consuming, "the topology committing its first readings", 60, 0.5)
        victim = leader_of_partition_0(cluster, readings)
        fault_start = time.time()
        assert cluster.quorum.kill(victim) >= 1
        assert producer.poll() is None, "the producers ended before the broker was lost"
        assert topology.poll() is None, "the topology ended before the broker was lost"
        # the topology consumed before the loss and, the group committing all, after it
        all_acknowledged(producer, PRODUCERS * count)

        def all_committed() -> dict[str, int] | None:
            progress = cluster.try_client("committed", readings, group)
            done = progress and progress["committed"] == progress["end"] == PRODUCERS * count
            return progress if done else None

        eventually(all_committed, "the topology's group committing every reading", 120)
    finally:
        if topology.poll() is None:  # Ctrl-C: the runner drains in-flight trees and stops
            os.kill(topology.pid, signal.SIGINT)
        try:
            topology.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cluster.hosts.kill(APP)
        log.close()
    output = (tmp_path / "topology.log").read_text(errors="replace")
    assert topology.returncode == 0, output[-3000:]

    values = cluster.client("values", readings)
    assert {key for key, _ in values} == acknowledged
    expected = alerts_by_arithmetic(values)
    seen = Counter(
        (doc["rule"], str(doc["reading_id"]))
        for doc in (json.loads(value) for _, value in cluster.client("values", alerts))
    )
    # a replayed reading repeats its alerts: count readings delivered more than once
    replays: Counter[str] = Counter()
    for (_rule, reading_id), n in seen.items():
        replays[reading_id] = max(replays[reading_id], n - 1)
    duplicated = sum(replays.values())
    print(
        f"broker on {victim} lost {time.time() - fault_start:.0f}s before the end: readings "
        f"{len(values)}, alerts expected {len(expected)}, seen {sum(seen.values())}, "
        f"replayed readings {duplicated} (bound {MAX_SPOUT_PENDING * SPOUT_TASKS})"
    )
    assert not expected - set(seen), f"{len(expected - set(seen))} alerts missing"
    assert not set(seen) - expected, f"unexpected alerts: {sorted(set(seen) - expected)[:5]}"
    assert duplicated <= MAX_SPOUT_PENDING * SPOUT_TASKS
    assert cluster.client("values", invalid) == []  # every reading was valid: no dead letter

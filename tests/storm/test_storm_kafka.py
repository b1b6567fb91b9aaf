"""HealthKafkaTopology on real Storm against a real Kafka broker: `sparse run` produces the same
alerts, dead letters and trend windows as the embedded runner for the same readings, and after
`sparse submit` a worker killed with SIGKILL mid-stream loses no reading.

The broker is this module's own instance of the project's Kafka (squall.kafka.broker, as in
tests/kafka), on 127.0.0.1 and free ports. The delivery oracle (tests/kafka/kit.check_delivery)
derives the expected alerts and dead letters from the readings topic itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from squall.kafka.admin import ensure_topics
from squall.kafka.broker import Broker
from squall.kafka.producer import ProduceSpec, produce
from squall.storm.cluster import StormCluster
from squall.storm.home import StormHome
from squall.storm.nimbus import nimbus_client
from tests.kafka.kit import (
    HealthTopics,
    check_delivery,
    progress_of,
    read_topic,
    run_until_committed,
)
from tests.polling import eventually

from .kit import NOISE, health_project, run, storm_env

# isolated: each runs in a pytest process of its own after the main run (tests/run_isolated.sh),
# with its own broker, so the heaviest tests (a Storm JVM, a broker, Python workers) never run
# next to the rest of the suite on a 2-core machine.
pytestmark = [pytest.mark.storm, pytest.mark.kafka, pytest.mark.slow, pytest.mark.isolated]

ROOT = Path(__file__).parents[2]
EVENT_BASE_MS = 1_795_000_000_000


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    broker = Broker(f"pytest-storm-{os.getpid()}", heap="512m")
    broker.remove()  # a leftover of a crashed session with the same pid
    broker.start(out=sys.stderr)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        broker.remove()


def load_topology(project: Path, name: str) -> Any:
    """The Topology class of ``project/topologies/<name>.py`` (its own config.yaml applies)."""
    spec = importlib.util.spec_from_file_location(
        f"storm_test_{name}_{id(project)}", project / "topologies" / f"{name}.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HealthKafkaTopology


def storm_twin(topics: HealthTopics) -> HealthTopics:
    """Same readings topic, own consumer group and output topics: Storm's run next to the
    embedded runner's on the same input."""
    twin = replace(
        topics,
        alerts=topics.alerts + "-storm",
        invalid=topics.invalid + "-storm",
        trends=topics.trends + "-storm",
        group=topics.group + "-storm",
    )
    ensure_topics(topics.bootstrap, {twin.alerts: 2, twin.invalid: 1, twin.trends: 1})
    return twin


def produce_event_time_readings(topics: HealthTopics, count: int, spacing_ms: int) -> None:
    """Valid readings with ids 1..count and event times ``spacing_ms`` apart (not wall-clock
    times), in order on partition 0: enough event time for the trend windows to close."""
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap, acks="all")
    futures = []
    for i in range(count):
        doc = {
            "id": i + 1,
            "age": 18 + i % 60,
            "height_cm": 150 + (i * 7) % 50,
            "weight_kg": 45 + (i * 13) % 75,
            "ts": EVENT_BASE_MS + i * spacing_ms,
        }
        futures.append(producer.send(topics.readings, json.dumps(doc).encode(), partition=0))
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    producer.close()


# Payloads the parse bolt must send to the dead-letter topic (bad JSON, bad UTF-8, missing or
# invalid fields, empty).
MALFORMED: tuple[bytes, ...] = (
    b"not json",
    b"\xff\xfe\x00 not utf-8",
    b'{"id": 1, "age": 30}',
    b"",
    b'{"id": 2, "age": NaN, "height_cm": 170, "weight_kg": 80, "ts": 1800000000000}',
)


def produce_readings(topics: HealthTopics, per_producer: int) -> int:
    """4 producer processes (squall produce) with unique ids; returns how many the broker has."""
    result = produce(
        ProduceSpec(
            topics.bootstrap,
            topics.readings,
            producers=4,
            count=per_producer,
            fmt="json",
            unique_ids=True,
            seed=11,
        )
    )
    assert result.errors == () and result.acked == result.sent == 4 * per_producer
    return result.acked


def produce_malformed(topics: HealthTopics) -> int:
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap, acks="all")
    futures = [
        producer.send(topics.readings, payload, partition=i % topics.partitions)
        for i, payload in enumerate(MALFORMED)
    ]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    producer.close()
    return len(futures)


def alerts_of(topics: HealthTopics) -> set[tuple[str, int]]:
    return {
        (d["rule"], d["reading_id"])
        for d in (json.loads(r.value) for r in read_topic(topics.bootstrap, topics.alerts))
    }


def trends_of(topics: HealthTopics) -> list[dict[str, Any]]:
    records = [json.loads(r.value) for r in read_topic(topics.bootstrap, topics.trends)]
    return sorted(records, key=lambda d: (d["rule"], d["window_start_ms"]))


def committed_all(topics: HealthTopics) -> bool:
    done, total = progress_of(topics.bootstrap, topics)
    return bool(total) and done >= total


def test_sparse_run_gives_the_embedded_runners_alerts_and_trends(
    bootstrap: str, storm_home: StormHome, tmp_path: Path
) -> None:
    # One partition and one task per bolt: the readings reach the trend windows in event-time
    # order in both runners, so the windows must match exactly (with 4 partitions read in a
    # different interleaving, alerts can fall behind a window's watermark in one run only).
    topics = HealthTopics.fresh(bootstrap, partitions=1)
    ensure_topics(bootstrap, {topics.trends: 1})
    twin = storm_twin(topics)
    produce_event_time_readings(topics, 2000, spacing_ms=20)
    bad = produce_malformed(topics)
    project = health_project(
        tmp_path / "project", parallelism={"parse": 1, "bmi": 1, "threshold": 1, "trend": 1}
    )

    embedded = run_until_committed(load_topology(project, "health_kafka"), topics)
    assert embedded.errors == []

    # No -t: it runs until Ctrl-C (SIGINT), which comes once everything is committed and the
    # trend windows stopped coming.
    log = (tmp_path / "sparse-run.log").open("w")
    proc = subprocess.Popen(
        ["sparse", "run", "-e", "local", "-n", "health_kafka", *twin.cli_options()],
        cwd=project,
        env=storm_env(storm_home),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        try:
            eventually(
                lambda: proc.poll() is not None or committed_all(twin),
                "Storm to commit every reading",
                timeout_s=240,
            )
        except AssertionError as exc:
            log.flush()
            raise AssertionError(
                f"{exc}\n{_components_said(tmp_path / 'sparse-run.log')}"
            ) from None
        assert proc.poll() is None, "sparse run ended by itself:\n" + _tail(
            tmp_path / "sparse-run.log"
        )
        expected_windows = len(trends_of(topics))
        eventually(
            lambda: len(trends_of(twin)) >= expected_windows, "Storm's trend windows", timeout_s=60
        )
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may be gone: keep the real failure
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        log.close()

    report = check_delivery(twin)
    print("\nStorm's delivery:", report.line())
    assert (report.readings, report.invalid, report.missing_alerts, report.unexpected_alerts) == (
        2000 + bad,
        bad,
        [],
        [],
    )
    assert report.missing_dead_letters == []
    assert alerts_of(twin) == alerts_of(topics)
    storm_trends, embedded_trends = trends_of(twin), trends_of(topics)
    assert embedded_trends, "no trend window closed: the readings span too little event time"
    # Exact: a reading that a rebalance or a timeout replays is counted once per window
    # (TrendBolt counts each Kafka record once; seen before that: 70 alerts under Storm
    # against 58 embedded in one window, after a rebalance replayed 414 in-flight readings).
    assert storm_trends == embedded_trends


def _components_said(path: Path, lines: int = 80) -> str:
    """What the Python components logged through Storm, and Storm's warnings and errors."""
    text = [
        line
        for line in path.read_text(errors="replace").splitlines()
        if ("ShellLog" in line and "logging enabled" not in line)
        or "[WARN]" in line
        or "[ERROR]" in line
    ]
    return "\n".join(text[-lines:])


def _tail(path: Path, lines: int = 60) -> str:
    text = [
        line
        for line in path.read_text(errors="replace").splitlines()
        if not any(n in line for n in NOISE)
    ]
    return "\n".join(text[-lines:])


def with_fusion(project: Path, mode: str) -> None:
    """Set HealthKafkaTopology's ``squall.storm.fusion`` in the project copy to ``mode``."""
    path = project / "topologies" / "health_kafka.py"
    shipped = '"squall.storm.fusion": "chains"'
    text = path.read_text()
    assert shipped in text, f"{path}: no {shipped} line to change"
    path.write_text(text.replace(shipped, f'"squall.storm.fusion": "{mode}"'))


def storm_bolts(cluster: StormCluster, name: str) -> set[str]:
    """The bolts of the running topology ``name`` as Nimbus has them (after fusion)."""
    state = cluster.state()
    assert state is not None
    with nimbus_client("127.0.0.1", state.ports.nimbus) as nimbus:
        [topology_id] = [t.id for t in nimbus.getClusterInfo().topologies if t.name == name]
        bolts = nimbus.getTopology(topology_id).bolts
    return {name for name in bolts if not name.startswith("__")}  # Storm's own: __acker...


# "chains" as shipped: parse, bmi and threshold in one process, sinks and trend apart. "groups":
# every bolt in one process, so a kill -9 also takes Kafka sinks holding unacknowledged alerts
# and the trend window with it (squall.storm.fused_bolt tracks them back to the readings).
FUSION_BOLTS = {
    "chains": {"threshold", "alerts", "trend_feed", "trend", "trends", "dead_letter", "console"},
    "groups": {"console"},
}


@pytest.mark.parametrize("fusion", sorted(FUSION_BOLTS))
def test_sparse_submit_worker_killed_mid_stream_loses_nothing(
    bootstrap: str, storm_cluster: StormCluster, tmp_path: Path, fusion: str
) -> None:
    state = storm_cluster.state()
    assert state is not None
    topics = HealthTopics.fresh(bootstrap)
    ensure_topics(bootstrap, {topics.trends: 1})
    readings = produce_readings(topics, 2_500)  # 4 producers: 10,000 readings
    bad = produce_malformed(topics)
    project = health_project(tmp_path / "project", nimbus_port=state.ports.nimbus)
    with_fusion(project, fusion)
    env = storm_env(storm_cluster.home)

    out = run(
        ["sparse", "submit", "-e", "local", "-n", "health_kafka", *topics.cli_options()],
        project,
        env,
    )
    assert out.returncode == 0, out.stdout[-5000:]
    try:
        assert storm_bolts(storm_cluster, "health_kafka") == FUSION_BOLTS[fusion]

        def under_way() -> bool:
            done, total = progress_of(bootstrap, topics)
            return 0 < done < total

        eventually(
            under_way, "the topology to commit part of the readings", timeout_s=180, every_s=0.2
        )
        [worker] = storm_cluster.worker_processes()
        os.kill(worker.pid, signal.SIGKILL)
        eventually(
            lambda: [w for w in storm_cluster.worker_processes() if w.pid != worker.pid],
            "a restarted worker",
        )
        eventually(
            lambda: committed_all(topics),
            "every reading committed after the restart",
            timeout_s=300,
        )
    finally:
        run(["sparse", "kill", "-e", "local", "-n", "health_kafka", "--wait", "1"], project, env)

    report = check_delivery(topics)
    print("\ndelivery after kill -9:", report.line())
    assert report.readings == readings + bad
    assert report.missing_alerts == []
    assert report.unexpected_alerts == []
    assert report.missing_dead_letters == []
    assert report.expected_alerts > 0

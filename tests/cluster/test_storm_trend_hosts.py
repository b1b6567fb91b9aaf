"""Trend windows across the loss of a supervisor host (issue 17, item 5; docs/windows.md,
"Trend windows across a host loss"; docs/cluster.md).

The oracle is a second run, as in tests/kafka/test_trend_changelog.py, not the project's
arithmetic: fixed readings (explicit Kafka record timestamps, so event time is the same in both
runs) are written, paced, into a readings topic of one partition on the 3-broker Kafka while

- run A, the reference, reads them uninterrupted: the embedded runner (`squall run
  topologies/health_kafka.py`) on the "client" host, against the three brokers; and
- run B, the health Kafka topology submitted with `sparse submit` to Storm on the test hosts
  (``storm_kafka``, tests/cluster/conftest.py), with the trend checkpoints on (a compacted
  changelog, replicated 3 times) and ``topology.workers=1``, reads them too. Once B has written
  checkpoints and committed a share of the readings, well past its last checkpoint, every
  process of the supervisor host running its worker is killed (SIGKILL: the Supervisor, the
  worker JVM and its Python components). Nimbus moves the worker to the other supervisor host,
  where the trend bolt restores its last checkpoint and the spout, starting in the same worker,
  catches up: it re-emits the committed readings the checkpoint may not have counted.

Once each run has committed every reading and written no trend record for a few seconds, the
last count per (rule, window) of B must equal A's. The test also requires the fault to have
hit: B was killed with readings committed past its last checkpoint and readings still to come,
and the surviving host's worker log shows the restore and a catch-up of more than 0 records.

What this covers, and what not: the catch-up runs when the *spout* starts. With one worker the
spout and the trend bolt share it, so a host loss restarts both, which is the configuration
where the guarantee holds (as does any placement that keeps the spout's first task in the trend
bolt's worker). A host loss that restarts only the trend bolt's worker restores its last
checkpoint and nothing re-emits what was committed since: those counts are lost (at most once
for that interval; docs/windows.md). One partition and one task per bolt keep the alerts in
record order in both runs, so which alerts are late does not depend on the interleaving.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from squall.storm.hosts_cluster import FAILOVER_SETTINGS, HostsCluster
from tests.cluster.kafka_cluster import CLIENT, KafkaCluster
from tests.cluster.storm_kit import (
    SUPERVISORS,
    StormKafka,
    executor_hosts,
    health_project,
    host_named,
    sparse,
    topology_id,
    worker_pids,
)
from tests.kafka.kit import one_parse_task
from tests.polling import eventually

pytestmark = [pytest.mark.storm, pytest.mark.kafka, pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NAME = "health_kafka"  # sparse submits topologies/<NAME>.py
SPOUT, TREND = "kafka", "trend"  # topologies/health_kafka.py's component names
RATE_HZ = 50  # readings/s written: what one worker of the topology keeps up with on a busy machine
STEP_MS = 20  # event time between readings: about real time at RATE_HZ (10 s windows, 2 s slide)
MAX_READINGS = 20_000  # a bound on the producer, whatever the test's timing
# An hour ago, on a window bound: the brokers refuse timestamps more than an hour ahead and
# drop records older than their retention (7 days).
T0_MS = (int(time.time()) - 3600) // 60 * 60_000
CHECKPOINT_S = 6  # rarer than the commits (0.5 s): at the kill, committed readings lie past it
LAUNCH_GRACE_S = int(FAILOVER_SETTINGS["nimbus.task.launch.secs"])
QUIET_S = 4  # no new trend record for this long: the run's last windows are written

# Runs on the client host: writes fixed readings (the same generator as
# tests/kafka/test_trend_changelog.py), reading n with timestamp T0 + n * STEP, paced, to
# partition 0, acks=all, until the file argv[6] exists (or argv[5] readings); prints how many.
PRODUCE = """
import json, os, random, sys, time
from kafka import KafkaProducer
bootstrap, topic, t0, step, limit, stop = sys.argv[1:7]
t0, step, limit, rate = int(t0), int(step), int(limit), float(sys.argv[7])
producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5)
rng = random.Random(17)
start, n = time.monotonic(), 0
while n < limit and not os.path.exists(stop):
    body = {"idade": rng.randint(18, 80), "altura": rng.randint(150, 195)}
    body["peso"] = rng.randint(50, 120)
    producer.send(topic, json.dumps([n, body]).encode(), partition=0, timestamp_ms=t0 + n * step)
    n += 1
    ahead = n / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
producer.flush(timeout=60)
producer.close()
print(n, flush=True)
"""

# Runs on the client host: one JSON line about every 0.3 s, {"committed": {group: offset of
# partition 0}, "ends": {topic: end offset of partition 0}}; its consumers never join a group.
MONITOR = """
import json, sys, time
from kafka import KafkaConsumer, TopicPartition
bootstrap, readings, groups, topics = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
servers = bootstrap.split(",")
probes = {
    g: KafkaConsumer(bootstrap_servers=servers, group_id=g, enable_auto_commit=False)
    for g in groups.split(",")
}
parts = [TopicPartition(t, 0) for t in [readings, *topics.split(",")]]
first = next(iter(probes.values()))
while True:
    try:
        ends = first.end_offsets(parts)
        line = {
            "committed": {g: c.committed(TopicPartition(readings, 0)) or 0 for g, c in probes.items()},
            "ends": {tp.topic: ends[tp] for tp in parts},
        }
    except Exception as exc:
        line = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(line), flush=True)
    time.sleep(0.3)
"""


@dataclass
class Monitor:
    """MONITOR on the client host; the latest line it printed."""

    proc: subprocess.Popen[str]
    errors: Path
    latest: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls, kafka: KafkaCluster, readings: str, groups: list[str], topics: list[str], errors: Path
    ) -> Monitor:
        argv = [sys.executable, "-c", MONITOR, kafka.bootstrap, readings]
        argv += [",".join(groups), ",".join(topics)]
        with open(errors, "wb") as err:  # a file: kafka-python's warnings never fill a pipe
            proc = kafka.hosts.popen(CLIENT, argv, stdout=subprocess.PIPE, stderr=err, text=True)
        monitor = cls(proc, errors)
        threading.Thread(target=monitor._read, daemon=True).start()
        return monitor

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            doc = json.loads(line)
            if "error" not in doc:
                self.latest = doc

    def _alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.errors.read_text(errors="replace")[-2000:]
            raise AssertionError(f"the monitor on the client host ended: {tail}")

    def committed(self, group: str) -> int:
        self._alive()
        return int(self.latest.get("committed", {}).get(group, 0))

    def end(self, topic: str) -> int:
        self._alive()
        return int(self.latest.get("ends", {}).get(topic, 0))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@dataclass(frozen=True)
class Run:
    """One run's group and topics."""

    group: str
    alerts: str
    invalid: str
    trends: str

    @classmethod
    def fresh(cls, kafka: KafkaCluster, name: str) -> Run:
        tag = f"{name}-{uuid.uuid4().hex[:8]}"
        run = cls(f"trend-{tag}", f"alerts-{tag}", f"invalid-{tag}", f"trends-{tag}")
        for topic in (run.alerts, run.invalid, run.trends):
            kafka.client("create", topic, "1")
        return run

    def options(self, kafka: KafkaCluster, readings: str) -> dict[str, str]:
        return {
            "health.kafka.bootstrap.servers": kafka.bootstrap,  # all three brokers
            "health.kafka.readings.topic": readings,
            "health.kafka.alerts.topic": self.alerts,
            "health.kafka.invalid.topic": self.invalid,
            "health.kafka.trends.topic": self.trends,
            "health.kafka.group.id": self.group,
            "health.sinks.console": "false",  # under Storm, stdout is the multilang pipe
            "squall.kafka.spout.session.timeout.ms": "6000",
        }

    def final_counts(self, kafka: KafkaCluster) -> tuple[dict[tuple[str, int, int], int], int]:
        """The last count per (rule, window) in the trends topic, and how many records."""
        records = [json.loads(value) for _key, value in kafka.client("values", self.trends)]
        last = {(t["rule"], t["window_start_ms"], t["window_end_ms"]): t["count"] for t in records}
        return last, len(records)


def settled(monitor: Monitor, run: Run, total: int, what: str) -> None:
    """Until ``run`` has committed all ``total`` readings and written no trend record for
    QUIET_S (its last windows close on the next ticks)."""
    eventually(
        lambda: monitor.committed(run.group) >= total, f"{what} committing every reading", 240, 0.5
    )
    last = (-1, time.monotonic())
    while time.monotonic() - last[1] < QUIET_S:
        end = monitor.end(run.trends)
        if end != last[0]:
            last = (end, time.monotonic())
        time.sleep(0.3)


def worker_logs(storm: HostsCluster, host: str, topo_id: str) -> str:
    logs = storm.host_folder(host) / "logs" / "workers-artifacts" / topo_id
    return "\n".join(p.read_text(errors="replace") for p in sorted(logs.glob("*/worker.log")))


def diagnosis(storm: HostsCluster) -> str:
    """The ends of the supervisor hosts' Supervisor and worker logs, for a failure's report
    (the fixture removes the cluster's folder afterwards)."""
    chunks = []
    for host in SUPERVISORS:
        chunks.append(storm.log_tail(host, "supervisor", 15))
        for path in sorted((storm.host_folder(host) / "logs").glob("workers-artifacts/*/*/*.log")):
            tail = path.read_text(errors="replace").splitlines()[-25:]
            chunks.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(chunks)


def keep_logs(storm: HostsCluster, target: Path) -> None:
    for host in SUPERVISORS:
        shutil.copytree(storm.host_folder(host) / "logs", target / host, dirs_exist_ok=True)


def test_trend_counts_after_losing_the_worker_host_equal_an_uninterrupted_run(
    storm_kafka: StormKafka, tmp_path: Path
) -> None:
    storm, kafka = storm_kafka.storm, storm_kafka.kafka
    assert "KafkaHealthSpout.spec(par=1)" in (ROOT / "topologies" / "health_kafka.py").read_text()
    address = {h: storm.hosts[h].address for h in SUPERVISORS}
    tag = uuid.uuid4().hex[:8]
    readings, changelog = f"readings-trend-{tag}", f"changelog-trend-{tag}"
    kafka.client("create", readings, "1")  # CreateTime: the producer's timestamps stay
    kafka.client("create", changelog, "1", "cleanup.policy=compact")
    a, b = Run.fresh(kafka, "a"), Run.fresh(kafka, "b")
    project = health_project(storm, tmp_path / "project")
    # One parse task, one path: alerts reach the windows in order. The topology's shape comes
    # from config.yaml when its file is read (an -o reaches only the components' settings, and
    # squall run refuses one), so both runs read this copy: B as the project's, A through
    # $SQUALL_HEALTH_CONFIG.
    config = project / "config.yaml"
    config.write_text(one_parse_task(config))
    stop_file = tmp_path / "stop-producing"
    started = time.monotonic()
    marks: dict[str, float] = {}

    def mark(what: str) -> None:
        marks[what] = time.monotonic() - started

    # ---------------------------------------------------------------- B submitted, A started
    options_b = {
        **b.options(kafka, readings),
        "topology.workers": "1",  # the spout and the trend bolt in one worker (the docstring)
        "health.kafka.trends.changelog.topic": changelog,
        "health.kafka.trends.checkpoint.interval.secs": str(CHECKPOINT_S),
        "squall.kafka.spout.commit.interval.secs": "0.5",
    }
    argv = ["submit", "-e", "local", "-n", NAME]
    for key, value in options_b.items():
        argv += ["-o", f"{key}={value}"]
    sparse(storm, project, *argv)
    submitted_at = time.monotonic()
    mark("B submitted")
    command_a = [sys.executable, "-m", "squall.cli", "run", "topologies/health_kafka.py"]
    for key, value in a.options(kafka, readings).items():
        command_a += ["-o", f"{key}={value}"]
    log_a = tmp_path / "run-a.log"
    groups, topics = [a.group, b.group], [changelog, b.trends, a.trends]
    monitor = Monitor.start(kafka, readings, groups, topics, tmp_path / "monitor.err")
    producer = run_a = None
    try:
        with open(log_a, "wb") as out:
            run_a = kafka.hosts.popen(
                CLIENT,
                [*command_a, "--quiet"],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SQUALL_HEALTH_CONFIG": str(config)},
            )
        producer_argv = [sys.executable, "-c", PRODUCE, kafka.bootstrap, readings, str(T0_MS)]
        producer_argv += [str(STEP_MS), str(MAX_READINGS), str(stop_file), str(RATE_HZ)]
        with open(tmp_path / "producer.err", "wb") as err:
            producer = kafka.hosts.popen(
                CLIENT, producer_argv, stdout=subprocess.PIPE, stderr=err, text=True
            )

        topo_id = eventually(lambda: topology_id(storm, NAME), "the topology in the UI")
        [spout_address] = eventually(
            lambda: executor_hosts(storm, topo_id, SPOUT), "the spout's executor assigned"
        )
        # one worker: the trend bolt is where the spout is; one path to it
        assert executor_hosts(storm, topo_id, TREND) == [spout_address]
        # parse, bmi and threshold run as one component, threshold (squall.storm.fusion: parse
        # at parallelism 1 joins the chain)
        assert executor_hosts(storm, topo_id, "threshold") == [spout_address]
        doomed = host_named(storm, spout_address)
        [survivor] = [h for h in SUPERVISORS if h != doomed]
        eventually(lambda: worker_pids(storm, doomed), "B's worker started", 120)
        assert not worker_pids(storm, survivor)

        # ------------------------------------------------------------ the host loss
        # Once B has written checkpoints, committed a share of the readings and 200 of them
        # past the last checkpoint (as seen from here: at least), after the launch grace
        # (inside it Nimbus would wait it out before moving anything).
        seen = {"checkpoints": 0, "committed": 0}

        def due() -> int | bool:
            checkpoints, committed = monitor.end(changelog), monitor.committed(b.group)
            if checkpoints != seen["checkpoints"]:
                seen.update(checkpoints=checkpoints, committed=committed)
                return False
            graced = time.monotonic() >= submitted_at + LAUNCH_GRACE_S + 5
            ready = checkpoints >= 2 and committed >= 1000 and committed - seen["committed"] >= 200
            # and the worker is there to kill (a busy machine's Supervisor may be restarting it)
            return committed if ready and graced and worker_pids(storm, doomed) else False

        committed_at_kill = eventually(
            due, "B committing 200 readings past a checkpoint", timeout_s=240, every_s=0.1
        )
        checkpoints_at_kill = monitor.end(changelog)
        assert producer.poll() is None, "the producer ended before the host loss"
        doomed_worker = worker_pids(storm, doomed)
        doomed_pids = set(storm.hosts.pids_in(doomed))
        killed = storm.hosts.kill(doomed)
        written_at_kill = monitor.end(readings)
        mark("host killed")
        # the Supervisor, the worker JVM, its Python components
        assert doomed_worker and doomed_worker <= doomed_pids and killed >= 3, (killed, doomed_pids)
        eventually(
            lambda: executor_hosts(storm, topo_id, TREND) == [address[survivor]],
            "Nimbus to move the worker to the other host",
            120,
        )
        assert executor_hosts(storm, topo_id, SPOUT) == [address[survivor]]
        mark("worker moved")
        # Readings went on arriving while no B ran; they end here.
        stop_file.touch()
        out, _ = producer.communicate(timeout=120)
        assert producer.returncode == 0, (tmp_path / "producer.err").read_text()[-3000:]
        total = int(out.split()[-1])
        assert written_at_kill < total, "every reading was written before the host loss"
        eventually(lambda: monitor.end(readings) >= total, "the readings in the topic", 60)
        mark("readings written")

        settled(monitor, b, total, "run B")
        mark("B settled")
        settled(monitor, a, total, "run A")
        assert run_a.poll() is None, log_a.read_text(errors="replace")[-3000:]
        os.kill(run_a.pid, signal.SIGINT)  # Ctrl-C: the runner drains and stops
        assert run_a.wait(60) == 0, log_a.read_text(errors="replace")[-3000:]
        mark("A settled")
    except BaseException:
        print(diagnosis(storm))
        keep_logs(storm, tmp_path / "storm-logs")
        raise
    finally:
        stop_file.touch()
        for proc in (producer, run_a):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(30)
        monitor.stop()

    counts_a, records_a = a.final_counts(kafka)
    counts_b, records_b = b.final_counts(kafka)
    log_b = worker_logs(storm, survivor, topo_id)
    caught_up = re.findall(
        rf"catch-up for the state in {re.escape(changelog)}: (\d+) committed records", log_b
    )
    restored = re.findall(rf"trend windows restored from {re.escape(changelog)} offset", log_b)
    differ = sorted(
        k for k in counts_a.keys() | counts_b.keys() if counts_a.get(k) != counts_b.get(k)
    )
    print(
        f"\n{killed} processes of {doomed} killed at {committed_at_kill} of {written_at_kill} "
        f"readings committed by B, after {checkpoints_at_kill} checkpoints (the last one at "
        f"{seen['committed']} committed, seen from the client host); {total} readings in all; "
        f"on {survivor}: restored {len(restored)}, catch-up re-emitted {caught_up}; windows: "
        f"A {len(counts_a)} ({records_a} records), B {len(counts_b)} ({records_b} records), "
        f"differing {len(differ)} (rule, start s from T0, A, B): "
        f"{[(k[0], (k[1] - T0_MS) / 1000, counts_a.get(k), counts_b.get(k)) for k in differ]}"
        f"; seconds: {', '.join(f'{k} {v:.0f}' for k, v in marks.items())}"
    )
    try:
        # The fault hit: B restarted on the survivor from a checkpoint and caught up.
        assert restored, log_b[-3000:]
        assert caught_up and int(caught_up[-1]) > 0, log_b[-3000:]
        assert committed_at_kill < total
        assert len(counts_a) >= 40  # 2 rules x the windows of the readings' event time
        assert counts_b == counts_a
    except AssertionError:
        keep_logs(storm, tmp_path / "storm-logs")  # for the report: the fixture removes them
        raise

    # The cluster as the module found it: the topology gone, the lost host's Supervisor back.
    sparse(storm, project, "kill", "-e", "local", "-n", NAME, "--wait", "1")
    eventually(lambda: topology_id(storm, NAME) is None, "the topology gone", 120)
    assert storm.restart_exited(doomed) == ["supervisor"]
    storm.wait_ready()
    print(f"topology killed and {doomed}'s Supervisor back {time.monotonic() - started:.0f} s in")

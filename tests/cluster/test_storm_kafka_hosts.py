"""The health Kafka topology on the Storm test hosts, reading the 3-broker Kafka, through two
faults while the course's producers write (issue 15, items 2, 4 and 5; docs/cluster.md):

1. **a link cut**: the link of the supervisor host that runs the Kafka spout goes down
   mid-stream. Nimbus moves its executors to the other host, and the new spout resumes from
   the group's committed offsets: what the old one had emitted past its last commit is read
   from Kafka again (a replay). Behind the partition the host's Supervisor halts and its
   worker stops itself; the link is mended and the Supervisor started again.
2. **a redeploy**: `sparse kill` (with its wait) and `sparse submit` of a new version, which
   writes its alerts to a topic of its own (so the test knows which version wrote what), while
   the producers go on writing. The new version starts at the offsets the old one committed.

One cluster (tests/cluster/conftest.py's ``storm_kafka``: Storm on nimbus/super1/super2, the
brokers on k1-k3, the producers and the read-back on "client", all on one bridge) and one
topology run through both faults, to keep CI short.

The oracle is Kafka: the readings topic is read back and judged by tests/kafka/oracle.py (its
own payload checks, BMI and reading of config.yaml's rules, none of the project's code); every
alert it implies must be in the alerts topics, found by ``alert_id`` (the reading's
``topic:partition:offset/rule``), none may be unexpected, and no reading may become a dead
letter. Duplicates are counted per reading and bounded by the tuples the spout may have had in
flight at the fault. The alerts' latency across hosts is reported from the brokers' append
times (LogAppendTime topics), never from two hosts' clocks.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from squall.storm.hosts_cluster import FAILOVER_SETTINGS, HostsCluster
from tests.cluster.kafka_cluster import KafkaCluster, expected_ids, finish
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
from tests.kafka.oracle import alerts_of, rules, valid_reading
from tests.polling import eventually

pytestmark = [pytest.mark.storm, pytest.mark.kafka, pytest.mark.cluster, pytest.mark.slow]

NAME = "health_kafka"
SPOUT = "kafka"  # topologies/health_kafka.py: KafkaHealthSpout.spec(par=1), checked below
SPOUT_TASKS = 1
PARTITIONS = 3
PRODUCERS = 2
RATE = 40  # readings/s per producer: 80/s in all, well within what the topology keeps up with
# The spout's in-flight limit, Storm's and the spout's own (a spout call may emit up to 16
# records, so Storm's limit alone could be passed by a few): what a fault may replay.
MAX_PENDING = 500
LAUNCH_GRACE_S = int(FAILOVER_SETTINGS["nimbus.task.launch.secs"])


@dataclass(frozen=True)
class Topics:
    readings: str
    alerts_v1: str
    alerts_v2: str
    invalid: str
    trends: str
    group: str

    @classmethod
    def fresh(cls, kafka: KafkaCluster) -> Topics:
        tag = uuid.uuid4().hex[:8]
        topics = cls(
            *(f"{name}-{tag}" for name in ("readings", "alerts-v1", "alerts-v2")),
            f"invalid-{tag}",
            f"trends-{tag}",
            f"health-{tag}",
        )
        # The brokers stamp the readings and alerts as they append them: their timestamps are
        # the brokers' clocks, not the producers' or the workers' hosts'.
        stamped = "message.timestamp.type=LogAppendTime"
        kafka.client("create", topics.readings, str(PARTITIONS), stamped)
        for topic in (topics.alerts_v1, topics.alerts_v2):
            kafka.client("create", topic, "1", stamped)
        for topic in (topics.invalid, topics.trends):
            kafka.client("create", topic, "1")
        return topics


def submit(
    storm: HostsCluster, kafka: KafkaCluster, project: Path, topics: Topics, alerts: str
) -> None:
    """`sparse submit` of the health Kafka topology with 2 workers, writing to ``alerts``."""
    options = {
        "topology.workers": 2,
        "topology.max.spout.pending": MAX_PENDING,
        "squall.kafka.spout.max.in.flight": MAX_PENDING,
        # Storm 2's shuffle keeps tuples in the spout's worker while it keeps up (load-aware
        # messaging); round-robin sends half of them to the other host, over Netty.
        "topology.disable.loadaware.messaging": "true",
        "health.kafka.bootstrap.servers": kafka.bootstrap,  # all three brokers
        "health.kafka.readings.topic": topics.readings,
        "health.kafka.alerts.topic": alerts,
        "health.kafka.invalid.topic": topics.invalid,
        "health.kafka.trends.topic": topics.trends,
        "health.kafka.group.id": topics.group,
        # a Python component's stdout is Storm's multilang pipe (docs/storm.md)
        "health.sinks.console": "false",
    }
    argv = ["submit", "-e", "local", "-n", NAME]
    for key, value in options.items():
        argv += ["-o", f"{key}={value}"]
    sparse(storm, project, *argv)


def kill(storm: HostsCluster, project: Path, wait_s: int) -> None:
    """`sparse kill` (deactivate, wait, kill) and the topology and its workers gone."""
    sparse(storm, project, "kill", "-e", "local", "-n", NAME, "--wait", str(wait_s))
    eventually(lambda: topology_id(storm, NAME) is None, "the topology gone", 120)
    eventually(lambda: not any(worker_pids(storm, h) for h in SUPERVISORS), "its workers gone", 120)


def offsets(kafka: KafkaCluster, topics: Topics) -> tuple[dict[int, int], dict[int, int]]:
    """The group's committed offsets and the end offsets, per partition of the readings."""
    answer = kafka.client("offsets", topics.readings, topics.group)
    return (
        {int(p): o for p, o in answer["committed"].items()},
        {int(p): o for p, o in answer["end"].items()},
    )


def committed(kafka: KafkaCluster, topics: Topics) -> int:
    answer = kafka.try_client("committed", topics.readings, topics.group)
    return int(answer["committed"]) if answer else 0


def wait_committed(
    kafka: KafkaCluster, topics: Topics, count: int, what: str, timeout_s: float
) -> None:
    eventually(lambda: committed(kafka, topics) >= count, what, timeout_s)


@dataclass(frozen=True)
class Alert:
    alert_id: str  # "<readings topic>:<partition>:<offset>/<rule>"
    partition: int
    offset: int
    ts_ms: int  # when the broker appended the alert (LogAppendTime)


def alerts_in(kafka: KafkaCluster, topic: str) -> list[Alert]:
    alerts = []
    for _p, _o, _key, value, ts in kafka.client("records", topic):
        alert_id = json.loads(value)["alert_id"]
        source = alert_id.split("/", 1)[0]
        _topic, partition, offset = source.rsplit(":", 2)
        alerts.append(Alert(alert_id, int(partition), int(offset), ts))
    return alerts


def expected_alerts(kafka: KafkaCluster, topics: Topics) -> tuple[set[str], list[list[Any]]]:
    """The alert ids the readings imply (by the oracle), and the readings' records."""
    config_rules = rules()
    records = kafka.client("records", topics.readings)
    expected = set()
    for partition, offset, _key, value, _ts in records:
        reading = valid_reading(value.encode())
        assert reading is not None, f"the producers wrote an invalid reading: {value!r}"
        for rule in alerts_of(reading, config_rules):
            expected.add(f"{topics.readings}:{partition}:{offset}/{rule}")
    return expected, records


def latency_line(
    alerts: list[Alert], records: list[list[Any]], since_ms: float, until_ms: float
) -> str:
    """Alert latency from the brokers' timestamps (reading appended -> its alert appended) of
    the readings appended in [since_ms, until_ms): across hosts without comparing two hosts'
    clocks. Reported, not asserted (a loaded machine's timing is not a property of the code)."""
    appended = {(p, o): ts for p, o, _key, _value, ts in records if since_ms <= ts < until_ms}
    first: dict[str, Alert] = {}
    for alert in alerts:
        first.setdefault(alert.alert_id, alert)
    latencies = sorted(
        a.ts_ms - appended[(a.partition, a.offset)]
        for a in first.values()
        if (a.partition, a.offset) in appended
    )
    if not latencies:
        return "no alert to time"
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    return f"latency p50 {p50} ms, p99 {p99} ms, max {latencies[-1]} ms ({len(latencies)} alerts)"


def replayed_readings(alerts: list[Alert]) -> int:
    """Readings whose alerts were written more than once: for each reading, the most times
    any of its alerts was written, less one (a replay writes each of its alerts again)."""
    source = {a.alert_id: (a.partition, a.offset) for a in alerts}
    per_reading: Counter[tuple[int, int]] = Counter()
    for alert_id, n in Counter(a.alert_id for a in alerts).items():
        per_reading[source[alert_id]] = max(per_reading[source[alert_id]], n - 1)
    return sum(per_reading.values())


class Producers:
    """`squall produce` on the client host (PRODUCERS at RATE, acks=all, unique ids), for
    ``seconds``; ``after`` a previous run, its ids follow on (the counts add up)."""

    def __init__(
        self, kafka: KafkaCluster, topics: Topics, seconds: int, after: Producers | None = None
    ) -> None:
        self.kafka, self.topics = kafka, topics
        self.count = RATE * seconds  # per producer
        # ids apart from every earlier run's (they are id_base + p * 1e9 + n)
        self.base = (after.base + 100_000_000) if after else uuid.uuid4().int % 1_000_000
        self.before = after.total if after else 0
        self.ids = expected_ids(PRODUCERS, self.count, self.base)
        self.total = self.before + PRODUCERS * self.count  # readings in the topic at the end
        self.proc = kafka.produce(topics.readings, PRODUCERS, RATE, self.count, self.base)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_writing(self) -> None:
        """Until some of its readings are in Kafka (it writes while what follows happens)."""

        def written() -> bool:
            answer = self.kafka.try_client("ends", self.topics.readings)
            return bool(answer) and answer["records"] >= self.before + 100

        eventually(written, "the producers writing", 60, 0.5)
        assert self.running(), "the producers ended already"

    def finish(self) -> None:
        """It ends with every send acknowledged (acks=all)."""
        sent = PRODUCERS * self.count
        code, out, err = finish(self.proc)
        assert code == 0, f"squall produce exited {code}:\n{out}\n{err}"
        assert f"acknowledged by the broker: {sent:,} of {sent:,} sent (0 failed)" in out, out


def steady(kafka: KafkaCluster, topics: Topics) -> bool:
    """The group has committed a good part of the readings and is within 5 s of the end."""
    answer = kafka.try_client("committed", topics.readings, topics.group)
    if not answer:
        return False
    return answer["committed"] >= 1000 and answer["end"] - answer["committed"] <= 5 * RATE * 2


def process_names(cluster: HostsCluster, host: str) -> list[str]:
    """What runs in ``host``: each process's main class or module, for the report."""
    names = []
    for pid in cluster.hosts.pids_in(host):
        try:
            argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0") if a]
        except OSError:
            continue  # ended meanwhile
        # a JVM by its main class (a worker's LogWriter names the worker after its own), a
        # Python component by its class (streamparse_run's last argument)
        java_main = [a for a in argv if a.startswith("org.apache.storm.")]
        names.append((java_main or argv or ["?"])[0 if java_main else -1])
    return names


def test_the_health_topology_on_storm_hosts_loses_nothing_through_a_link_cut_and_a_redeploy(
    storm_kafka: StormKafka, tmp_path: Path
) -> None:
    storm, kafka = storm_kafka.storm, storm_kafka.kafka
    root = Path(__file__).resolve().parents[2]
    assert "KafkaHealthSpout.spec(par=1)" in (root / "topologies" / "health_kafka.py").read_text()
    address = {h: storm.hosts[h].address for h in SUPERVISORS}
    topics = Topics.fresh(kafka)
    project = health_project(storm, tmp_path / "project")
    started = time.monotonic()
    marks: dict[str, float] = {}

    def mark(what: str) -> None:
        marks[what] = time.monotonic() - started

    # ---------------------------------------------------------------- v1, and the link cut
    submit(storm, kafka, project, topics, topics.alerts_v1)
    submitted_at = time.monotonic()
    mark("v1 submitted")
    # Two runs of producers: a first one from the submit on, for the topology to reach a steady
    # state, and a second one started just before the cut, long enough to go on writing while
    # the spout moves and starts again (however long the first took on a loaded machine).
    warm_up = Producers(kafka, topics, seconds=70)
    topo_id = eventually(lambda: topology_id(storm, NAME), "the topology in the UI")
    [spout_address] = eventually(
        lambda: executor_hosts(storm, topo_id, SPOUT), "the spout's executor assigned"
    )
    doomed = host_named(storm, spout_address)
    [survivor] = [h for h in SUPERVISORS if h != doomed]
    # one worker on each supervisor host: tuples cross hosts over Netty
    eventually(
        lambda: all(worker_pids(storm, h) for h in SUPERVISORS), "a worker on each host", 120
    )
    eventually(lambda: steady(kafka, topics), "v1 consuming in step with the producers", 240)
    mark("v1 steady")
    # Inside the launch grace Nimbus would wait it out before moving anything.
    time.sleep(max(0.0, submitted_at + LAUNCH_GRACE_S + 5 - time.monotonic()))
    # 100 s: Nimbus moved the spout 11 s after the cut in a run on a quiet machine, but more
    # than 40 s (this run's length until 2026-12-03) once in a CI run: the producers had ended,
    # nothing was written while it moved, and the assertion below failed. The wait for the
    # move allows 120 s.
    through = Producers(kafka, topics, seconds=100, after=warm_up)
    through.wait_writing()
    stranded = worker_pids(storm, doomed)
    cut_ms = time.time() * 1000
    storm.hosts.cut(doomed)
    mark("link cut")
    eventually(
        lambda: executor_hosts(storm, topo_id, SPOUT) == [address[survivor]],
        "Nimbus to move the spout to the other host",
        120,
    )
    mark("spout moved")
    # where the new spout resumes: the old one cannot commit any more, the new one has not
    resume_at, end_at_move = offsets(kafka, topics)
    assert through.running(), "the producers ended before the spout moved"
    warm_up.finish()
    through.finish()
    wait_committed(kafka, topics, through.total, "every reading of the cut committed", 240)
    mark("cut: all committed")

    expected, records = expected_alerts(kafka, topics)
    assert {r[2] for r in records} == warm_up.ids | through.ids
    _, cut_end = offsets(kafka, topics)  # the readings of the cut's part of the run
    alerts = alerts_in(kafka, topics.alerts_v1)
    seen = {a.alert_id for a in alerts}
    replays = replayed_readings(alerts)
    # read again from Kafka: written before the cut by the old spout's trees, again after it
    before = {a.alert_id for a in alerts if a.ts_ms < cut_ms}
    again = {a.alert_id for a in alerts if a.ts_ms >= cut_ms} & before
    latency = latency_line(alerts, records, cut_ms - 15_000, cut_ms - 5_000)
    print(
        f"\nlink of {doomed} cut; the new spout resumed at {resume_at} of {end_at_move}; "
        f"readings {len(records)}, alerts expected {len(expected)}, seen {len(alerts)}, missing "
        f"{len(expected - seen)}; readings replayed {replays} (bound "
        f"{MAX_PENDING * SPOUT_TASKS}), alerts written before the cut and again after it "
        f"{len(again)}; readings of 15-5 s before the cut: {latency}"
    )
    assert not expected - seen, f"{len(expected - seen)} alerts missing after the cut"
    assert not seen - expected, f"unexpected alerts: {sorted(seen - expected)[:5]}"
    assert replays <= MAX_PENDING * SPOUT_TASKS

    # The partition heals. Behind it the host's Supervisor halted (it lost ZooKeeper) and the
    # stranded worker stopped itself (its assignment was gone); the Supervisor is started
    # again, as a process supervisor would.
    left = sorted(process_names(storm, doomed))
    storm.hosts.mend(doomed)
    eventually(
        lambda: not worker_pids(storm, doomed) & stranded, "the stranded worker stopped", 120
    )
    restarted = storm.restart_exited(doomed)
    print(f"on {doomed} at the mend: {left}; restarted {restarted}")
    mark("link mended")
    checked_v1 = len(alerts)

    # ---------------------------------------------------------------- the redeploy
    producers = Producers(kafka, topics, seconds=75, after=through)
    wait_committed(kafka, topics, through.total + 200, "v1 consuming the new readings", 120)
    kill(storm, project, wait_s=5)
    killed_ms = time.time() * 1000
    mark("v1 killed")
    kill_committed, kill_end = offsets(kafka, topics)
    storm.wait_ready()  # both Supervisors registered: v2 gets a worker on each host
    assert producers.running(), "the producers ended before v2 was submitted"
    submit(storm, kafka, project, topics, topics.alerts_v2)
    mark("v2 submitted")

    def v2_committing() -> bool:
        answer = kafka.try_client("offsets", topics.readings, topics.group)
        done = {int(p): o for p, o in answer["committed"].items()} if answer else {}
        return any(o > kill_committed[p] for p, o in done.items())

    eventually(v2_committing, "v2 committing past v1's offsets", 240)
    resumed_ms = time.time() * 1000
    mark("v2 consuming")
    eventually(
        lambda: all(worker_pids(storm, h) for h in SUPERVISORS), "a v2 worker on each host", 120
    )
    producers.finish()
    wait_committed(kafka, topics, producers.total, "every reading committed by v2", 240)
    mark("v2: all committed")
    sparse(storm, project, "kill", "-e", "local", "-n", NAME, "--wait", "1")

    expected, records = expected_alerts(kafka, topics)
    assert len(records) == producers.total
    assert {r[2] for r in records} == warm_up.ids | through.ids | producers.ids
    v1, v2 = alerts_in(kafka, topics.alerts_v1), alerts_in(kafka, topics.alerts_v2)
    seen = {a.alert_id for a in v1} | {a.alert_id for a in v2}
    # v2 read again what v1 had committed: readings before the kill's committed offsets
    again_v2 = {(a.partition, a.offset) for a in v2 if a.offset < kill_committed[a.partition]}
    # in both versions' topics: v1's trees done after its last commit, read again by v2
    both = {(a.partition, a.offset) for a in v1} & {(a.partition, a.offset) for a in v2}
    gap = {
        f"{topics.readings}:{p}:{o}"
        for p, o, _key, _value, ts in records
        if killed_ms <= ts <= resumed_ms
    }
    gap_alerts = {e for e in expected if e.split("/", 1)[0] in gap}
    written_v2 = {a.alert_id for a in v2}
    late = v1[checked_v1:]  # v1's alerts written after the cut was judged (one partition)
    # The cut's duplicates again, now with what arrived after the mend: a dead worker's sends
    # that were in the cut link, delivered by its host's kernel once the link is back.
    cut_replays = replayed_readings([a for a in v1 if a.offset < cut_end[a.partition]])
    late_again = [a for a in late if a.alert_id in {b.alert_id for b in v1[:checked_v1]}]
    print(
        f"redeploy: v1 killed at committed {kill_committed} of {kill_end}; readings "
        f"{len(records)}, written in the gap {len(gap)} ({len(gap_alerts)} alerts); alerts "
        f"expected {len(expected)}, v1 {len(v1)}, v2 {len(v2)}, missing "
        f"{len(expected - seen)}; v2 re-read before v1's commit {len(again_v2)}, in both "
        f"versions {len(both)}; v1 after the cut's check: {len(late)} alerts, "
        f"{len(late_again)} again (appended "
        f"{sorted({round((a.ts_ms - cut_ms) / 1000) for a in late_again})[:20]} s after the "
        f"cut), readings of the cut replayed in all {cut_replays}; readings replayed in v1 "
        f"{replayed_readings(v1)}, in v2 "
        f"{replayed_readings(v2)}, overall {replayed_readings(v1 + v2)}; "
        f"seconds: {', '.join(f'{k} {v:.0f}' for k, v in marks.items())}"
    )
    assert not expected - seen, f"{len(expected - seen)} alerts missing after the redeploy"
    assert not seen - expected, f"unexpected alerts: {sorted(seen - expected)[:5]}"
    assert cut_replays <= MAX_PENDING * SPOUT_TASKS
    assert len(again_v2) <= MAX_PENDING * SPOUT_TASKS
    assert len(both) <= MAX_PENDING * SPOUT_TASKS
    assert gap and gap_alerts <= written_v2, "readings written while no version ran"
    assert kafka.client("values", topics.invalid) == []  # no reading became a dead letter

"""Rows (e): end to end through the project's real Kafka broker (``squall.kafka.broker``).

One broker (its own instance folder, free ports) serves five measurements, in this order:

1. **producer**: kafka-python's ``KafkaProducer`` writing the backlog as fast as it can (acks=1,
   linger 5 ms): what the offered rates below can reach on this machine;
2. **consumer ceiling**: a bare ``KafkaConsumer`` (no group, all partitions assigned) reading
   that backlog: no topology can consume faster with kafka-python;
3. **hand loops, backlog** (issue 13): the topology's work written by hand, no framework, one
   process (``bench.kafka_hand_loops``), once on kafka-python and once on confluent-kafka, each
   draining that backlog in a group of its own and writing to topics of its own;
4. **topology, backlog**: HealthKafkaTopology (KafkaHealthSpout -> parse -> BMI -> threshold ->
   AlertsKafkaSink / trends / DeadLetterKafkaSink) on the embedded runner draining the same
   backlog. Target >= 0.8x the kafka-python hand loop (issue 13; issue 5's: 0.8x the ceiling);
   then again on the confluent-kafka backend (``squall.kafka.client=confluent``, a group and
   output topics of its own), target >= 0.4x the confluent-kafka hand loop;
5. **latency at fixed offered rates** (bench/kafka_latency.py): a producer process (librdkafka
   when installed, pinned to CPU 0) sends readings paced at R/s, each carrying the time it was
   made as ``ts``; the topology runs meanwhile, pinned to CPU 1. Latency of an alert = its
   record's CreateTime (set when the alerts sink sends it) - the reading's ``ts``, for readings
   produced from 1 s after the first alert (the group join's wait is reported in the note).

Rows 3 and 4 are measured alike, one run each: rate = readings / (CreateTime of the last alert
record - of the first), read back from the row's alerts topic (the group join is not counted);
outputs are read back from its topics too. A row whose alerts (each (rule, source) once) or
dead letters differ from the kafka-python hand loop's fails: its rate is withheld. Trend
windows are shown, not compared: which alerts are late depends on how the partitions'
fetches interleave and on when the watermark moves (per poll batch here, per 1 s tick in the
topology), and the topology's windows are at-most-once by design (bolts/kafka_trend_feed.py).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.kafka_hand_loops import COMMIT_EVERY, LOOPS, OutputTopics
from bench.kafka_latency import latency_rows, now_payload

Progress = Callable[[int], None]
PARTITIONS = 4
TOPOLOGY_ROW = "HealthKafkaTopology, backlog, 1 proc"
# row 4 per backend (squall.kafka.client): (client, row name, baseline, its target's note)
TOPOLOGY_ROWS = (
    ("kafka-python", TOPOLOGY_ROW, "hand loop, kafka-python", 0.8),
    ("confluent", "HealthKafkaTopology, confluent-kafka backend, backlog, 1 proc",
     "hand loop, confluent-kafka", 0.4),
)  # fmt: skip


def _produce(bootstrap: str, topic: str, count: int, rate: float | None, out: Any) -> None:
    """Send ``count`` readings, paced at ``rate``/s when given; report (sent, seconds)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=64 * 1024)
    start = time.monotonic()
    for i in range(count):
        if rate:
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0.0005:
                time.sleep(delay)
        producer.send(topic, now_payload(i).encode())
    producer.flush()
    elapsed = time.monotonic() - start
    producer.close()
    out.put((count, elapsed))


def _consume_all(bootstrap: str, topic: str, expected: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=2000
    )
    parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    got = 0
    start = time.monotonic()
    while got < expected:
        for batch in consumer.poll(timeout_ms=200).values():
            got += len(batch)
    elapsed = time.monotonic() - start
    consumer.close()
    return expected / elapsed


def _read_alerts(bootstrap: str, topic: str) -> list[tuple[int, int]]:
    """(CreateTime ms, the reading's ``ts``) of every record in ``topic`` up to its end."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(parts)
    out = []
    while any(consumer.position(tp) < ends[tp] for tp in parts):
        for batch in consumer.poll(timeout_ms=500).values():
            out.extend((r.timestamp, json.loads(r.value)["ts"]) for r in batch)
    consumer.close()
    return out


@dataclass
class _Outputs:
    """What a backlog row wrote, read back from its topics."""

    alerts: int = 0
    alert_keys: set[tuple[str, str]] = field(default_factory=set)  # (rule, source): distinct
    first_ms: int | None = None  # CreateTime of the first alert record
    last_ms: int | None = None
    invalid: int = 0
    invalid_keys: set[bytes] = field(default_factory=set)  # sources
    trends: int = 0
    trend_total: int = 0

    def text(self) -> str:
        dup = self.alerts - len(self.alert_keys)
        return (
            f"{self.alerts} alerts, {self.invalid} invalid, {self.trends} trends"
            f" (sum {self.trend_total})" + (f", {dup} duplicate alerts" if dup else "")
        )

    def differs_from(self, ref: _Outputs) -> str:
        """Why these outputs are not the reference's work ("" if they are)."""
        missing = len(ref.alert_keys - self.alert_keys)
        extra = len(self.alert_keys - ref.alert_keys)
        if missing or extra:
            return f"{missing} alerts missing, {extra} not expected"
        if self.invalid_keys != ref.invalid_keys:
            return f"{len(self.invalid_keys)} dead letters, expected {len(ref.invalid_keys)}"
        return ""

    def rate(self, records: int) -> float | None:
        if self.first_ms is None or self.last_ms is None:
            return None
        return records / (max(1, self.last_ms - self.first_ms) / 1000)


def _read_outputs(bootstrap: str, topics: dict[str, str]) -> _Outputs:
    """Every record of the ``alerts``, ``invalid`` and ``trends`` topics, up to their ends."""
    from kafka import KafkaConsumer, TopicPartition

    out = _Outputs()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        for kind in ("alerts", "invalid", "trends"):
            topic = topics[kind]
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
            consumer.assign(parts)
            consumer.seek_to_beginning()
            ends = consumer.end_offsets(parts)
            while any(consumer.position(tp) < ends[tp] for tp in parts):
                for batch in consumer.poll(timeout_ms=500).values():
                    for r in batch:
                        if kind == "alerts":
                            alert = json.loads(r.value)
                            out.alerts += 1
                            out.alert_keys.add((alert["rule"], alert["reading"]["source"]))
                            out.first_ms = min(out.first_ms or r.timestamp, r.timestamp)
                            out.last_ms = max(out.last_ms or r.timestamp, r.timestamp)
                        elif kind == "invalid":
                            out.invalid += 1
                            out.invalid_keys.add(r.key)
                        else:
                            out.trends += 1
                            out.trend_total += json.loads(r.value)["count"]
    finally:
        consumer.close()
    return out


def _hand_loop_row(
    client: str, bootstrap: str, readings: str, records: int, tag: str, progress: Progress | None
) -> tuple[dict[str, Any], _Outputs | None]:
    """Row 3 for one client: the hand loop drains ``readings``; its row and its outputs."""
    from squall.kafka.admin import ensure_topics

    name = f"hand loop, {client}"
    row: dict[str, Any] = {
        "name": name,
        "records_per_s": None,
        "baseline": "kafka-python consumer ceiling" if client == "kafka-python" else None,
    }
    out = OutputTopics(f"alerts-{tag}", f"invalid-{tag}", f"trends-{tag}")
    ensure_topics(bootstrap, {out.alerts: 1, out.invalid: 1, out.trends: 1})
    print(f"    {name} draining the backlog ...", flush=True)
    try:
        run = LOOPS[client](bootstrap, readings, out, f"bench-{tag}", progress)
    except ImportError as exc:
        row["note"] = f"{client} not installed ({exc}); pip install -e '.[bench]'"
        return row, None
    except Exception as exc:  # noqa: BLE001 - reported in the row, the group goes on
        row["note"] = f"FAILED: {type(exc).__name__}: {exc}"[:300]
        return row, None
    got = _read_outputs(
        bootstrap, {"alerts": out.alerts, "invalid": out.invalid, "trends": out.trends}
    )
    counted = run.outcome
    row["outputs"] = got.text()
    own = (counted.alerts, counted.invalid, counted.trends, counted.trend_total)
    if own != (got.alerts, got.invalid, got.trends, got.trend_total) or run.records != records:
        row["note"] = (
            f"FAILED: the loop counted {run.records:,} records and (alerts, invalid, trends,"
            f" sum) {own}, its topics hold {got.text()}"
        )
        return row, None
    row["records_per_s"] = got.rate(records)
    row["note"] = (
        f"{_client_version(client)}; {run.commits} synchronous commits (every"
        f" {COMMIT_EVERY:,} records, after a flush); {run.late} late alerts; own clock"
        f" {run.records_per_s:,.0f}/s"
    )
    return row, got


def _client_version(client: str) -> str:
    from importlib.metadata import version

    if client == "confluent-kafka":
        import confluent_kafka

        return f"confluent-kafka {version(client)}, librdkafka {confluent_kafka.libversion()[0]}"
    return f"{client} {version(client)}"


def _check_outputs(row: dict[str, Any], got: _Outputs, reference: _Outputs | None) -> None:
    """Fail ``row`` (withhold its rate) when its work differs from the kafka-python loop's."""
    if reference is None:
        row["note"] += "; outputs not compared: the kafka-python hand loop did not run"
        return
    why = got.differs_from(reference)
    if why:
        measured = row["records_per_s"]
        shown = "—" if measured is None else f"{measured:,.0f}"
        row["note"] = f"FAILED: outputs differ from the kafka-python hand loop's ({why});" + (
            f" measured {shown}/s; " + row["note"]
        )
        row["records_per_s"] = None


class _Done(KeyboardInterrupt):
    """Ends run_topology from its progress hook (it drains and stops on Ctrl-C)."""


class _CommitWatch(threading.Thread):
    """(records the group committed, records in the topic), refreshed every ``every_s`` in a
    thread of its own with long-lived clients.

    Measured first: asked from the progress hook with fresh clients each time, the check took
    ~130 ms of the topology's own thread per 0.5 s (a quarter of a profiled run's wall time).
    """

    def __init__(self, bootstrap: str, group: str, topic: str, every_s: float = 0.5) -> None:
        super().__init__(daemon=True, name="bench-commit-watch")
        self.bootstrap, self.group, self.topic, self.every_s = bootstrap, group, topic, every_s
        self.latest: tuple[int, int] = (0, 0)
        self.halt = threading.Event()

    def run(self) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        parts = [TopicPartition(self.topic, p) for p in range(PARTITIONS)]
        try:
            while not self.halt.is_set():
                ends = consumer.end_offsets(parts)
                try:
                    committed = admin.list_group_offsets(self.group).get(self.group, {})
                except Exception:  # noqa: BLE001 - no coordinator yet: nothing committed
                    committed = {}
                done = sum(min(committed[tp].offset, ends[tp]) for tp in parts if tp in committed)
                self.latest = (done, sum(ends.values()))
                self.halt.wait(self.every_s)
        finally:
            consumer.close()
            admin.close()


def _run_topology(
    bootstrap: str,
    tag: str,
    expected: int,
    producer_done: Callable[[], bool],
    progress: Progress | None,
    timeout_s: float,
    client: str = "kafka-python",
) -> dict[str, str]:
    """Run HealthKafkaTopology until its group committed every reading; its topics, and
    ``errors`` (a note: component errors are reported, the measurement stands). ``client``:
    squall.kafka.client; another than the default reads ``tag``'s readings in a group and
    into output topics of its own."""
    from squall import run_topology
    from squall.kafka.admin import ensure_topics
    from squall.loading import load_topology

    out = tag if client == "kafka-python" else f"{tag}-{client}"
    topics = {
        "readings": f"readings-{tag}",
        "alerts": f"alerts-{out}",
        "invalid": f"invalid-{out}",
        "trends": f"trends-{out}",
    }
    ensure_topics(bootstrap, {topics[k]: 1 for k in ("alerts", "invalid", "trends")})
    group = f"bench-{out}"
    topology = load_topology("topologies/health_kafka.py")
    conf = {
        "health.kafka.bootstrap.servers": bootstrap,
        "health.kafka.readings.topic": topics["readings"],
        "health.kafka.alerts.topic": topics["alerts"],
        "health.kafka.invalid.topic": topics["invalid"],
        "health.kafka.group.id": group,
        "health.kafka.trends.topic": topics["trends"],  # the trends sink, when wired
        "health.sinks.console": False,
        "squall.drain.secs": 2.0,
        # A saturated single-process topology can miss the consumer's 10 s session deadline and
        # be dropped from its group (seen at 10,000/s offered); 30 s keeps the member.
        "squall.kafka.spout.session.timeout.ms": 30_000,
        "squall.kafka.client": client,
    }
    started = time.monotonic()
    commits = _CommitWatch(bootstrap, group, topics["readings"])
    commits.start()

    def watch(elapsed: float, snapshot: Any) -> None:
        done, total = commits.latest
        if progress is not None:
            progress(done)
        if producer_done() and total >= expected and done >= total:
            raise _Done()
        if time.monotonic() - started > timeout_s:
            # Not a speed assertion: stop, and say so in the row, rather than hang the bench.
            stopped.append(
                f"; stopped after {timeout_s:.0f} s with {done:,} of {total:,} readings committed"
            )
            raise _Done()

    stopped: list[str] = []
    try:
        result = run_topology(topology, conf, progress=watch, progress_every_s=0.5)
    finally:
        commits.halt.set()
        commits.join(30)
    topics["errors"] = "".join(stopped) + (
        f"; {len(result.errors)} component errors, first: {result.errors[0]}"[:240]
        if result.errors
        else ""
    )
    return topics


def kafka_rows(
    records: int, rates: list[int], seconds: float, progress: Progress | None = None
) -> dict[str, Any]:
    from squall.kafka.admin import ensure_topics
    from squall.kafka.broker import Broker
    from squall.kafka.provision import is_provisioned, kafka_version

    if not is_provisioned():
        return {"rows": [{"name": "kafka", "note": "not provisioned (make kafka-runtime)"}]}
    broker = Broker(f"bench-{os.getpid()}", heap="512m")
    broker.remove()
    print("    starting the Kafka broker ...", flush=True)
    broker.start()
    rows: list[dict[str, Any]] = []
    try:
        bootstrap = broker.bootstrap
        version = kafka_version()
        ctx = mp.get_context("fork")

        def fresh() -> str:
            tag = uuid.uuid4().hex[:8]
            # the output topics: _run_topology's, per backend
            ensure_topics(bootstrap, {f"readings-{tag}": PARTITIONS})
            return tag

        # 1 + 2: producer and consumer ceilings on one backlog, which rows 3 and 4 drain too.
        tag = fresh()
        queue = ctx.Queue()
        print(f"    producing {records:,} readings ...", flush=True)
        _produce(bootstrap, f"readings-{tag}", records, None, queue)
        sent, produce_s = queue.get()
        rows.append(
            {
                "name": "kafka-python producer (backlog)",
                "records_per_s": sent / produce_s,
                "baseline": None,
                "note": f"Kafka {version}, acks=1, linger 5 ms",
            }
        )
        ceiling = _consume_all(bootstrap, f"readings-{tag}", records)
        rows.append(
            {
                "name": "kafka-python consumer ceiling",
                "records_per_s": ceiling,
                "baseline": None,
                "note": f"{PARTITIONS} partitions, no group",
            }
        )
        # 3: the hand loops drain the same backlog (issue 13's fair baselines).
        reference: _Outputs | None = None  # the kafka-python loop's: every row is compared
        for client in LOOPS:
            row, got = _hand_loop_row(
                client, bootstrap, f"readings-{tag}", records, f"{tag}-{client}", progress
            )
            if client == "kafka-python":
                reference = got
            elif got is not None:
                _check_outputs(row, got, reference)
            rows.append(row)
        # 4: the topology drains the backlog, on each backend.
        for client, name, base, target in TOPOLOGY_ROWS:
            print(f"    HealthKafkaTopology ({client}) draining the backlog ...", flush=True)
            topics = _run_topology(
                bootstrap, tag, records, lambda: True, progress, timeout_s=600, client=client
            )
            got = _read_outputs(bootstrap, topics)
            row = {
                "name": name,
                # From the first alert, not from start: the consumer group's join (seconds) is
                # not throughput, and the ceiling is timed from its first fetch too.
                "records_per_s": got.rate(records),
                "baseline": base,
                "outputs": got.text(),
                "note": f"target >= {target}x the {base}" + topics["errors"],
            }
            _check_outputs(row, got, reference)
            rows.append(row)
        # 5: latency at fixed offered rates (bench/kafka_latency.py)
        rows += latency_rows(
            bootstrap, rates, seconds, fresh, _run_topology, _read_alerts, progress
        )
    finally:
        broker.stop()
        broker.remove()
    # This process only (the topology and its clients), not the broker's JVM.
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for row in rows:
        row["peak_rss_mb"] = own_mb
    return {"rows": rows}

"""Rows (e): end to end through the project's real Kafka broker (``squall.kafka.broker``).

One broker (its own instance folder, free ports) serves four measurements, in this order:

1. **producer**: kafka-python's ``KafkaProducer`` writing the backlog as fast as it can (acks=1,
   linger 5 ms): what the offered rates below can reach on this machine;
2. **consumer ceiling**: a bare ``KafkaConsumer`` (no group, all partitions assigned) reading
   that backlog: no topology can consume faster with kafka-python;
3. **topology, backlog**: HealthKafkaTopology (KafkaHealthSpout -> parse -> BMI -> threshold ->
   AlertsKafkaSink / DeadLetterKafkaSink) on the embedded runner draining the same backlog;
   rate = readings / (CreateTime of the last alert - of the first). Target >= 0.8x ceiling;
4. **latency at fixed offered rates**: a producer process sends readings paced at R/s, each
   carrying its produce time as ``ts``; the topology runs meanwhile. Latency of an alert =
   its record's CreateTime (set when the alerts sink sends it) - the reading's ``ts``, for
   readings produced from 1 s after the first alert (steady state; the start-up wait for the
   group join is reported in the note).
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
from typing import Any

from bench.health_workload import STEP_MS, T0_MS, payload

Progress = Callable[[int], None]
PARTITIONS = 4


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def _now_payload(i: int) -> str:
    """Reading ``i`` with its produce time as event time (``payload`` uses a fixed clock)."""
    text = payload(i, 1000)
    return text.replace(f'"ts": {T0_MS + i * STEP_MS}', f'"ts": {time.time_ns() // 1_000_000}')


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
        producer.send(topic, _now_payload(i).encode())
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
) -> dict[str, str]:
    """Run HealthKafkaTopology until its group committed every reading; its topics, and
    ``errors`` (a note: component errors are reported, the measurement stands)."""
    from squall import run_topology
    from squall.loading import load_topology

    topics = {
        "readings": f"readings-{tag}",
        "alerts": f"alerts-{tag}",
        "invalid": f"invalid-{tag}",
        "trends": f"trends-{tag}",
    }
    group = f"bench-{tag}"
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
            ensure_topics(
                bootstrap,
                {
                    f"readings-{tag}": PARTITIONS,
                    f"alerts-{tag}": 1,
                    f"invalid-{tag}": 1,
                    f"trends-{tag}": 1,
                },
            )
            return tag

        # 1 + 2: producer and consumer ceilings on one backlog.
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
        # 3: the topology drains the backlog.
        print("    HealthKafkaTopology draining the backlog ...", flush=True)
        start_ms = time.time_ns() // 1_000_000
        topics = _run_topology(bootstrap, tag, records, lambda: True, progress, timeout_s=600)
        alerts = _read_alerts(bootstrap, topics["alerts"])
        last_ms = max((ts for ts, _ in alerts), default=start_ms + 1)
        # From the first alert, not from start: the consumer group's join (seconds) is not
        # throughput, and the ceiling is timed from its first fetch too.
        first_ms = min((ts for ts, _ in alerts), default=start_ms)
        rows.append(
            {
                "name": "HealthKafkaTopology, backlog, 1 proc",
                "records_per_s": records / (max(1, last_ms - first_ms) / 1000),
                "baseline": "kafka-python consumer ceiling",
                "outputs": f"{len(alerts)} alerts",
                "note": "target >= 0.8x the consumer ceiling" + topics["errors"],
            }
        )
        # 4: latency at fixed offered rates.
        for rate in rates:
            tag = fresh()
            count = int(rate * seconds)
            queue = ctx.Queue()
            proc = ctx.Process(
                target=_produce, args=(bootstrap, f"readings-{tag}", count, rate, queue)
            )
            print(f"    offering {rate:,}/s for {seconds:.0f} s ...", flush=True)
            proc.start()
            produced: list[tuple[int, float]] = []

            def producer_done(queue: Any = queue, produced: list[Any] = produced) -> bool:
                if not produced and not queue.empty():
                    produced.append(queue.get())
                return bool(produced)

            topics = _run_topology(
                bootstrap, tag, count, producer_done, progress, timeout_s=seconds * 4 + 60
            )
            proc.join()
            alerts = _read_alerts(bootstrap, topics["alerts"])
            # Steady state: readings produced from 1 s after the first alert on. The producer
            # starts with the topology, so the first readings wait for the group join (a few
            # hundred ms): counted, they were the whole p99 (~400 ms at 1,000/s offered).
            steady_from = min((created for created, _ in alerts), default=0) + 1000
            latencies = sorted(created - ts for created, ts in alerts if ts >= steady_from)
            startup = [created - ts for created, ts in alerts if ts < steady_from]
            sent, produce_s = produced[0]
            achieved = sent / produce_s
            rows.append(
                {
                    "name": f"HealthKafkaTopology at {rate:,}/s offered",
                    "records_per_s": achieved,
                    "baseline": None,
                    "p50_ms": _percentile(latencies, 0.50),
                    "p99_ms": _percentile(latencies, 0.99),
                    "outputs": f"{len(alerts)} alerts",
                    "note": (
                        f"offered {achieved:,.0f}/s achieved; latency from 1 s after the first"
                        f" alert (before it, {len(startup):,} alerts waited for the group join,"
                        f" up to {max(startup, default=0):,} ms)"
                        + (
                            ""
                            if achieved >= 0.95 * rate
                            else f" — kafka-python could not offer {rate:,}/s here"
                        )
                    )
                    + topics["errors"],
                }
            )
    finally:
        broker.stop()
        broker.remove()
    # This process only (the topology and its clients), not the broker's JVM.
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for row in rows:
        row["peak_rss_mb"] = own_mb
    return {"rows": rows}

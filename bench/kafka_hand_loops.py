"""Issue 13's fair baselines for the Kafka rows: HealthKafkaTopology's work in a hand-written
loop, no framework, in one process (the topology row's count) — once on kafka-python, once on
confluent-kafka (librdkafka).

Per record, what the topology does (topologies/health_kafka.py), with the project's own pure
functions, as ``bench.health_workload.hand_loop`` uses them:

* the value decoded as UTF-8 (else a dead letter, as KafkaHealthSpout does), then
  ``health_core.parse.parse_payload`` (both wire forms; a course-form reading takes the record's
  timestamp as its event time, as KafkaParseBolt gives it), BMI and WHO class
  (``health_core.bmi``), the rules of config.yaml (``health_core.rules.firing``);
* per alert: AlertsKafkaSink's record (JSON ``{"rule", "reading_id", "ts", "reading"}``, key =
  reading id) to the alerts topic, and a count in ``health_core.trend_panes.PaneCounts`` per
  (rule, pane), its source ``"topic:partition:offset"`` once — PaneTrendBolt's counter, replay
  de-duplication included (this loop is at-least-once too: after a crash it resumes from its
  last commit);
* per invalid payload: DeadLetterKafkaSink's record, key = the source;
* after each poll batch, the watermark (latest alert time - ``LAG_S``, as the trend bolt's
  WatermarkGenerator computes it on a tick) moves; the windows it passed go to the trends topic
  with their trend (``health_core.trend.trends``, against the adjacent window before), as
  PaneTrendBolt and TrendsKafkaSink write them. Alerts behind the watermark are late: counted
  apart, in no window, as the trend bolt routes them to ``late``.

Commits: synchronous, every ``COMMIT_EVERY`` records (and at the end), after flushing the
producer and checking that every write since the last commit succeeded — what is committed has
its outputs in Kafka, as the topology commits only offsets whose tuples the sinks acked on the
broker's answer (at-least-once). The topology commits asynchronously once a second; at its
~11k readings/s that is about as often. Producers as the sinks': acks=all, linger 5 ms, 64 KiB
batches, idempotent (kafka-python 3's default; set on librdkafka to match). Consumers as the
spout's: a consumer group, 500 records per poll, fetches waiting at most 10 ms.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench.health_workload import Outcome
from bolts.trend import LAG_S
from health_core.bmi import bmi, who_class
from health_core.config import HealthConfig, load_config
from health_core.parse import Reading, parse_payload, raw_preview
from health_core.rules import firing
from health_core.trend import TREND_FIELDS, trends
from health_core.trend_panes import DueWindow, PaneCounts

ROOT = Path(__file__).resolve().parents[1]
COMMIT_EVERY = 10_000  # records between commits
POLL_RECORDS = 500  # the spout's squall.kafka.spout.poll.max.records default
FETCH_MAX_WAIT_MS = 10  # the spout's fetch.max.wait.ms default
Send = Callable[[str, bytes | None, bytes], None]  # (topic, key, value)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class OutputTopics:
    """Where a loop writes: the topology's three output topics."""

    alerts: str
    invalid: str
    trends: str


@dataclass
class LoopRun:
    """One drain of the backlog by a hand loop: what it produced and its own clock."""

    client: str
    records: int
    seconds: float  # from the first record received to the last commit done
    outcome: Outcome
    late: int  # alerts behind the watermark: in no window
    commits: int

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def _json(record: dict[str, Any]) -> bytes:
    # the sinks' encoding (squall.kafka.sink, bolts.kafka_sink)
    return json.dumps(record, separators=(",", ":"), default=str).encode()


class HealthWork:
    """HealthKafkaTopology's work per record and per poll batch, writing through ``send``."""

    def __init__(self, config: HealthConfig, out: OutputTopics, send: Send) -> None:
        self.rules = config.rules
        self.max_payload_bytes = config.parse.max_payload_bytes
        self.preview_chars = config.parse.invalid_preview_chars
        self.slide_ms = round(config.windows.slide_s * 1000)
        self.panes = PaneCounts(round(config.windows.window_s * 1000), self.slide_ms)
        self.lag_ms = round(LAG_S * 1000)
        self.out, self.send = out, send
        self.outcome = Outcome()
        self.late = 0
        self.latest_ts = -1  # of the alerts: the trend bolt's watermark follows its input
        self.watermark: int | None = None
        self.previous: dict[str, int] = {}
        self.previous_end: int | None = None

    def record(
        self, value: bytes | None, topic: str, partition: int, offset: int, timestamp_ms: int | None
    ) -> None:
        source = f"{topic}:{partition}:{offset}"
        now_ms = time.time_ns() // 1_000_000
        raw = value if value is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"payload is not UTF-8: byte {raw[exc.start]:#04x} at offset {exc.start}"
            text = raw.decode("utf-8", errors="backslashreplace")
            self._invalid(text, reason, now_ms, topic, partition, offset, "spout")
            return
        result = parse_payload(text, now_ms, self.max_payload_bytes, event_ms=timestamp_ms)
        if not isinstance(result, Reading):
            preview = raw_preview(text, self.preview_chars)
            self._invalid(preview, result.reason, now_ms, topic, partition, offset, "parse")
            return
        # One dict where the bolts make three (parse, +source, +bmi): what a hand loop would
        # write. BMIBolt's own invalid path cannot fire behind parse_payload, which checks
        # height and weight.
        reading = result.to_dict()
        reading["source"] = source
        value_bmi = bmi(result.weight_kg, result.height_cm)
        reading["bmi"] = value_bmi
        reading["bmi_class"] = who_class(value_bmi)
        ts, key = result.ts, str(result.id).encode()
        for rule in firing(self.rules, reading):
            self.outcome.alerts += 1
            alert = {"rule": rule.name, "reading_id": result.id, "ts": ts, "reading": reading}
            self.send(self.out.alerts, key, _json(alert))
            if self.watermark is not None and ts < self.watermark:
                self.late += 1
                continue
            if ts > self.latest_ts:
                self.latest_ts = ts
            self.panes.add(rule.name, source, ts)

    def _invalid(
        self,
        raw: str,
        reason: str,
        now_ms: int,
        topic: str,
        partition: int,
        offset: int,
        stage: str,
    ) -> None:
        self.outcome.invalid += 1
        record = {
            "raw": raw,
            "reason": reason,
            "ts": now_ms,
            "source": {"topic": topic, "partition": partition, "offset": offset},
            "stage": stage,
        }
        self.send(self.out.invalid, f"{topic}:{partition}:{offset}".encode(), _json(record))

    def end_of_batch(self) -> None:
        """Move the watermark as the trend bolt's tick does, and write the windows it passed."""
        if self.latest_ts < 0:
            return
        candidate = self.latest_ts - self.lag_ms
        if candidate < 0 or (self.watermark is not None and candidate <= self.watermark):
            return
        self.watermark = candidate
        for window in self.panes.advance(candidate):
            self._report(window)

    def _report(self, window: DueWindow) -> None:
        # TrendBolt._report: the trend is against the window before only when adjacent
        end = window.end_ms
        contiguous = self.previous_end is not None and end - self.previous_end <= self.slide_ms
        previous = self.previous if contiguous else {}
        for trend in trends(window.counts, previous, window.start_ms, end, window.accuracy):
            record = dict(zip(TREND_FIELDS, trend.as_values(), strict=True))
            self.outcome.trends += 1
            self.outcome.trend_total += trend.count
            self.send(self.out.trends, trend.rule.encode(), _json(record))
        self.previous, self.previous_end = window.counts, end


def kafka_python_loop(
    bootstrap: str,
    readings: str,
    out: OutputTopics,
    group: str,
    progress: Progress | None = None,
    timeout_s: float = 600.0,
) -> LoopRun:
    """Drain ``readings`` (every record in it when the loop starts) with kafka-python."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        batch_size=64 * 1024,
        client_id=f"hand-loop-{group}",
    )
    futures: list[Any] = []  # the writes since the last commit

    def send(topic: str, key: bytes | None, value: bytes) -> None:
        futures.append(producer.send(topic, value=value, key=key))

    def settle() -> None:
        """Every write since the last commit acknowledged, or raise: then commit."""
        producer.flush(timeout=30)
        undone = sum(1 for f in futures if not f.is_done)
        failed = [f for f in futures if f.is_done and f.failed()]
        if undone or failed:
            first = failed[0].exception if failed else "not answered in 30 s"
            raise RuntimeError(f"{undone + len(failed)} writes not acknowledged, first: {first}")
        futures.clear()

    work = HealthWork(load_config(ROOT / "config.yaml"), out, send)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=f"hand-loop-{group}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=POLL_RECORDS,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    try:
        parts = [TopicPartition(readings, p) for p in consumer.partitions_for_topic(readings) or []]
        if not parts:
            raise RuntimeError(f"topic {readings!r} does not exist on {bootstrap}")
        ends, begins = consumer.end_offsets(parts), consumer.beginning_offsets(parts)
        expected = sum(ends[tp] - begins[tp] for tp in parts)
        consumer.subscribe([readings])
        consumed = since_commit = commits = 0
        started: float | None = None
        deadline = time.monotonic() + timeout_s
        while consumed < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{consumed:,} of {expected:,} records in {timeout_s:.0f} s")
            batches = consumer.poll(timeout_ms=100)
            if not batches:
                continue
            if started is None:
                started = time.perf_counter()  # after the group join, as the topology's rate
            for records in batches.values():
                for r in records:
                    work.record(r.value, r.topic, r.partition, r.offset, r.timestamp)
                consumed += len(records)
                since_commit += len(records)
            work.end_of_batch()
            if since_commit >= COMMIT_EVERY or consumed >= expected:
                settle()
                consumer.commit()  # synchronous: the consumed positions
                commits, since_commit = commits + 1, 0
            if progress is not None:
                progress(consumed)
        seconds = time.perf_counter() - started if started is not None else 0.0
    finally:
        consumer.close(autocommit=False)
        producer.close(timeout=10)
    return LoopRun("kafka-python", consumed, seconds, work.outcome, work.late, commits)


def confluent_loop(
    bootstrap: str,
    readings: str,
    out: OutputTopics,
    group: str,
    progress: Progress | None = None,
    timeout_s: float = 600.0,
) -> LoopRun:
    """The same loop on confluent-kafka (librdkafka's client, its I/O in C threads)."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": f"hand-loop-{group}",
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": 64 * 1024,
            # A report only for a failed write: no Python call per successful one (the check
            # that kafka-python needs a future per write for)
            "delivery.report.only.error": True,
            "on_delivery": delivered,
        }
    )

    def send(topic: str, key: bytes | None, value: bytes) -> None:
        try:
            producer.produce(topic, value, key)
        except BufferError:  # librdkafka's local queue is full: let it drain, then retry
            producer.poll(1.0)
            producer.produce(topic, value, key)

    def settle() -> None:
        left = producer.flush(30)
        if left or failures:
            first = failures[0] if failures else "not answered in 30 s"
            raise RuntimeError(f"{left + len(failures)} writes not acknowledged, first: {first}")

    work = HealthWork(load_config(ROOT / "config.yaml"), out, send)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": f"hand-loop-{group}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
        }
    )
    try:
        topic = consumer.list_topics(readings, timeout=10).topics.get(readings)
        if topic is None or topic.error is not None or not topic.partitions:
            raise RuntimeError(f"topic {readings!r} does not exist on {bootstrap}")
        expected = 0
        for p in topic.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(readings, p), timeout=10)
            expected += high - low
        consumer.subscribe([readings])
        consumed = since_commit = commits = 0
        started: float | None = None
        deadline = time.monotonic() + timeout_s
        while consumed < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{consumed:,} of {expected:,} records in {timeout_s:.0f} s")
            messages = consumer.consume(num_messages=POLL_RECORDS, timeout=0.1)
            if not messages:
                continue
            if started is None:
                started = time.perf_counter()
            for m in messages:
                error = m.error()
                if error is not None:
                    raise RuntimeError(f"consume from {readings!r} failed: {error}")
                kind, ts = m.timestamp()
                # a consumed message without an error always has its partition and offset
                partition, offset = cast(int, m.partition()), cast(int, m.offset())
                work.record(m.value(), readings, partition, offset, ts if kind else None)
            consumed += len(messages)
            since_commit += len(messages)
            work.end_of_batch()
            producer.poll(0)  # serve the (error-only) delivery reports
            if since_commit >= COMMIT_EVERY or consumed >= expected:
                settle()
                consumer.commit(asynchronous=False)  # the consumed positions
                commits, since_commit = commits + 1, 0
            if progress is not None:
                progress(consumed)
        seconds = time.perf_counter() - started if started is not None else 0.0
    finally:
        consumer.close()
        producer.flush(10)
    return LoopRun("confluent-kafka", consumed, seconds, work.outcome, work.late, commits)


LOOPS: dict[str, Callable[..., LoopRun]] = {
    "kafka-python": kafka_python_loop,
    "confluent-kafka": confluent_loop,
}

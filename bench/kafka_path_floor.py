"""The Kafka path's own latency on this machine, with no topology: the floor under the Kafka
ward's critical deadline (bench/rows_realtime_kafka.py).

The same producer process as the ward rows (both classes, paced, pinned to ``PRODUCER_CPU``)
offers the load; a bare relay, pinned to ``TOPOLOGY_CPU`` in a process of its own, does only
what the topology cannot avoid: one kafka-python consumer per class topic (its partitions
assigned), polled without waiting (the spout's ``fetch.max.wait.ms`` of 10 ms), and for each
critical record one write to the alerts topic with the alert sink's producer settings
(acks=all, linger 5 ms). A critical record's latency is the broker's acknowledgement of its
write minus the record's timestamp: what the ward times a critical alert by, less parsing,
rules, scheduling and tracking. Whatever share of the 50 ms deadline this takes is not the
topology's to win back."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from bench.kafka_ward_load import (
    TOPOLOGY_CPU,
    Topics,
    _pin,
    _producer,
    _result,
)

JOIN_TIMEOUT_S = 60.0
DRAIN_S = 2.0


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def relay(
    topics: dict[str, Any], stop_file: str, deadline_ms: float, progress: Any = None
) -> dict[str, Any]:
    """Consume both class topics until ``stop_file`` exists; write every critical record to
    the alerts topic; the critical records' produce-to-acknowledged latencies."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    pinned = _pin(TOPOLOGY_CPU)
    bootstrap = topics["bootstrap"]
    consumers = {}
    for c in ("critical", "routine"):
        # Every partition assigned, no group: the floor times the fetch path, not the group
        # protocol (a zero-timeout poll can keep a kafka-python group join from completing)
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
        )
        partitions = consumer.partitions_for_topic(topics[c]) or set()
        if not partitions:
            raise RuntimeError(f"topic {topics[c]!r} has no partitions the consumer can see")
        assigned = [TopicPartition(topics[c], p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        consumers[c] = consumer
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=64 * 1024
    )
    latencies_ms: list[float] = []
    lock = threading.Lock()

    def acked(stamp_ms: int) -> Any:
        def done(_meta: Any) -> None:
            with lock:  # the producer's I/O thread runs the callback
                latencies_ms.append(time.time() * 1000 - stamp_ms)

        return done

    consumed = dict.fromkeys(consumers, 0)
    Path(stop_file).with_suffix(".joined").touch()  # assigned: the producer may start
    while not os.path.exists(stop_file):
        for c, consumer in consumers.items():
            for records in consumer.poll(timeout_ms=0).values():
                consumed[c] += len(records)
                if c == "critical":
                    for r in records:
                        producer.send(topics["alerts"], r.value, key=r.key).add_callback(
                            acked(r.timestamp)
                        )
        time.sleep(0.0005)  # the topology's loop is never this idle; a floor must not spin
    producer.flush(30)
    producer.close()
    for consumer in consumers.values():
        consumer.close()
    with lock:
        lat = list(latencies_ms)
    return {
        "pinned": pinned,
        "consumed": consumed,
        "written": len(lat),
        "p50_ms": _quantile(lat, 0.5),
        "p99_ms": _quantile(lat, 0.99),
        "max_ms": max(lat) if lat else None,
        "miss_ratio": sum(1 for x in lat if x > deadline_ms) / max(1, len(lat)),
    }


def floor_run(
    bootstrap: str, work: Path, offered: float, seconds: float, tool: str, seed: int
) -> dict[str, Any]:
    """The relay first (joined), then ``offered`` readings/s for ``seconds``; its latencies."""
    from bench.rowexec import run_row

    topics = Topics.fresh(bootstrap)
    stop = work / f"stop-floor-{topics.group}"
    got: dict[str, Any] = {"error": "the relay process did not report"}

    def run() -> None:
        got.clear()
        got.update(
            run_row(
                "bench.kafka_path_floor:relay",
                {"topics": topics.__dict__, "stop_file": str(stop), "deadline_ms": 50.0},
                "kafka: path floor",
                seconds + JOIN_TIMEOUT_S + 90,
            )
        )

    thread = threading.Thread(target=run, daemon=True, name="bench-kafka-floor")
    thread.start()
    try:
        t0 = time.monotonic()
        joined = stop.with_suffix(".joined")
        while thread.is_alive() and not joined.exists() and time.monotonic() - t0 < JOIN_TIMEOUT_S:
            time.sleep(0.1)
        proc, out = _producer(topics, offered, seconds, None, tool, seed)
        made = _result(proc, out, seconds + 120)
        time.sleep(DRAIN_S)
    finally:
        stop.touch()
        thread.join()
    if "error" in got:
        return got
    sent = sum(made["sent"].values())
    return {**got, "offered": offered, "achieved": sent / max(made["send_s"], 1e-6), "tool": tool}

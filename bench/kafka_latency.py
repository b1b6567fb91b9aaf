"""Row 5 of bench/rows_kafka.py: HealthKafkaTopology's produce -> alert latency at fixed
offered rates (issue 13's "Kafka p99 <= 50 ms at 10k/s").

A producer process sends readings paced at R/s, each carrying the time it was made as ``ts``;
the topology runs meanwhile. Latency of an alert = its record's CreateTime (set when the alerts
sink sends it) - the reading's ``ts``, for readings produced from 1 s after the first alert
(steady state; the start-up wait for the group join is reported in the note).

The producer is librdkafka (confluent-kafka) when it is installed, kafka-python otherwise (the
note says which): kafka-python's producer held records 0.55-0.75 s (p99) between ``send()`` and
the broker at 3,200 readings/s (bench/README.md, "The Kafka ward"), a delay of the generator
that was counted as the topology's. As the issue asks, the producer is pinned to one core and
the topology to the other when the machine has two.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable
from typing import Any

from bench.health_workload import STEP_MS, T0_MS, payload
from bench.kafka_ward_load import PRODUCER_CPU, TOPOLOGY_CPU  # the ward rows' placement


def generator_tool() -> str:
    """librdkafka when it is here (the issue allows it for the load), else kafka-python."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return "kafka-python"
    return "confluent-kafka"


def _pinnable() -> bool:
    cpus = {PRODUCER_CPU, TOPOLOGY_CPU}
    return hasattr(os, "sched_setaffinity") and cpus <= os.sched_getaffinity(0)


def now_payload(i: int) -> str:
    """Reading ``i`` with the time it was made as event time (``payload`` uses a fixed clock)."""
    text = payload(i, 1000)
    return text.replace(f'"ts": {T0_MS + i * STEP_MS}', f'"ts": {time.time_ns() // 1_000_000}')


def produce_paced(bootstrap: str, topic: str, count: int, rate: float, tool: str, out: Any) -> None:
    """Send ``count`` readings paced at ``rate``/s with ``tool``, pinned to ``PRODUCER_CPU``;
    put (sent, seconds) on ``out``."""
    if _pinnable():
        os.sched_setaffinity(0, {PRODUCER_CPU})
    send: Callable[[bytes], Any]
    if tool == "confluent-kafka":
        from confluent_kafka import Producer

        rd = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5})

        def send(value: bytes) -> None:
            rd.produce(topic, value)
            rd.poll(0)  # serves delivery reports; keeps the local queue from filling

        def flush() -> None:
            rd.flush(60)
    else:
        from kafka import KafkaProducer

        kp = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=64 * 1024)
        send = lambda value: kp.send(topic, value)  # noqa: E731

        def flush() -> None:
            kp.flush()
            kp.close()

    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0.0005:
            time.sleep(delay)
        send(now_payload(i).encode())
    flush()
    out.put((count, time.monotonic() - start))


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def latency_rows(
    bootstrap: str,
    rates: list[int],
    seconds: float,
    fresh: Callable[[], str],
    run_topology: Callable[..., dict[str, str]],
    read_alerts: Callable[[str, str], list[tuple[int, int]]],
    progress: Any,
) -> list[dict[str, Any]]:
    """One row per offered rate (``run_topology`` and ``read_alerts``: bench/rows_kafka.py's)."""
    tool = generator_tool()
    ctx = mp.get_context("spawn")  # this process may hold librdkafka's threads: no fork
    pinned = _pinnable()
    before = os.sched_getaffinity(0) if pinned else None
    rows: list[dict[str, Any]] = []
    try:
        if pinned:
            os.sched_setaffinity(0, {TOPOLOGY_CPU})  # the topology runs in this process
        for rate in rates:
            tag = fresh()
            count = int(rate * seconds)
            queue = ctx.Queue()
            proc = ctx.Process(
                target=produce_paced,
                args=(bootstrap, f"readings-{tag}", count, rate, tool, queue),
            )
            print(f"    offering {rate:,}/s for {seconds:.0f} s ({tool}) ...", flush=True)
            proc.start()
            produced: list[tuple[int, float]] = []

            def producer_done(queue: Any = queue, produced: list[Any] = produced) -> bool:
                if not produced and not queue.empty():
                    produced.append(queue.get())
                return bool(produced)

            topics = run_topology(
                bootstrap, tag, count, producer_done, progress, timeout_s=seconds * 4 + 60
            )
            proc.join()
            alerts = read_alerts(bootstrap, topics["alerts"])
            # Steady state: readings produced from 1 s after the first alert on. The producer
            # starts with the topology, so the first readings wait for the group join (a few
            # hundred ms): counted, they were the whole p99 (~400 ms at 1,000/s offered).
            steady_from = min((created for created, _ in alerts), default=0) + 1000
            latencies = sorted(created - ts for created, ts in alerts if ts >= steady_from)
            startup = [created - ts for created, ts in alerts if ts < steady_from]
            if not produced:
                producer_done()
            sent, produce_s = produced[0] if produced else (0, 1.0)
            achieved = sent / produce_s
            where = (
                f"producer {tool} on CPU {PRODUCER_CPU}, topology on CPU {TOPOLOGY_CPU}"
                if pinned
                else f"producer {tool}, not pinned (fewer than 2 CPUs)"
            )
            rows.append(
                {
                    "name": f"HealthKafkaTopology at {rate:,}/s offered",
                    "records_per_s": achieved,
                    "baseline": None,
                    "p50_ms": _percentile(latencies, 0.50),
                    "p99_ms": _percentile(latencies, 0.99),
                    "outputs": f"{len(alerts)} alerts",
                    "note": (
                        f"offered {achieved:,.0f}/s achieved ({where}); latency from 1 s after "
                        f"the first alert (before it, {len(startup):,} alerts waited for the "
                        f"group join, up to {max(startup, default=0):,} ms)"
                        + ("" if achieved >= 0.95 * rate else f" — {tool} could not offer it")
                    )
                    + topics["errors"],
                    "extra": {"kafka_latency": rate, "tool": tool, "pinned": pinned},
                }
            )
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    return rows


def latency_target_lines(rows: list[Any]) -> list[str]:
    """Issue 13's latency target against this run's row at 10,000/s."""
    what = "Kafka p99 <= 50 ms at 10k/s (kafka-python topology, producer and topology pinned)"
    row = next((r for r in rows if r.extra.get("kafka_latency") == 10_000), None)
    if row is None or row.p99_ms is None:
        return [f"| 13 | {what} | — | not measured in this run |"]
    shown = f"p99 {row.p99_ms:,.0f} ms, p50 {row.p50_ms or 0:,.1f} ms ({row.extra['tool']})"
    return [f"| 13 | {what} | {shown} | {'yes' if row.p99_ms <= 50 else 'NO'} |"]

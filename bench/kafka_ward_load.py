"""The Kafka plumbing of bench/rows_realtime_kafka.py's ward rows: topics, the producer
process, and reading the broker back.

One broker (``squall.kafka.broker``, its own instance folder, free ports) serves the group;
every run has fresh uuid-named topics and consumer groups (given to the topology file through
``$SQUALL_HEALTH_CONFIG``: the critical spout's topic and group are its component config, read
when the file is loaded), so runs never see each other's records.

The producer process (pinned to ``PRODUCER_CPU``) offers both classes in the course's form;
``_Watch`` reads a run's end and committed offsets while it runs; ``critical_lost`` reads the
critical and alerts topics back after it and counts the critical readings whose alerts are
missing, by this file's own arithmetic (``expected_rules``), not with the project's
parse/BMI/rule code.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
KCAT = shutil.which("kcat") or "/usr/bin/kcat"
PRODUCER_CPU, TOPOLOGY_CPU = 0, 1
CLASSES = ("critical", "routine")


def _ward() -> dict[str, Any]:
    """config.yaml's ward section (the classes' share and patient ranges)."""
    return dict(yaml.safe_load((ROOT / "config.yaml").read_text()).get("ward") or {})


def _patients() -> dict[str, tuple[int, int]]:
    ward = _ward()
    crit = int(ward.get("critical_patients", 20))
    return {
        "critical": (0, crit - 1),
        "routine": (crit, crit + int(ward.get("routine_patients", 200)) - 1),
    }


def _pin(cpu: int) -> bool:
    """Pin this process (and the children it starts) to ``cpu`` when the machine has it."""
    if not hasattr(os, "sched_setaffinity") or cpu not in os.sched_getaffinity(0):
        return False
    os.sched_setaffinity(0, {cpu})
    return True


@dataclass(frozen=True)
class Topics:
    """One run's topics and consumer group (the critical spout's group is ``<group>.critical``)."""

    bootstrap: str
    critical: str
    routine: str
    alerts: str
    invalid: str
    trends: str
    group: str

    @classmethod
    def fresh(cls, bootstrap: str) -> Topics:
        from squall.kafka.admin import ensure_topics

        tag = uuid.uuid4().hex[:10]
        t = cls(
            bootstrap,
            f"crit-{tag}",
            f"rout-{tag}",
            f"alerts-{tag}",
            f"inv-{tag}",
            f"trends-{tag}",
            f"ward-{tag}",
        )
        # the partition counts of docs/kafka.md's ward example
        ensure_topics(
            bootstrap, {t.critical: 2, t.routine: 4, t.alerts: 2, t.invalid: 1, t.trends: 1}
        )
        return t

    def topic(self, cls_: str) -> str:
        return self.critical if cls_ == "critical" else self.routine

    def group_of(self, cls_: str) -> str:
        return f"{self.group}.critical" if cls_ == "critical" else self.group


# ---------------------------------------------------------------------------- the producer


def _payload(rng: random.Random, low: int, high: int) -> tuple[bytes, bytes]:
    """(key, value) of one reading in the course's form, keyed by its patient."""
    pid = rng.randint(low, high)
    body = [
        pid,
        {
            "idade": rng.randint(10, 50),
            "altura": rng.randint(100, 200),
            "peso": rng.randint(30, 100),
        },
    ]
    return str(pid).encode(), json.dumps(body, separators=(",", ":")).encode()


def produce(
    topics: dict[str, Any],
    rate: float | None,
    seconds: float | None,
    count: int | None,
    tool: str,
    seed: int,
    out: Any,
) -> None:
    """A producer process pinned to ``PRODUCER_CPU``: both classes interleaved (every k-th
    reading critical, k from ``ward.critical_share``), paced at ``rate``/s when given, for
    ``seconds`` or ``count`` readings; puts {sent per class, send_s, errors} on ``out``."""
    _pin(PRODUCER_CPU)
    share = float(_ward().get("critical_share", 0.2))
    patients = _patients()
    rng = random.Random(seed)
    sent = dict.fromkeys(CLASSES, 0)
    errors: list[str] = []
    if tool == "kcat":
        # One kcat per topic, fed "key<TAB>value" lines; librdkafka stamps a record when kcat
        # hands it over, so the timestamp is still the produce time.
        procs = {
            c: subprocess.Popen(
                [
                    KCAT,
                    "-P",
                    "-b",
                    topics["bootstrap"],
                    "-t",
                    topics[c],
                    "-K",
                    "\t",
                    *"-X linger.ms=2 -X acks=1 -X partitioner=murmur2_random".split(),
                ],
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for c in CLASSES
        }

        def send(c: str, key: bytes, value: bytes) -> None:
            procs[c].stdin.write(key + b"\t" + value + b"\n")  # type: ignore[union-attr]

        def flush() -> None:
            for p in procs.values():
                p.stdin.flush()  # type: ignore[union-attr]
    else:
        from kafka import KafkaProducer

        # linger 2 ms: batches at high rates without holding a 50 ms deadline's record long
        producer = KafkaProducer(
            bootstrap_servers=topics["bootstrap"], acks=1, linger_ms=2, batch_size=64 * 1024
        )

        def send(c: str, key: bytes, value: bytes) -> None:
            producer.send(topics[c], value, key=key)

        def flush() -> None:
            pass

    start = time.monotonic()
    i = 0
    while True:
        if count is not None and i >= count:
            break
        now = time.monotonic()
        if seconds is not None and now - start >= seconds:
            break
        if rate:
            delay = start + i / rate - now
            if delay > 0.0005:
                flush()  # kcat gets what is due before the pause
                time.sleep(delay)
        c = "critical" if int((i + 1) * share) > int(i * share) else "routine"
        send(c, *_payload(rng, *patients[c]))
        sent[c] += 1
        i += 1
    send_s = time.monotonic() - start
    if tool == "kcat":
        for p in procs.values():
            p.stdin.close()  # type: ignore[union-attr]
        for p in procs.values():
            err = p.stderr.read()  # type: ignore[union-attr]
            p.wait(60)
            if p.returncode != 0 or err.strip():
                errors.append(f"kcat exit {p.returncode}: {err.decode()[-200:]}")
    else:
        producer.flush()
        producer.close()
    out.put({"sent": sent, "send_s": send_s, "errors": errors})


def _producer(
    topics: Topics,
    rate: float | None,
    seconds: float | None,
    count: int | None,
    tool: str,
    seed: int,
) -> tuple[Any, Any]:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # the group process holds client threads: no fork
    out = ctx.Queue()
    proc = ctx.Process(target=produce, args=(asdict(topics), rate, seconds, count, tool, seed, out))
    proc.start()
    return proc, out


def _result(proc: Any, out: Any, timeout_s: float) -> dict[str, Any]:
    """The producer's report; a producer that died says so at once (no wait to the timeout)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            made: dict[str, Any] = out.get(timeout=0.5)
            proc.join(30)
            return made
        except queue.Empty:
            if not proc.is_alive() and out.empty():
                raise RuntimeError(f"the producer died (exit code {proc.exitcode})") from None
    proc.kill()
    raise RuntimeError(f"the producer did not finish in {timeout_s:.0f} s")


# ------------------------------------------------------------------- reading the broker back


def _lag(offsets: dict[str, tuple[dict[int, int], dict[int, int]]]) -> dict[str, int]:
    return {
        c: sum(e - com.get(p, 0) for p, e in ends.items()) for c, (ends, com) in offsets.items()
    }


def _records(bootstrap: str, topic: str) -> list[Any]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts)
        out: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                out.extend(batch)
        return out
    finally:
        consumer.close()


def expected_rules(value: bytes) -> list[str]:
    """The alerts a raw reading implies, by this file's own arithmetic (config.yaml's rules):
    weight_kg > 80, and BMI > 35 <=> weight * 10,000 > 35 * height_cm² (exact integers)."""
    doc = json.loads(value)
    fields = doc[1] if isinstance(doc, list) else doc
    weight = fields.get("peso", fields.get("weight_kg"))
    height = fields.get("altura", fields.get("height_cm"))
    fired = ["weight_kg > 80"] if weight > 80 else []
    if weight * 10_000 > 35 * height * height:
        fired.append("bmi > 35")
    return fired


def critical_lost(topics: Topics, committed: dict[int, int]) -> dict[str, int]:
    """Critical readings the group committed whose implied alerts are not all in the alerts
    topic (each a lost alert), and how many alerts were expected and found."""
    seen = set()
    for r in _records(topics.bootstrap, topics.alerts):
        doc = json.loads(r.value)
        seen.add((doc.get("rule"), (doc.get("reading") or {}).get("source")))
    lost = expected = 0
    for r in _records(topics.bootstrap, topics.critical):
        if r.offset >= committed.get(r.partition, 0):
            continue  # not done yet: lag, not loss
        rules = expected_rules(r.value)
        source = f"{r.topic}:{r.partition}:{r.offset}"
        expected += len(rules)
        lost += any((rule, source) not in seen for rule in rules)
    return {"lost": lost, "expected_alerts": expected, "alerts_in_topic": len(seen)}


class _Watch:
    """Long-lived clients reading a run's end and committed offsets (fresh clients per look
    would cost the group process ~100 ms each)."""

    def __init__(self, topics: Topics) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.topics = topics
        self.admin = KafkaAdminClient(bootstrap_servers=topics.bootstrap)
        self.consumer = KafkaConsumer(bootstrap_servers=topics.bootstrap)

    def offsets(self) -> dict[str, tuple[dict[int, int], dict[int, int]]]:
        """class -> (end offset, committed offset) per partition of its topic."""
        from kafka import TopicPartition

        out = {}
        for c in CLASSES:
            n = 2 if c == "critical" else 4
            parts = [TopicPartition(self.topics.topic(c), p) for p in range(n)]
            ends = self.consumer.end_offsets(parts)
            group = self.topics.group_of(c)
            try:
                got = self.admin.list_group_offsets(group).get(group, {})
            except Exception:  # noqa: BLE001 - no coordinator or commit yet: nothing committed
                got = {}
            committed = {tp.partition: min(got[tp].offset, ends[tp]) for tp in parts if tp in got}
            out[c] = ({tp.partition: ends[tp] for tp in parts}, committed)
        return out

    def joined(self) -> bool:
        """Both groups are stable with a member: their partitions are assigned."""
        groups = [self.topics.group_of(c) for c in CLASSES]
        try:
            got = self.admin.describe_groups(groups)
        except Exception:  # noqa: BLE001 - not created yet: not joined
            return False
        return all(
            str(got[g].get("group_state", got[g].get("state", ""))).lower() == "stable"
            and bool(got[g].get("members"))
            for g in groups
        )

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()

"""State checkpoints in a compacted Kafka changelog topic, and the catch-up read they imply.

A stateful bolt fed *unanchored* (the trend windows behind ``bolts.kafka_trend_feed``) cannot
let its state hold the spout's offsets, so the spout commits records whose effect on the state
exists only in memory. To survive a crash the bolt writes its state to a changelog topic (one
record per key, the latest wins: ``cleanup.policy=compact``, as Kafka Streams backs its state
stores) and restores it on start. What the state had not yet counted at its last checkpoint is
read again by the spout: :func:`plan_catch_up` re-reads each partition from the first record at
or after the checkpoint's ``resume_from_ms`` (records earlier than it are behind the restored
watermark: late, never counted) up to the group's committed offset (from there on the spout
reads as usual). Those records are emitted as *catch-up*: their topic carries
:data:`CATCHUP_MARK`, so the app routes them to the state only (the health topology's
``ThresholdBolt`` sends their alerts to the trend feed, not to the alerts topic again), and the
restored state de-duplicates what it had counted already (the trend panes' offset bitmaps).

Record value (JSON, gzip-compressed by the producer)::

    {"format": "squall.changelog/1", "resume_from_ms": <epoch ms | null>, "state": {...}}

``resume_from_ms`` null means "re-read from the beginning" (the state had no watermark yet).

Every Kafka client of this module is made by :func:`new_client` (one place for the connection
and security settings).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from squall.kafka.errors import KafkaConfigError, KafkaRuntimeError
from squall.kafka.offsets import TopicPart
from squall.kafka.security import PLAIN, ClientSecurity

FORMAT = "squall.changelog/1"
# Prefixed to a catch-up record's topic in what the spout emits (its source becomes
# "catchup|topic:partition:offset"): '|' is not allowed in Kafka topic names, so no real topic
# starts with it.
CATCHUP_MARK = "catchup|"
# A changelog holds one record per key once compacted; these keep the uncompacted tail (read in
# full at every start) short: roll a segment every 10 min, clean once 10% is stale.
CHANGELOG_CONFIGS: dict[str, str] = {
    "cleanup.policy": "compact",
    "segment.ms": "600000",
    "min.cleanable.dirty.ratio": "0.1",
    "max.message.bytes": str(8 * 1024 * 1024),
}
_MAX_REQUEST_BYTES = 8 * 1024 * 1024
_log = logging.getLogger("squall.kafka.changelog")


def new_client(
    kind: str, bootstrap: Iterable[str] | str, security: ClientSecurity = PLAIN, **kwargs: Any
) -> Any:
    """A kafka-python ``admin``, ``consumer`` or ``producer`` for ``bootstrap`` with the
    component's ``security`` (squall.kafka.security.*): the one place this module's clients
    are made."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    servers = [bootstrap] if isinstance(bootstrap, str) else list(bootstrap)
    classes = {"admin": KafkaAdminClient, "consumer": KafkaConsumer, "producer": KafkaProducer}
    if kind not in classes:
        raise ValueError(f"client kind {kind!r}: valid kinds are {sorted(classes)}")
    return classes[kind](bootstrap_servers=servers, **security.kafka_kwargs(), **kwargs)


# ------------------------------------------------------------------------------ the topic


def ensure_changelog(
    bootstrap: Iterable[str] | str, topic: str, security: ClientSecurity = PLAIN
) -> None:
    """Create ``topic`` compacted (1 partition) if it is missing; refuse one that is not
    compacted: a ``delete`` topic would drop old checkpoints by age and a restart would then
    silently start its windows from empty."""
    from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = new_client("admin", bootstrap, security, client_id="squall-changelog")
    try:
        if topic not in admin.list_topics():
            try:
                admin.create_topics(
                    [NewTopic(topic, 1, 1, topic_configs=CHANGELOG_CONFIGS)],
                    wait_for_metadata=True,
                )
                return
            except TopicAlreadyExistsError:
                pass  # made meanwhile by another task: check it as any existing one
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs=None)], config_filter="all"
        )
    finally:
        admin.close()
    policy = (described.get("topic", {}).get(topic, {}).get("cleanup.policy") or {}).get("value")
    check_compacted(topic, policy)


def check_compacted(topic: str, policy: str | None) -> None:
    """KafkaConfigError unless ``policy`` (the topic's ``cleanup.policy``) includes compact."""
    if policy is None or "compact" not in policy.split(","):
        raise KafkaConfigError(
            f"changelog topic {topic!r} has cleanup.policy={policy!r}; a changelog must be "
            f"compacted (cleanup.policy=compact), or old checkpoints are deleted by age and the "
            f"windows restart from empty. Fix: set cleanup.policy=compact on it (kafka-configs "
            f"--alter --entity-type topics --entity-name {topic} --add-config "
            f"cleanup.policy=compact), or delete it and let squall create it compacted, or name "
            f"another topic in kafka.trends_changelog_topic"
        )


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Checkpoint:
    """The latest readable record of a key."""

    key: str
    resume_from_ms: int | None
    state: dict[str, Any]
    offset: int


@dataclass(frozen=True)
class BadCheckpoint:
    """The latest record of a key, unreadable: what it held and why it was refused."""

    key: str
    offset: int
    raw: bytes
    reason: str


def encode(resume_from_ms: int | None, state: Mapping[str, Any]) -> bytes:
    return json.dumps(
        {"format": FORMAT, "resume_from_ms": resume_from_ms, "state": state},
        separators=(",", ":"),
    ).encode()


def decode(raw: bytes) -> tuple[int | None, dict[str, Any]]:
    """(resume_from_ms, state) of a record value; ValueError saying what is wrong."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        shown = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"format is {shown!r}, expected {FORMAT!r}")
    resume, state = doc.get("resume_from_ms"), doc.get("state")
    if resume is not None and type(resume) is not int:
        raise ValueError(f"resume_from_ms is {resume!r}, expected epoch ms or null")
    if not isinstance(state, dict):
        raise ValueError(f"state is {type(state).__name__}, expected an object")
    return resume, state


def read_latest(
    bootstrap: Iterable[str] | str, topic: str, prefix: str, security: ClientSecurity = PLAIN
) -> tuple[dict[str, Checkpoint], dict[str, BadCheckpoint]]:
    """The latest record of every key starting with ``prefix``, read from the beginning of
    ``topic`` to its end as of now; deleted keys (tombstones) left out. Readable ones in the
    first dict, unreadable ones (with the reason) in the second."""
    from kafka import TopicPartition

    consumer = new_client(
        "consumer", bootstrap, security, enable_auto_commit=False, client_id="squall-changelog"
    )
    latest: dict[str, tuple[int, bytes | None]] = {}
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        parts = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not parts:
            raise KafkaRuntimeError(f"changelog topic {topic!r} has no partitions on {bootstrap}")
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts)
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    key = record.key.decode("utf-8", "replace") if record.key else ""
                    if key.startswith(prefix):
                        latest[key] = (record.offset, record.value)
    finally:
        consumer.close(autocommit=False)
    good: dict[str, Checkpoint] = {}
    bad: dict[str, BadCheckpoint] = {}
    for key, (offset, value) in latest.items():
        if value is None:
            continue  # a tombstone: the key was deleted on purpose
        try:
            resume, state = decode(value)
        except ValueError as exc:
            bad[key] = BadCheckpoint(key, offset, value, str(exc))
            continue
        good[key] = Checkpoint(key, resume, state, offset)
    return good, bad


class ChangelogWriter:
    """Writes checkpoints without waiting: the producer sends in its own thread; a failed
    write is logged when noticed (the next checkpoint replaces it anyway)."""

    def __init__(
        self,
        bootstrap: Iterable[str] | str,
        topic: str,
        client_id: str,
        security: ClientSecurity = PLAIN,
    ) -> None:
        self.topic = topic
        self.producer = new_client(
            "producer",
            bootstrap,
            security,
            acks="all",
            compression_type="gzip",  # bitmaps of sparse offsets and JSON: both shrink
            max_request_size=_MAX_REQUEST_BYTES,
            client_id=client_id,
        )
        self.pending: list[Any] = []
        self.written = 0
        self.failed = 0

    def write(self, key: str, resume_from_ms: int | None, state: Mapping[str, Any]) -> None:
        self._settle()
        value = encode(resume_from_ms, state)
        self.pending.append(self.producer.send(self.topic, key=key.encode(), value=value))

    def send_raw(self, topic: str, key: str, value: bytes) -> None:
        """Another record through the same producer (a dead letter of a bad checkpoint)."""
        self.producer.send(topic, key=key.encode(), value=value)

    def _settle(self) -> None:
        still = []
        for future in self.pending:
            if not future.is_done:
                still.append(future)
            elif future.failed():
                self.failed += 1
                _log.warning("checkpoint write to %s failed: %s", self.topic, future.exception)
            else:
                self.written += 1
        self.pending = still

    def close(self, timeout_s: float = 5.0) -> None:
        self.producer.flush(timeout=timeout_s)
        self._settle()
        self.producer.close(timeout=timeout_s)


# ------------------------------------------------------------------------------ catch-up


@dataclass(frozen=True)
class CatchUpRecord:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp_ms: int | None


def resume_point(checkpoints: Mapping[str, Checkpoint], bad: Mapping[str, BadCheckpoint]) -> int:
    """The event time to re-read from: the earliest ``resume_from_ms`` of the checkpoints, 0
    (the beginning) if there is none, or one is unreadable or has no watermark yet."""
    if bad or not checkpoints:
        return 0
    points = [c.resume_from_ms for c in checkpoints.values()]
    return 0 if any(p is None for p in points) else min(p for p in points if p is not None)


def plan_catch_up(
    bootstrap: Iterable[str] | str,
    topics: Iterable[str],
    group_id: str,
    changelog: str,
    prefix: str,
    security: ClientSecurity = PLAIN,
) -> tuple[list[CatchUpRecord], dict[TopicPart, tuple[int, int]]]:
    """The records the state behind ``changelog`` (keys starting with ``prefix``) must count
    again, oldest event time first, and the range read per partition ``[from, committed)``.

    Sorted by record timestamp (then partition, offset) so that catch-up, spread over several
    partitions, does not push the watermark past records of a partition read later.
    """
    from kafka import TopicPartition

    ensure_changelog(bootstrap, changelog, security)
    checkpoints, bad = read_latest(bootstrap, changelog, prefix, security)
    resume_ms = resume_point(checkpoints, bad)
    consumer = new_client(
        "consumer",
        bootstrap,
        security,
        group_id=group_id,  # only to read the group's commits: this consumer never joins
        enable_auto_commit=False,
        client_id=f"squall-catchup-{group_id}",
    )
    ranges: dict[TopicPart, tuple[int, int]] = {}
    records: list[CatchUpRecord] = []
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        found = consumer.offsets_for_times({tp: resume_ms for tp in parts}) if parts else {}
        for tp in parts:
            committed = consumer.committed(tp)
            start = found.get(tp)
            if committed is None or start is None or start.offset >= committed:
                continue  # nothing committed, or no record at/after resume_ms before it
            ranges[(tp.topic, tp.partition)] = (start.offset, committed)
        if ranges:
            wanted = [TopicPartition(*tp) for tp in ranges]
            consumer.unsubscribe()
            consumer.assign(wanted)
            for tp in wanted:
                consumer.seek(tp, ranges[(tp.topic, tp.partition)][0])
            deadline = time.monotonic() + 120
            while any(consumer.position(tp) < ranges[(tp.topic, tp.partition)][1] for tp in wanted):
                if time.monotonic() > deadline:
                    raise KafkaRuntimeError(
                        f"catch-up read of {sorted(ranges)} from {bootstrap} not done after 120 s"
                    )
                for tp, batch in consumer.poll(timeout_ms=500).items():
                    end = ranges[(tp.topic, tp.partition)][1]
                    records.extend(
                        CatchUpRecord(r.topic, r.partition, r.offset, r.value, r.timestamp)
                        for r in batch
                        if r.offset < end
                    )
    finally:
        consumer.close(autocommit=False)
    records.sort(key=lambda r: (r.timestamp_ms or 0, r.partition, r.offset))
    return records, ranges

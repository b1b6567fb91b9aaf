"""State checkpoints in a compacted Kafka changelog topic, and the catch-up read they imply.

A stateful bolt fed *unanchored* (the trend windows behind ``bolts.kafka_trend_feed``) cannot
let its state hold the spout's offsets, so the spout commits records whose effect on the state
exists only in memory. To survive a crash the bolt writes its state to a changelog topic (one
record per key, the latest wins: ``cleanup.policy=compact``, as Kafka Streams backs its state
stores) and restores it on start. What the state had not yet counted at its last checkpoint is
read again by the spout: :func:`plan_catch_up` finds, per partition, the first record at or
after the checkpoint's ``resume_from_ms`` (records earlier than it are behind the restored
watermark: late, never counted), not before the group's *origin*, and the range from there up
to the group's committed offset (from there on the spout reads as usual) is streamed by
``squall.kafka.catch_up_read``. Those records are emitted as *catch-up*: their topic carries
:data:`CATCHUP_MARK`, so the app routes them to the state only (the health topology's
``ThresholdBolt`` sends their alerts to the trend feed, not to the alerts topic again), and the
restored state de-duplicates what it had counted already (the trend panes' offset bitmaps).

The origin. The group's first run with checkpoints (no checkpoint, no origin under the prefix)
starts its windows where the group is, not at the beginning of the readings (the windows of
earlier runs were not kept; recounting the whole history is not what a first run means):
before its first poll the spout writes the origin record, key ``<prefix>origin``, the offsets
it starts from, and re-reads nothing. A crash before the first checkpoint then finds the
origin and re-reads from it; later catch-ups never go back before it either. An unreadable
checkpoint is recounted from the origin (where the windows began), or from the beginning of
the readings without one (changelogs written before origins existed), never started empty.

Checkpoint value (JSON, gzip-compressed by the producer); records written before the origin
existed have the same format and restore as they are::

    {"format": "squall.changelog/1", "resume_from_ms": <epoch ms | null>, "state": {...}}

``resume_from_ms`` null means "re-read from the origin, or the beginning" (no watermark yet).

Origin value (its own format: a reader of checkpoints refuses it rather than misreads it)::

    {"format": "squall.changelog-origin/1", "offsets": [[topic, partition, offset], ...],
     "written_ms": <epoch ms>}

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
from squall.kafka.security import PLAIN, ClientSecurity, check_access

FORMAT = "squall.changelog/1"
# The origin record (key ``<prefix>origin``): where a group's first run with checkpoints
# started reading; a format of its own, so no reader takes it for a checkpoint.
ORIGIN_FORMAT = "squall.changelog-origin/1"
ORIGIN_KEY = "origin"
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
    if security.secured and servers:
        # A refused login is, to kafka-python, disconnects until "Unable to bootstrap" after
        # its timeout; asked once first, the refusal is one line naming what to fix.
        try:
            check_access(servers[0].split(",")[0].strip(), security)
        except OSError:
            pass  # not answering: the client's own wait reports it
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


def _document(raw: bytes, expected: str) -> dict[str, Any]:
    """A changelog record's JSON object of format ``expected``; ValueError saying what is wrong."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != expected:
        shown = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"format is {shown!r}, expected {expected!r}")
    return doc


def decode(raw: bytes) -> tuple[int | None, dict[str, Any]]:
    """(resume_from_ms, state) of a record value; ValueError saying what is wrong."""
    doc = _document(raw, FORMAT)
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
    return split_latest(read_latest_raw(bootstrap, topic, prefix, security))


def read_latest_raw(
    bootstrap: Iterable[str] | str, topic: str, prefix: str, security: ClientSecurity = PLAIN
) -> dict[str, tuple[int, bytes | None]]:
    """key -> (offset, value) of the latest record of every key starting with ``prefix``
    (value None: a tombstone), from the beginning of ``topic`` to its end as of now."""
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
    return latest


def split_latest(
    latest: Mapping[str, tuple[int, bytes | None]],
) -> tuple[dict[str, Checkpoint], dict[str, BadCheckpoint]]:
    """The checkpoints of ``read_latest_raw``: readable, unreadable; tombstones left out."""
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


def resume_point(checkpoints: Mapping[str, Checkpoint], bad: Mapping[str, BadCheckpoint]) -> int:
    """The event time to re-read from: the earliest ``resume_from_ms`` of the checkpoints, 0
    (the beginning) if there is none, or one is unreadable or has no watermark yet."""
    if bad or not checkpoints:
        return 0
    points = [c.resume_from_ms for c in checkpoints.values()]
    return 0 if any(p is None for p in points) else min(p for p in points if p is not None)


def encode_origin(offsets: Mapping[TopicPart, int], written_ms: int) -> bytes:
    """The origin record's value: where a group's first checkpointed run started reading."""
    listed = [[topic, partition, offset] for (topic, partition), offset in sorted(offsets.items())]
    doc = {"format": ORIGIN_FORMAT, "offsets": listed, "written_ms": written_ms}
    return json.dumps(doc, separators=(",", ":")).encode()


def decode_origin(raw: bytes) -> dict[TopicPart, int]:
    """(topic, partition) -> offset of an origin record; ValueError saying what is wrong."""
    doc = _document(raw, ORIGIN_FORMAT)
    offsets: dict[TopicPart, int] = {}
    items = doc.get("offsets")
    for item in items if isinstance(items, list) else [items]:
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and all(type(n) is int and n >= 0 for n in item[1:])
        ):
            raise ValueError(f"offsets: expected [topic, partition, offset], got {item!r:.80}")
        offsets[(item[0], item[1])] = item[2]
    return offsets


def catch_up_ranges(
    committed: Mapping[TopicPart, int | None],
    at_resume: Mapping[TopicPart, int | None],
    origin: Mapping[TopicPart, int] | None,
) -> dict[TopicPart, tuple[int, int]]:
    """``[from, committed)`` per partition: from the first offset at or after the resume point
    (``at_resume``; None: no record that late), never before the origin (what came before it
    the windows never counted, so re-reading it would count more than an uninterrupted run);
    partitions with nothing committed or nothing to re-read left out."""
    ranges: dict[TopicPart, tuple[int, int]] = {}
    for tp, end in committed.items():
        start = at_resume.get(tp)
        if end is None or start is None:
            continue  # nothing committed, or no record at/after the resume point before it
        start = max(start, (origin or {}).get(tp, 0))
        if start < end:
            ranges[tp] = (start, end)
    return ranges


@dataclass(frozen=True)
class CatchUpPlan:
    """What a spout re-reads at start (``ranges``: ``[from, committed)`` per partition), and
    why (``note``; ``problem``: an unreadable origin record, to log as an error)."""

    ranges: dict[TopicPart, tuple[int, int]]
    origin: dict[TopicPart, int] | None
    note: str
    problem: str | None = None


def plan_catch_up(
    bootstrap: Iterable[str] | str,
    topics: Iterable[str],
    group_id: str,
    changelog: str,
    prefix: str,
    security: ClientSecurity = PLAIN,
    *,
    starts: Mapping[TopicPart, int] | None = None,
    reset: str = "earliest",
) -> CatchUpPlan:
    """The ranges the state behind ``changelog`` (keys starting with ``prefix``) must count
    again (see the module); to call before the spout's first poll, so that no commit of this
    run has moved the group's offsets yet. Reads no record of ``topics``: the spout streams
    them (``squall.kafka.catch_up_read``).

    No checkpoint and no origin under ``prefix`` (the group's first run with checkpoints): it
    writes the origin record ``<prefix>origin``, the offsets this run starts reading from
    (``starts``: a backfill's, else the committed ones, else where ``reset`` puts a partition
    with no commit), and returns no range.
    """
    from kafka import TopicPartition

    ensure_changelog(bootstrap, changelog, security)
    latest = read_latest_raw(bootstrap, changelog, prefix, security)
    origin_key = prefix + ORIGIN_KEY
    origin_offset, origin_raw = latest.pop(origin_key, (-1, None))
    checkpoints, bad = split_latest(latest)
    origin: dict[TopicPart, int] | None = None
    problem = None
    if origin_raw is not None:
        try:
            origin = decode_origin(origin_raw)
        except ValueError as exc:
            problem = (
                f"origin record {changelog}:0:{origin_offset} (key {origin_key}) is unreadable: "
                f"{exc}; the catch-up is not bounded by it (from the beginning of the readings "
                f"without a checkpoint)"
            )
    consumer = new_client(
        "consumer",
        bootstrap,
        security,
        group_id=group_id,  # only to read the group's commits: this consumer never joins
        enable_auto_commit=False,
        client_id=f"squall-catchup-{group_id}",
    )
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        committed = {(tp.topic, tp.partition): consumer.committed(tp) for tp in parts}
        if not checkpoints and not bad and origin_raw is None:
            origin = _first_offsets(consumer, parts, committed, starts or {}, reset)
            _write_origin(bootstrap, changelog, origin_key, origin, security)
            shown = {f"{t}:{p}": o for (t, p), o in sorted(origin.items())}
            note = (
                f"no checkpoint under {prefix!r} yet: the windows start at this run's first "
                f"offsets {shown}, written as the origin (key {origin_key})"
            )
            return CatchUpPlan({}, origin, note, problem)
        resume_ms = resume_point(checkpoints, bad)
        found = consumer.offsets_for_times({tp: resume_ms for tp in parts}) if parts else {}
    finally:
        consumer.close(autocommit=False)
    at_resume = {(tp.topic, tp.partition): (o.offset if o else None) for tp, o in found.items()}
    ranges = catch_up_ranges(committed, at_resume, origin)
    start = "the origin" if origin is not None else "the beginning"
    if bad:
        note = f"unreadable checkpoint(s) {sorted(bad)}: recounted from {start}"
    elif resume_ms == 0:
        note = f"no checkpoint with a watermark under {prefix!r}: recounted from {start}"
    else:
        note = f"{len(checkpoints)} checkpoint(s): from {resume_ms} ms, not before {start}"
    return CatchUpPlan(ranges, origin, note, problem)


def _first_offsets(
    consumer: Any,
    parts: list[Any],
    committed: Mapping[TopicPart, int | None],
    starts: Mapping[TopicPart, int],
    reset: str,
) -> dict[TopicPart, int]:
    """Where this run reads each partition from: a backfill's offset, the commit, or where
    ``reset`` puts a partition with no commit (for ``latest``, the end as of now: records
    written before the spout's first poll would be re-read after a crash, not lost)."""
    edge = consumer.beginning_offsets if reset == "earliest" else consumer.end_offsets
    edges = {(tp.topic, tp.partition): o for tp, o in (edge(parts).items() if parts else ())}
    first: dict[TopicPart, int] = {}
    for tp in committed:
        given = starts.get(tp, committed[tp])
        first[tp] = given if given is not None else edges[tp]
    return first


def _write_origin(
    bootstrap: Iterable[str] | str,
    changelog: str,
    key: str,
    offsets: Mapping[TopicPart, int],
    security: ClientSecurity,
) -> None:
    """Write the origin and wait for the broker's ack: a crash right after the spout's first
    commit must find it."""
    from kafka.errors import KafkaError

    producer = new_client("producer", bootstrap, security, acks="all", client_id="squall-origin")
    try:
        value = encode_origin(offsets, time.time_ns() // 1_000_000)
        producer.send(changelog, key=key.encode(), value=value).get(timeout=30)
    except KafkaError as exc:
        raise KafkaRuntimeError(
            f"could not write the origin record {key!r} to the changelog {changelog!r} on "
            f"{bootstrap}: {exc}; without it a crash before the first checkpoint would lose "
            f"this run's counts, so the spout does not start"
        ) from exc
    finally:
        producer.close(timeout=5)

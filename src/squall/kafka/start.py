"""Where a Kafka spout starts reading: its group's commits (the default), or a backfill.

``squall.kafka.spout.start``:

- ``committed``: each partition from the group's committed offset (``auto.offset.reset`` when
  the group has none) -- at-least-once across restarts;
- ``earliest``: from the first offset the broker still holds;
- ``timestamp:<epoch ms>``: from the first record at or after that time (Kafka's time index;
  the end of the partition when none is that late);
- ``offsets:<partition>=<offset>[,...]``: from these offsets, for each of the spout's topics
  (a partition not named starts from its commit).

A backfill applies to a partition the first time a spout task is assigned it; the group's
commits move from there. It applies again each time the topology starts (a Storm worker
restart too), so remove it once the backfill is done (docs/kafka.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from squall.errors import ConfigError

FORMS = "'committed', 'earliest', 'timestamp:<epoch ms>' or 'offsets:<partition>=<offset>,...'"


@dataclass(frozen=True)
class StartAt:
    kind: str  # committed | earliest | timestamp | offsets
    timestamp_ms: int | None = None
    offsets: tuple[tuple[int, int], ...] = ()

    def __str__(self) -> str:
        if self.kind == "timestamp":
            return f"timestamp:{self.timestamp_ms}"
        if self.kind == "offsets":
            return "offsets:" + ",".join(f"{p}={o}" for p, o in self.offsets)
        return self.kind


def start_at(value: Any, where: str) -> StartAt:
    """The setting's reader: a ``StartAt`` from its text (or one already read)."""
    if isinstance(value, StartAt):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be {FORMS}; got {value!r}")
    kind, _, rest = value.strip().partition(":")
    if kind in ("committed", "earliest") and not rest:
        return StartAt(kind)
    try:
        if kind == "timestamp":
            stamp = int(rest)
            if stamp < 0:
                raise ValueError(rest)
            return StartAt(kind, timestamp_ms=stamp)
        if kind == "offsets":
            pairs = [item.split("=") for item in rest.split(",") if item.strip()]
            offsets = tuple(sorted((int(p), int(o)) for p, o in pairs))
            if not offsets or any(p < 0 or o < 0 for p, o in offsets):
                raise ValueError(rest)
            if len({p for p, _ in offsets}) != len(offsets):
                raise ConfigError(f"{where}: a partition is named twice in {value!r}")
            return StartAt(kind, offsets=offsets)
    except ValueError:
        pass
    raise ConfigError(f"{where} must be {FORMS}; got {value!r}")


def start_offsets(
    consumer: Any, topics: tuple[str, ...], start: StartAt
) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the offset to start from, asked of the broker (before the group
    join: these are network calls, which kafka-python's rebalance callbacks must not make)."""
    from kafka import TopicPartition

    if start.kind == "committed":
        return {}
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    if start.kind == "earliest":
        found = consumer.beginning_offsets(partitions)
    elif start.kind == "timestamp":
        by_time = consumer.offsets_for_times({tp: start.timestamp_ms for tp in partitions})
        ends = consumer.end_offsets(partitions)
        found = {tp: (hit.offset if hit is not None else ends[tp]) for tp, hit in by_time.items()}
    else:
        named = dict(start.offsets)
        known = {tp.partition for tp in partitions}
        missing = sorted(set(named) - known)
        if missing:
            raise ConfigError(
                f"squall.kafka.spout.start {start}: partition {missing[0]} does not exist in "
                f"{', '.join(topics)} (partitions {sorted(known)})"
            )
        found = {tp: named[tp.partition] for tp in partitions if tp.partition in named}
    return {(tp.topic, tp.partition): int(offset) for tp, offset in found.items()}

"""Which Kafka offsets are safe to commit: pure bookkeeping, no Kafka client involved.

A consumer group's committed offset says "everything before this is done". A spout emits many
records before any is acked, and acks come back in any order, so it may only commit up to the
first record still in flight::

    emitted  5  6  7  8  9          (6 is a transaction marker: never emitted, a gap)
    acked    x     x     x
    commit   6 -> no: 7 is not acked yet; the commit point stays at 7 (= "5 done, resume at 7")

Once 7 is acked the commit point jumps past 8 to 10 (9 acked, gaps skipped). A record that
keeps failing is replayed until ``max_attempts`` failures, then handed to the dead-letter path;
it counts as done once the dead-letter write is acknowledged. On a rebalance the revoked
partitions' state is dropped: their in-flight tuples will be redelivered to whichever task gets
the partition (at-least-once), and late acks for them are ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from squall.kafka.errors import KafkaConfigError

TopicPart = tuple[str, int]


def format_tup_id(topic: str, partition: int, offset: int) -> str:
    """The spout's tuple id: a string, so it survives Storm multilang's JSON round trip."""
    return f"{topic}:{partition}:{offset}"


def parse_tup_id(tup_id: object) -> tuple[str, int, int]:
    """``"readings:3:1207"`` -> ``("readings", 3, 1207)``.

    Kafka topic names are ``[a-zA-Z0-9._-]`` (no ':'), so splitting on ':' is unambiguous.
    """
    if not isinstance(tup_id, str):
        raise ValueError(f"tuple id {tup_id!r} is not a 'topic:partition:offset' string")
    parts = tup_id.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise ValueError(f"tuple id {tup_id!r} is not of the form 'topic:partition:offset'")
    topic, partition, offset = parts
    try:
        return topic, int(partition), int(offset)
    except ValueError:
        raise ValueError(f"tuple id {tup_id!r}: partition and offset must be integers") from None


class Outcome(Enum):
    REPLAY = "replay"
    DEAD_LETTER = "dead-letter"
    UNKNOWN = "unknown"  # not tracked (revoked partition, already done): ignore


@dataclass
class _Partition:
    # Emitted offsets in emission order (= increasing), still awaiting completion at the head.
    pending: deque[int] = field(default_factory=deque)
    live: set[int] = field(default_factory=set)  # pending and not yet completed
    done: set[int] = field(default_factory=set)  # completed, but behind an incomplete one
    attempts: dict[int, int] = field(default_factory=dict)  # failures so far, per offset
    next_commit: int | None = None  # first offset not known done (commit point)
    committed: int | None = None  # last commit point handed to the broker
    last_emitted: int | None = None

    def in_flight(self) -> int:
        return len(self.live)


class OffsetTracker:
    """Per-partition in-flight offsets, commit points, failure counts."""

    def __init__(self, max_attempts: int = 5) -> None:
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise KafkaConfigError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
        self.max_attempts = max_attempts
        self._parts: dict[TopicPart, _Partition] = {}
        # the sum of every partition's live offsets, kept as they change: the spout asks for
        # it once per record emitted
        self._live = 0

    # -- emission ---------------------------------------------------------------------------

    def emitted(self, tp: TopicPart, offset: int) -> bool:
        """Record a first emission. False if the offset is already tracked or done (skip it)."""
        part = self._parts.setdefault(tp, _Partition())
        if part.last_emitted is not None and offset <= part.last_emitted:
            return False
        if part.next_commit is not None and offset < part.next_commit:
            return False
        part.pending.append(offset)
        part.live.add(offset)
        self._live += 1
        part.last_emitted = offset
        if part.next_commit is None:
            part.next_commit = offset
        return True

    def is_pending(self, tp: TopicPart, offset: int) -> bool:
        part = self._parts.get(tp)
        return part is not None and offset in part.live

    # -- completion -------------------------------------------------------------------------

    def acked(self, tp: TopicPart, offset: int) -> bool:
        """Mark done (acked, or dead-lettered). False if it was not in flight here."""
        if not self.is_pending(tp, offset):
            return False
        part = self._parts[tp]
        part.live.discard(offset)
        self._live -= 1
        part.done.add(offset)
        part.attempts.pop(offset, None)
        while part.pending and part.pending[0] in part.done:
            head = part.pending.popleft()
            part.done.discard(head)
            part.next_commit = head + 1
        if part.pending:
            part.next_commit = part.pending[0]
        return True

    def failed(self, tp: TopicPart, offset: int) -> Outcome:
        """Count a failure: replay it, or (after ``max_attempts`` failures) dead-letter it."""
        if not self.is_pending(tp, offset):
            return Outcome.UNKNOWN
        attempts = self._parts[tp].attempts
        attempts[offset] = attempts.get(offset, 0) + 1
        return Outcome.DEAD_LETTER if attempts[offset] >= self.max_attempts else Outcome.REPLAY

    def attempts(self, tp: TopicPart, offset: int) -> int:
        part = self._parts.get(tp)
        return 0 if part is None else part.attempts.get(offset, 0)

    # -- commits ----------------------------------------------------------------------------

    def commit_point(self, tp: TopicPart) -> int | None:
        """The first offset of ``tp`` not known to be done (None: nothing tracked there)."""
        part = self._parts.get(tp)
        return None if part is None else part.next_commit

    def committable(self) -> dict[TopicPart, int]:
        """Commit points that moved since the last ``mark_committed`` (offset = next to read)."""
        return {
            tp: part.next_commit
            for tp, part in self._parts.items()
            if part.next_commit is not None
            and (part.committed is None or part.next_commit > part.committed)
        }

    def mark_committed(self, offsets: dict[TopicPart, int]) -> None:
        for tp, offset in offsets.items():
            part = self._parts.get(tp)
            if part is not None and (part.committed is None or offset > part.committed):
                part.committed = offset

    # -- rebalance --------------------------------------------------------------------------

    def committed(self, tp: TopicPart) -> int | None:
        """The last commit point handed to the broker for ``tp`` (None: none by this tracker)."""
        part = self._parts.get(tp)
        return None if part is None else part.committed

    def resume(self, tp: TopicPart, offset: int, committed: int | None = None) -> None:
        """Track ``tp`` again from ``offset``, everything before it known done.

        For a partition that came back to this member in the same rebalance: what was acked
        before the revoke but not yet committed is committed by the next ``committable``, even
        when no record follows (at the end of a partition nothing else would move its commit).
        """
        old = self._parts.get(tp)
        if old is not None:
            self._live -= old.in_flight()
        self._parts[tp] = _Partition(
            next_commit=offset, committed=committed, last_emitted=offset - 1
        )

    def revoke(self, tps: list[TopicPart] | set[TopicPart]) -> int:
        """Forget revoked partitions; returns how many in-flight tuples were dropped."""
        dropped = 0
        for tp in tps:
            part = self._parts.pop(tp, None)
            if part is not None:
                dropped += part.in_flight()
        self._live -= dropped
        return dropped

    # -- inspection -------------------------------------------------------------------------

    def in_flight(self) -> int:
        return self._live

    def partitions(self) -> list[TopicPart]:
        return sorted(self._parts)

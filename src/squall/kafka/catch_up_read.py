"""Reading a catch-up (``squall.kafka.catch_up``) with bounded memory, in event-time order.

The ranges ``[from, committed)`` of a catch-up may cover a partition's whole history (a
checkpoint that is unreadable means "recount from the beginning"), so they are not read into a
list: :class:`MergedRead` keeps one consumer open across the spout's ``next_tuple`` calls and
holds at most ``buffer`` records per partition. It emits, among the partitions' buffered
heads, the record with the smallest ``(timestamp, partition, offset)``, and only once every
partition not yet read to its end has a buffered record: a k-way merge of the partitions.

Order. Where each partition's timestamps are non-decreasing (a producer stamping records with
the time it sends them, as Kafka does by default), the merge emits the records in exactly the
order of sorting the whole range by ``(timestamp, partition, offset)``. Where a partition's
timestamps go back, that partition's records still come out in offset order, interleaved with
the others by their heads: the order a live read gives anyway (the consumer returns each
partition in offset order), so the state downstream sees what it would have without a crash.

Memory. At most ``buffer`` records per partition are held here: a partition is polled only
when some partition's buffer is empty (the merge cannot go on without it), then every
partition whose buffer is more than half full is paused (``consumer.pause``) and the poll asks
for at most ``buffer`` minus the fullest polled buffer's records (``max_records``), so no
buffer ever exceeds ``buffer``: O(partitions x buffer) records in all, whatever the ranges'
length. kafka-python keeps besides at most one fetched batch per partition it parks while the
partition is paused (``max_partition_fetch_bytes``, 1 MiB by default): also O(partitions).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from squall.kafka.errors import KafkaRuntimeError
from squall.kafka.offsets import TopicPart

BUFFER = 256  # records held per partition at most
POLL_MS = 50  # one poll's wait: the spout's loop goes on between polls
STALL_S = 120.0  # no record of a partition still short of its end for this long: an error


@dataclass(frozen=True)
class CatchUpRecord:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp_ms: int | None

    @property
    def order(self) -> tuple[int, int, int]:
        """Where it goes in the merge: by timestamp, then partition, then offset."""
        return (self.timestamp_ms or 0, self.partition, self.offset)


class MergedRead:
    """The records of ``ranges`` (``(topic, partition) -> [from, to)``), read through
    consumers made by ``open_consumer`` (kafka-python's ``KafkaConsumer`` API: ``assign``,
    ``seek``, ``pause``, ``resume``, ``poll``, ``position``, ``close``), merged as the module
    says, holding at most ``buffer`` records per partition."""

    def __init__(
        self,
        open_consumer: Callable[[], Any],
        ranges: Mapping[TopicPart, tuple[int, int]],
        buffer: int = BUFFER,
        poll_ms: int = POLL_MS,
        stall_s: float = STALL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if buffer < 2:
            raise ValueError(f"catch-up buffer of {buffer} records: at least 2 are needed")
        for tp, (start, end) in ranges.items():
            if not 0 <= start <= end:
                raise ValueError(f"catch-up range of {tp[0]}:{tp[1]} is [{start}, {end})")
        self.open_consumer = open_consumer
        self.ranges = dict(ranges)
        self.buffer, self.poll_ms, self.stall_s, self.clock = buffer, poll_ms, stall_s, clock
        self.buffers: dict[TopicPart, deque[CatchUpRecord]] = {tp: deque() for tp in ranges}
        # The first offset not emitted yet: where a consumer made again (after ``suspend``)
        # goes on from, so a suspended read loses and repeats nothing.
        self.next_offset = {tp: start for tp, (start, _) in ranges.items()}
        # Read up to the end (the consumer's position is there): what is left is buffered.
        self.fetched_all = {tp for tp, (start, end) in ranges.items() if start >= end}
        self.consumer: Any = None
        self.assigned: list[TopicPart] = []  # the consumer's partitions
        self.emitted = 0
        self.max_buffered = 0  # the most records held at once (the bound: partitions x buffer)
        self._waiting_since: float | None = None  # for a partition's next record, since

    @property
    def done(self) -> bool:
        return all(tp in self.fetched_all and not self.buffers[tp] for tp in self.ranges)

    def buffered(self) -> int:
        return sum(len(b) for b in self.buffers.values())

    def take(self, n: int) -> list[CatchUpRecord]:
        """Up to ``n`` records in merge order, with at most one poll (of ``poll_ms``): fewer,
        maybe none, while the broker has not answered yet. The consumer is closed once the
        last record is taken."""
        out: list[CatchUpRecord] = []
        polled = False
        while len(out) < n and not self.done:
            if any(not self.buffers[tp] for tp in self._unfinished()):
                if polled:
                    break  # the next call polls again: the spout's loop is not held
                self._fill()
                polled = True
                continue
            heads = [buf[0] for buf in self.buffers.values() if buf]
            record = min(heads, key=lambda r: r.order)
            tp = (record.topic, record.partition)
            self.buffers[tp].popleft()
            self.next_offset[tp] = record.offset + 1
            out.append(record)
        self.emitted += len(out)
        if self.done:
            self.close()
        return out

    def _unfinished(self) -> list[TopicPart]:
        return [tp for tp in self.ranges if tp not in self.fetched_all]

    def _fill(self) -> None:
        """One poll for the partitions short of records, the others paused (module: Memory)."""
        from kafka import TopicPartition

        consumer = self._open()
        unfinished = self._unfinished()
        wanted = [tp for tp in unfinished if len(self.buffers[tp]) <= self.buffer // 2]
        # every other assigned partition, those read to their end too (their fetches would
        # go on past the end otherwise)
        paused = [tp for tp in self.assigned if tp not in wanted]
        if paused:
            consumer.pause(*(TopicPartition(*tp) for tp in paused))
        consumer.resume(*(TopicPartition(*tp) for tp in wanted))
        room = self.buffer - max(len(self.buffers[tp]) for tp in wanted)
        got = 0
        for ktp, batch in consumer.poll(timeout_ms=self.poll_ms, max_records=room).items():
            tp = (ktp.topic, ktp.partition)
            if tp not in wanted:
                raise KafkaRuntimeError(
                    f"catch-up poll returned records of {tp[0]}:{tp[1]}, which is paused or "
                    f"not in the catch-up ({sorted(self.ranges)})"
                )
            end = self.ranges[tp][1]
            for r in batch:
                if r.offset < end:  # from the committed offset on, the spout reads it
                    self.buffers[tp].append(
                        CatchUpRecord(r.topic, r.partition, r.offset, r.value, r.timestamp)
                    )
                    got += 1
        for tp in wanted:
            # the position, not the last offset seen: compaction or transaction markers may
            # leave no record at end - 1
            if consumer.position(TopicPartition(*tp)) >= self.ranges[tp][1]:
                self.fetched_all.add(tp)
        self.max_buffered = max(self.max_buffered, self.buffered())
        self._check_progress(got, wanted)

    def _check_progress(self, got: int, wanted: list[TopicPart]) -> None:
        now = self.clock()
        if got or all(tp in self.fetched_all for tp in wanted):
            self._waiting_since = None
        elif self._waiting_since is None:
            self._waiting_since = now
        elif now - self._waiting_since > self.stall_s:
            short = {
                f"{t}:{p}": (self.next_offset[(t, p)], self.ranges[(t, p)][1]) for t, p in wanted
            }
            raise KafkaRuntimeError(
                f"catch-up read stalled: no record of {short} (next offset, end) for "
                f"{self.stall_s:.0f} s; the broker does not serve these offsets"
            )

    def _open(self) -> Any:
        """The consumer, made again after ``suspend``, each partition at its first offset not
        emitted yet."""
        from kafka import TopicPartition

        if self.consumer is None:
            consumer = self.open_consumer()
            self.assigned = self._unfinished()
            consumer.assign([TopicPartition(*tp) for tp in self.assigned])
            for tp in self.assigned:
                consumer.seek(TopicPartition(*tp), self.next_offset[tp])
            self.consumer = consumer
        return self.consumer

    def suspend(self) -> None:
        """Close the consumer and drop what is buffered; a later ``take`` reads on from the
        first record not emitted (the spout deactivated: it may be activated again)."""
        self.close()
        for tp, buf in self.buffers.items():
            if buf:
                buf.clear()
                self.fetched_all.discard(tp)
        self._waiting_since = None

    def close(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer, self.assigned = self.consumer, None, []
            consumer.close(autocommit=False)

"""The streamed catch-up (``squall.kafka.catch_up_read``) and the origin arithmetic, without a
broker: a fake consumer serves per-partition logs, each poll a random share of what the
unpaused partitions hold (none at times, as a broker not answering yet), with gaps in the
offsets (compaction, transaction markers).

The oracle of the order is a plain sort of the ranges' records by (timestamp, partition,
offset); the bound is checked after every poll, per partition and in all.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from kafka import TopicPartition

from squall.kafka.catch_up import PER_TURN, CatchUp
from squall.kafka.catch_up_read import MergedRead
from squall.kafka.changelog import (
    CATCHUP_MARK,
    FORMAT,
    catch_up_ranges,
    decode,
    decode_origin,
    encode_origin,
    split_latest,
)
from squall.kafka.errors import KafkaRuntimeError
from squall.kafka.spout import ReliableKafkaSpout

TOPIC = "readings"


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    timestamp: int
    value: bytes


@dataclass
class FakeConsumer:
    """kafka-python's consumer as the catch-up uses it: assign, seek, pause, resume, poll
    (at most ``max_records``, only unpaused partitions, each in offset order), position."""

    logs: dict[int, list[Rec]]  # partition -> records by offset (with gaps)
    log_end: dict[int, int]
    rng: random.Random
    positions: dict[int, int] = field(default_factory=dict)
    paused: set[int] = field(default_factory=set)
    closed: bool = False
    polls: int = 0

    def assign(self, parts: list[TopicPartition]) -> None:
        assert all(tp.topic == TOPIC for tp in parts)
        self.positions = {tp.partition: 0 for tp in parts}
        self.paused = set()

    def seek(self, tp: TopicPartition, offset: int) -> None:
        assert tp.partition in self.positions, f"seek of unassigned {tp}"
        self.positions[tp.partition] = offset

    def pause(self, *parts: TopicPartition) -> None:
        self.paused.update(tp.partition for tp in parts)

    def resume(self, *parts: TopicPartition) -> None:
        self.paused.difference_update(tp.partition for tp in parts)

    def position(self, tp: TopicPartition) -> int:
        return self.positions[tp.partition]

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        assert not self.closed and max_records >= 1
        self.polls += 1
        if self.rng.random() < 0.2:
            return {}  # the broker has not answered yet
        budget = self.rng.randint(1, max_records)
        out: dict[TopicPartition, list[Rec]] = {}
        live = [p for p in self.positions if p not in self.paused]
        self.rng.shuffle(live)
        for p in live:
            if budget == 0:
                break
            pending = [r for r in self.logs[p] if r.offset >= self.positions[p]]
            batch = pending[: self.rng.randint(0, budget)]
            if batch:
                out[TopicPartition(TOPIC, p)] = batch
                budget -= len(batch)
                self.positions[p] = batch[-1].offset + 1
            if len(batch) == len(pending):
                self.positions[p] = max(self.positions[p], self.log_end[p])  # past markers
        return out

    def close(self, autocommit: bool = True) -> None:
        assert autocommit is False  # a catch-up never commits
        self.closed = True


def _logs(
    seed: int, partitions: int, monotonic: bool
) -> tuple[dict[int, list[Rec]], dict[int, int], dict[tuple[str, int], tuple[int, int]]]:
    """Per-partition logs with gaps, their ends, and a range [from, to) in each."""
    rng = random.Random(seed)
    logs, ends, ranges = {}, {}, {}
    for p in range(partitions):
        offset, ts, records = rng.randint(0, 50), 1_000, []
        for _ in range(rng.randint(0, 300)):
            offset += 1 if rng.random() < 0.8 else rng.randint(2, 5)  # gaps
            ts = ts + rng.choice([0, 0, 1, 3, 10]) if monotonic else rng.randint(0, 2_000)
            records.append(Rec(TOPIC, p, offset, ts, f"{p}:{offset}".encode()))
        logs[p] = records
        ends[p] = offset + rng.randint(1, 3)
        start = rng.randint(0, offset + 1)
        ranges[(TOPIC, p)] = (start, rng.randint(start, ends[p]))
    return logs, ends, ranges


class _Checked(MergedRead):
    """Checks the bound after every poll (the buffers' peak)."""

    def _fill(self) -> None:
        super()._fill()
        assert max(len(b) for b in self.buffers.values()) <= self.buffer
        assert self.buffered() <= len(self.ranges) * self.buffer


def _drain(read: MergedRead, chunk: int = PER_TURN) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for _ in range(100_000):
        if read.done:
            return out
        out += [(r.partition, r.offset) for r in read.take(chunk)]
    raise AssertionError(f"catch-up not done after 100000 turns, {len(out)} records out")


def _wanted(logs: dict[int, list[Rec]], ranges: dict[Any, tuple[int, int]]) -> list[Rec]:
    return [r for p, recs in logs.items() for r in recs if ranges[(TOPIC, p)][0] <= r.offset]


@pytest.mark.parametrize("buffer", [2, 3, 16])
@pytest.mark.parametrize("seed", range(8))
def test_the_streamed_merge_is_the_sorted_order_within_the_bound(seed: int, buffer: int) -> None:
    logs, ends, ranges = _logs(seed, partitions=1 + seed % 5, monotonic=True)
    consumers: list[FakeConsumer] = []

    def open_consumer() -> FakeConsumer:
        consumers.append(FakeConsumer(logs, ends, random.Random(seed * 31 + buffer)))
        return consumers[-1]

    read = _Checked(open_consumer, ranges, buffer=buffer)
    emitted = _drain(read)
    expected = sorted(
        (r for r in _wanted(logs, ranges) if r.offset < ranges[(TOPIC, r.partition)][1]),
        key=lambda r: (r.timestamp, r.partition, r.offset),
    )
    assert emitted == [(r.partition, r.offset) for r in expected]
    assert read.emitted == len(expected)
    assert read.max_buffered <= len(ranges) * buffer
    # one consumer, closed once the last record is out (none made for nothing to read)
    assert len(consumers) == (1 if expected or any(s < e for s, e in ranges.values()) else 0)
    assert all(c.closed for c in consumers)


@pytest.mark.parametrize("seed", range(6))
def test_with_timestamps_that_go_back_each_partition_keeps_its_offset_order(seed: int) -> None:
    logs, ends, ranges = _logs(seed + 100, partitions=3, monotonic=False)
    read = _Checked(lambda: FakeConsumer(logs, ends, random.Random(seed)), ranges, buffer=4)
    emitted = _drain(read, chunk=5)
    expected = {
        (r.partition, r.offset)
        for r in _wanted(logs, ranges)
        if r.offset < ranges[(TOPIC, r.partition)][1]
    }
    assert sorted(emitted) == sorted(expected) and len(emitted) == len(expected)
    for p in range(3):  # as a live read gives them
        mine = [o for q, o in emitted if q == p]
        assert mine == sorted(mine)


def test_a_suspended_read_goes_on_from_the_first_record_not_emitted() -> None:
    logs, ends, ranges = _logs(7, partitions=4, monotonic=True)
    whole = _drain(MergedRead(lambda: FakeConsumer(logs, ends, random.Random(1)), ranges, 8))
    assert len(whole) > 40
    consumers: list[FakeConsumer] = []

    def open_consumer() -> FakeConsumer:
        consumers.append(FakeConsumer(logs, ends, random.Random(len(consumers))))
        return consumers[-1]

    read = MergedRead(open_consumer, ranges, buffer=8)
    out: list[tuple[int, int]] = []
    while len(out) < len(whole) // 2:
        out += [(r.partition, r.offset) for r in read.take(PER_TURN)]
    read.suspend()  # the spout deactivated
    assert consumers[-1].closed and read.buffered() == 0
    out += _drain(read)
    assert out == whole
    assert len(consumers) == 2 and all(c.closed for c in consumers)


def test_a_partition_the_broker_never_serves_is_an_error_naming_it() -> None:
    clock = iter(range(0, 10_000, 100))
    silent = FakeConsumer({0: []}, {0: 5}, random.Random(0))
    silent.poll = lambda timeout_ms, max_records: {}  # type: ignore[method-assign]
    read = MergedRead(lambda: silent, {(TOPIC, 0): (2, 5)}, stall_s=120, clock=lambda: next(clock))
    with pytest.raises(KafkaRuntimeError, match=r"no record of \{'readings:0': \(2, 5\)\}"):
        for _ in range(10):
            read.take(PER_TURN)


def test_empty_ranges_are_done_without_a_consumer() -> None:
    def refuse() -> Any:
        raise AssertionError("no consumer for nothing to read")

    assert MergedRead(refuse, {}).done
    assert MergedRead(refuse, {(TOPIC, 0): (4, 4)}).take(PER_TURN) == []
    with pytest.raises(ValueError, match=r"catch-up range of readings:1 is \[5, 4\)"):
        MergedRead(refuse, {(TOPIC, 1): (5, 4)})


# -- the catch-up in the spout ---------------------------------------------------------------


class _Spout(SimpleNamespace):
    def to_values(self, topic: str, partition: int, offset: int, value: str, **kw: Any) -> Any:
        return [value, f"{topic}:{partition}:{offset}", kw.get("timestamp_ms")]

    def emit(self, values: list[Any]) -> None:
        self.emitted.append(values)


def _spout_with_catch_up(consumers: list[FakeConsumer]) -> _Spout:
    logs, ends, ranges = _logs(3, partitions=2, monotonic=True)

    def open_consumer() -> FakeConsumer:
        consumers.append(FakeConsumer(logs, ends, random.Random(5)))
        return consumers[-1]

    catch_up = CatchUp("changelog")
    catch_up.planned, catch_up.read = True, MergedRead(open_consumer, ranges, buffer=8)
    log = SimpleNamespace(info=lambda *a: None, error=lambda *a: None)
    return _Spout(catch_up=catch_up, emitted=[], stats={"caught_up": 0}, logger=log, consumer=None)


def test_the_spout_re_emits_a_few_marked_records_a_turn_and_closes_the_reader() -> None:
    consumers: list[FakeConsumer] = []
    spout = _spout_with_catch_up(consumers)
    turns = 0
    while spout.catch_up:
        before = len(spout.emitted)
        spout.catch_up.emit_some(spout)
        assert len(spout.emitted) - before <= PER_TURN
        turns += 1
    assert turns > 2 and spout.stats["caught_up"] == len(spout.emitted) > 0
    assert all(v[1].startswith(CATCHUP_MARK + TOPIC + ":") for v in spout.emitted)
    assert [v[0] for v in spout.emitted] == [v[1].split(":", 1)[1] for v in spout.emitted]
    assert consumers and all(c.closed for c in consumers)


def test_the_spout_s_close_and_deactivate_close_the_catch_up_consumer() -> None:
    consumers: list[FakeConsumer] = []
    spout = _spout_with_catch_up(consumers)
    spout.catch_up.emit_some(spout)
    assert consumers and not consumers[-1].closed
    ReliableKafkaSpout.deactivate(spout)  # type: ignore[arg-type]
    assert consumers[-1].closed and spout.catch_up  # records left: read again if activated
    spout.catch_up.emit_some(spout)
    assert len(consumers) == 2 and not consumers[-1].closed
    ReliableKafkaSpout.close(spout)  # type: ignore[arg-type]
    assert consumers[-1].closed and not spout.catch_up


# -- the origin and the ranges ---------------------------------------------------------------


def test_the_origin_record_round_trips_and_refuses_what_it_cannot_read() -> None:
    offsets = {("b", 1): 7, ("a", 0): 0, ("a", 3): 12}
    raw = encode_origin(offsets, 1_700_000_000_000)
    assert json.loads(raw) == {
        "format": "squall.changelog-origin/1",
        "offsets": [["a", 0, 0], ["a", 3, 12], ["b", 1, 7]],
        "written_ms": 1_700_000_000_000,
    }
    assert decode_origin(raw) == offsets
    with pytest.raises(ValueError, match=r"format is 'squall.changelog/1', expected 'squall"):
        decode_origin(json.dumps({"format": FORMAT, "resume_from_ms": 1, "state": {}}).encode())
    with pytest.raises(ValueError, match=r"offsets: expected \[topic, partition, offset\], got"):
        decode_origin(b'{"format":"squall.changelog-origin/1","offsets":[["a",0,-1]]}')
    with pytest.raises(ValueError, match="not JSON"):
        decode_origin(b"\xff")


def test_a_checkpoint_of_the_format_before_origins_still_reads_and_an_origin_is_not_one() -> None:
    # written by the code before origin records existed (value as it was on the wire)
    old = b'{"format":"squall.changelog/1","resume_from_ms":5000,"state":{"task":0}}'
    assert decode(old) == (5000, {"task": 0})
    origin = encode_origin({("r", 0): 3}, 1)
    good, bad = split_latest(
        {"g/trend/0-of-1": (4, old), "g/origin": (2, origin), "g/x": (9, None)}
    )
    assert list(good) == ["g/trend/0-of-1"] and good["g/trend/0-of-1"].resume_from_ms == 5000
    assert bad["g/origin"].reason == (
        "format is 'squall.changelog-origin/1', expected 'squall.changelog/1'"
    )


def test_the_ranges_never_start_before_the_origin() -> None:
    committed = {("r", 0): 100, ("r", 1): 50, ("r", 2): None, ("r", 3): 10, ("r", 4): 30}
    at_resume = {("r", 0): 20, ("r", 1): 40, ("r", 2): 0, ("r", 3): None, ("r", 4): 5}
    origin = {("r", 0): 60, ("r", 1): 10, ("r", 2): 0, ("r", 3): 0}  # r:4 came later
    assert catch_up_ranges(committed, at_resume, origin) == {
        ("r", 0): (60, 100),  # the resume point is before the origin: from the origin
        ("r", 1): (40, 50),
        ("r", 4): (5, 30),  # not in the origin: not bounded
    }
    assert catch_up_ranges(committed, at_resume, None)[("r", 0)] == (20, 100)
    assert catch_up_ranges({("r", 0): 60}, {("r", 0): 0}, {("r", 0): 60}) == {}

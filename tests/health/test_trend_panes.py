"""PaneTrendBolt: TrendBolt's records from per-pane counters, for unanchored input.

The same records as TrendBolt on the same random streams (disorder within the lag, late
alerts, replays of a Kafka record's alerts with the record's event time, first deliveries
overtaken by later offsets of their partition, several rules, gaps that skip windows, overload
switching on and off), each alert acked on arrival, none stored, and a state bounded by
rules x panes x partitions, never by alerts."""

from __future__ import annotations

import random
from collections import namedtuple
from dataclasses import dataclass
from typing import Any

import pytest
from pystorm.component import Tuple

from bolts.trend import PaneTrendBolt, TrendBolt
from health_core import trend_panes
from health_core.report import ALERT_FIELDS
from health_core.trend_panes import PaneCounts
from squall.realtime.context import Overload, RealtimeContext
from squall.realtime.deadlines import Deadlines, StreamDeadline
from squall.realtime.metrics import Metrics
from squall.testing import BoltHarness, Emission

T = 1_700_000_000_000  # a multiple of 10 s: window bounds read as T + offset
A, B, C = "weight_kg > 80", "bmi > 35", "age < 18"
SOURCES = {"threshold": {"default": list(ALERT_FIELDS)}}
LAG_MS = 1_000  # TrendBolt's allowed disorder
# named values, as Storm delivers them (make_tuple builds the type per tuple: slow here)
AlertValues = namedtuple("AlertValues", ALERT_FIELDS)  # type: ignore[misc]


@dataclass(frozen=True)
class Delivery:
    """One alert as the bolt receives it (or a tick), and whether the runner is overloaded."""

    rule: str
    ts: int
    source: str | None = None
    overloaded: bool = False
    tick_after: bool = False


class Run:
    """A trend bolt in a harness, with a real-time context whose overload the stream flips."""

    def __init__(self, bolt_cls: type[TrendBolt], window_ms: int, slide_ms: int) -> None:
        conf = {
            **TrendBolt.config,
            "health.windows.window.secs": window_ms / 1000,
            "health.windows.slide.secs": slide_ms / 1000,
            "health.windows.approximate.every": 4,
        }
        self.h = BoltHarness(bolt_cls, conf=conf, component="trend", sources=SOURCES)
        self.overload, self.metrics = Overload(), Metrics()
        deadline = StreamDeadline("trend", "default", 1.0, "firm", 3, 4, frozenset({"imprecise"}))
        self.h.bolt.realtime = RealtimeContext(
            "trend", Deadlines((deadline,)), self.metrics, self.overload
        )
        self.sent: list[str] = []
        self.acked_on_arrival: list[str] = []
        self.ticks = 0

    def send(self, deliveries: list[Delivery], overload: bool = True) -> None:
        for i, d in enumerate(deliveries):
            self.overload.active = overload and d.overloaded
            name = f"d{len(self.sent)}"
            self.sent.append(name)
            reading = {"id": i} if d.source is None else {"id": i, "source": d.source}
            mark = len(self.h.acked)
            self.h.process(
                Tuple(
                    name, "threshold", "default", 1, AlertValues._make((d.rule, i, d.ts, reading))
                )
            )
            if name in self.h.acked[mark:]:
                self.acked_on_arrival.append(name)
            if d.tick_after:
                self.tick()

    def tick(self) -> None:
        self.h.tick()
        self.ticks += 1
        self.after_tick()

    def after_tick(self) -> None:
        """Called after every tick (the state checks hook in here)."""

    def close(self, deliveries: list[Delivery], window_ms: int) -> None:
        """An alert far ahead moves event time past every window holding ``deliveries``."""
        far = max(d.ts for d in deliveries) + 2 * window_ms + LAG_MS
        self.send([Delivery(C, far, tick_after=True)], overload=False)

    def emitted(self) -> list[tuple[str, list[Any]]]:
        return [(e.stream, e.values) for e in self.h.emitted]

    def records(
        self, emitted: list[Emission] | None = None
    ) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """(rule, start, end) -> (count, trend, previous, precision, error_bound)."""
        out = {}
        for e in self.h.emitted if emitted is None else emitted:
            if e.stream == "default":
                rule, start, end, *rest = e.values
                out[rule, start, end] = tuple(rest)
        return out


PARTITIONS = 3
FOREIGN = "synthetic-"  # a source not of Kafka's form: remembered whole


def random_stream(seed: int, n: int = 3000) -> list[Delivery]:
    """Three rules; readings from 3 Kafka partitions, each reading raising 1-2 alerts that name
    its record "health.readings:<partition>:<offset>" (offsets in order per partition, the
    alerts out of order: disorder up to 0.9 s, within the lag); 2% of alerts 1.5-6 s behind
    (late once a tick has passed them); replays of earlier readings' alerts with their
    original's event time (as Kafka's timestamp or the payload's ts gives them), before or
    after later offsets of their partition, some of them late by then; a first delivery held
    back until after later offsets (a failed record the spout replays alone); some alerts
    without a source and a few with a source not of Kafka's form; overload flipping; ticks at
    random; now and then a gap longer than a window, so windows are skipped."""
    rnd = random.Random(seed)
    t, overloaded = T, rnd.random() < 0.5
    out: list[Delivery] = []
    sourced: list[Delivery] = []
    held: list[Delivery] = []  # first deliveries overtaken by later offsets of their partition
    offsets = [0] * PARTITIONS
    for i in range(n):
        t += rnd.choice((0, 5, 10, 20, 40))
        if rnd.random() < 0.003:
            t += rnd.randint(10_000, 30_000)  # a quiet stretch: empty windows are skipped
        if rnd.random() < 0.01:
            overloaded = not overloaded
        tick = rnd.random() < 0.08
        if held and rnd.random() < 0.05:
            out.append(held.pop(rnd.randrange(len(held))))
            continue
        if sourced and rnd.random() < 0.1:
            original = rnd.choice(sourced[-400:])
            out.append(Delivery(original.rule, original.ts, original.source, overloaded, tick))
            continue
        jitter = rnd.randint(0, 900)
        if rnd.random() < 0.02:
            jitter = rnd.randint(1_500, 6_000)  # behind the lag: late after the next tick
        kind = rnd.random()
        if kind < 0.15:
            source = None
        elif kind < 0.18:
            source = f"{FOREIGN}{i}"
        else:
            partition = rnd.randrange(PARTITIONS)
            source = f"health.readings:{partition}:{offsets[partition]}"
            offsets[partition] += rnd.choice((1, 1, 1, 2, 40))  # gaps: readings without alerts
        rules = rnd.sample((A, B, C), rnd.choice((1, 1, 1, 2)))
        for rule in rules:
            d = Delivery(rule, t - jitter, source, overloaded, tick and rule == rules[-1])
            if source is not None:
                sourced.append(d)
            if source is not None and rnd.random() < 0.03:
                held.append(d)  # delivered for the first time later, out of order
            else:
                out.append(d)
    return out + held


# (window, slide): the default, panes shorter than the slide, tumbling, a 3-pane window
WINDOWS = [(10_000, 2_000), (5_000, 2_000), (4_000, 4_000), (6_000, 4_000), (10_000, 3_000)]


@pytest.mark.parametrize(("window_ms", "slide_ms"), WINDOWS)
@pytest.mark.parametrize("seed", range(5))
def test_the_same_records_as_trend_bolt(window_ms: int, slide_ms: int, seed: int) -> None:
    stream = random_stream(seed)
    # the stream does exercise the de-duplication: replays, and first deliveries of a
    # partition's offsets after later ones (which "highest offset counted" would drop)
    seen: set[tuple[str, str]] = set()
    highest: dict[tuple[str, str], int] = {}
    replays = overtaken = 0
    for d in stream:
        if d.source is None or d.source.startswith(FOREIGN):
            continue
        partition, _, offset = d.source.rpartition(":")
        if (d.rule, d.source) in seen:
            replays += 1
        elif int(offset) < highest.get((d.rule, partition), -1):
            overtaken += 1
        seen.add((d.rule, d.source))
        highest[d.rule, partition] = max(highest.get((d.rule, partition), -1), int(offset))
    assert replays > 200 and overtaken > 20
    panes = Run(PaneTrendBolt, window_ms, slide_ms)
    exact = Run(TrendBolt, window_ms, slide_ms)
    sampled = Run(TrendBolt, window_ms, slide_ms)
    panes.send(stream)
    exact.send(stream, overload=False)
    sampled.send(stream)
    for run in (panes, exact, sampled):
        run.close(stream, window_ms)

    # Every record and late alert, in order, as TrendBolt's out of overload: the pane bolt
    # counts exactly in overload too (nothing to save by sampling: see its docstring).
    assert panes.emitted() == exact.emitted()
    late = [v for s, v in panes.emitted() if s == "late"]
    assert len(late) > 10  # the stream does exercise late routing
    assert len(panes.records()) > 50
    # Against TrendBolt in overload: the same windows and rules; its estimates are within
    # their error bound of the pane bolt's counts, and its exact counts are equal.
    records, estimates = panes.records(), sampled.records()
    assert records.keys() == estimates.keys()
    assert any(rest[3] < 1.0 for rest in estimates.values())  # it did sample somewhere
    for key, (count, _trend, _previous, precision, bound) in estimates.items():
        assert records[key][3:] == (1.0, 0)
        assert abs(records[key][0] - count) <= bound
        if precision == 1.0:
            assert records[key][0] == count
    assert panes.metrics.stream("trend.default").shed.get("imprecise", 0) == 0
    assert panes.metrics.stream("trend.default").precision == 1.0


@pytest.mark.parametrize(("window_ms", "slide_ms"), WINDOWS)
def test_every_alert_is_acked_on_arrival_and_none_is_held(window_ms: int, slide_ms: int) -> None:
    stream = random_stream(7)
    run = Run(PaneTrendBolt, window_ms, slide_ms)
    bolt = run.h.bolt
    counter: PaneCounts = bolt.panes
    rules = 3
    # live panes after a tick lie in (watermark - window, watermark + lag]
    live_panes = -(-(window_ms + LAG_MS) // counter.pane_ms) + 1
    most = {"cells": 0, "panes": 0, "dedup": 0}
    # de-dup memory: per (rule, live pane, partition) at most 2 bitmap chunks here (a pane
    # spans fewer than CHUNK_OFFSETS offsets of a partition, about 400 at most, so it straddles
    # at most one chunk boundary), whatever the number of alerts
    chunk_bytes = trend_panes.CHUNK_OFFSETS // 8
    dedup_bound = rules * live_panes * PARTITIONS * 2 * chunk_bytes

    def check() -> None:
        assert len(bolt.windows) == 0  # no tuple stored, ever
        assert counter.panes() <= live_panes
        assert counter.cells() <= rules * live_panes
        assert counter.dedup_bytes() <= dedup_bound
        most["cells"] = max(most["cells"], counter.cells())
        most["panes"] = max(most["panes"], counter.panes())
        most["dedup"] = max(most["dedup"], counter.dedup_bytes())

    run.after_tick = check  # type: ignore[method-assign]
    run.send(stream)
    run.close(stream, window_ms)
    assert run.ticks > 100 and most["panes"] >= window_ms // counter.pane_ms
    # every alert acked as it arrived, the late ones after their report; none failed
    assert run.acked_on_arrival == run.sent
    assert run.h.failed == []
    late = [e for e in run.h.emitted if e.stream == "late"]
    assert late and all(len(e.anchors) == 1 for e in late)  # anchored to the late alert
    # trends are not anchored: their alerts are acked already (the bolt's contract)
    assert all(e.anchors == [] for e in run.h.emitted if e.stream == "default")
    assert most["dedup"] >= chunk_bytes * PARTITIONS  # the bitmaps were in use


# -- the counter alone: replays within a pane, out of order ------------------------------
#
# Window 6 s sliding every 2 s (panes of 2 s); one rule; partition 0 of "r". Offset 5's first
# delivery fails before it is counted, 6 is counted, then the spout replays 5 alone; 6's tree
# fails downstream of the trend (its alert was counted) and 6 comes again; after a rebalance
# 4-6 come again from the last commit. Each record's event time is its Kafka timestamp: the
# same on every delivery.
#
#   rule A, pane (s)   (0,2]                  (2,4]
#   deliveries         6 5 5 6 . 5 6          7 (and 7 of r:1, s:0) 4 . 4
#   counted            6 5                    7, r:1:7, s:0:7, 4
#   (offset 4's producer stamped it later than 5 and 6: timestamps need not follow offsets)
#
#   window    (-4,2]   (-2,4]   (0,6]   (2,8]
#   A           2        6        6       4
#   B           1        1        1       -      (record 5's alert of rule B)
def test_a_replay_counts_once_and_an_overtaken_first_delivery_counts() -> None:
    counts = PaneCounts(6_000, 2_000)
    ts = {4: T + 3_000, 5: T + 1_000, 6: T + 1_500, 7: T + 2_500}
    assert counts.add(A, "r:0:6", ts[6])
    assert counts.add(A, "r:0:5", ts[5])  # below the highest counted, yet a first delivery
    assert not counts.add(A, "r:0:5", ts[5])  # replayed: already counted
    assert not counts.add(A, "r:0:6", ts[6])
    assert counts.add(A, "r:0:7", ts[7])
    assert counts.add(A, "r:1:7", ts[7])  # the same offset in another partition: another record
    assert counts.add(A, "s:0:7", ts[7])  # ... and in another topic
    assert counts.add(A, "r:0:4", ts[4])
    for offset in (4, 5, 6):  # the rebalance's re-reads
        assert not counts.add(A, f"r:0:{offset}", ts[offset])
    assert counts.add(B, "r:0:5", ts[5])  # the same record's alert of another rule
    due = counts.advance(T + 8_100)
    assert [(w.start_ms - T, w.end_ms - T, w.counts) for w in due] == [
        (-4_000, 2_000, {A: 2, B: 1}),
        (-2_000, 4_000, {A: 6, B: 1}),
        (0, 6_000, {A: 6, B: 1}),
        (2_000, 8_000, {A: 4}),
    ]


def test_offsets_far_apart_and_at_chunk_bounds_are_told_apart() -> None:
    counts = PaneCounts(10_000, 2_000)
    edge = trend_panes.CHUNK_OFFSETS
    offsets = [0, 7, 8, edge - 1, edge, edge + 1, 2**40 + 3]
    for offset in offsets:
        assert counts.add(A, f"r:0:{offset}", T + 1)
    for offset in offsets:
        assert not counts.add(A, f"r:0:{offset}", T + 1)
    assert counts.add(A, "r:0:9", T + 1)
    (window,) = counts.advance(T + 2_001)
    assert window.counts == {A: len(offsets) + 1}
    # one chunk each for [0, CHUNK), [CHUNK, 2 CHUNK) and the far offset: none in between
    assert counts.dedup_bytes() == 3 * edge // 8


def test_sources_not_of_kafkas_form_are_remembered_whole_per_pane() -> None:
    counts = PaneCounts(4_000, 2_000)
    for source in ("synthetic-1", "synthetic-1", "r:x", "r:0:", ":5", "r:x"):
        counts.add(A, source, T + 1)
    # "r:x" has no offset, "r:0:" an empty one and ":5" no partition: kept as whole strings
    assert counts.foreign_sources() == 4
    assert counts.dedup_bytes() == 0
    (window,) = counts.advance(T + 2_001)
    assert window.counts == {A: 4}
    counts.advance(T + 10_000)
    assert (counts.foreign_sources(), counts.panes(), counts.cells()) == (0, 0, 0)

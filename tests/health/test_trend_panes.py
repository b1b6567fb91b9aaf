"""PaneTrendBolt: TrendBolt's records from per-pane counters, for unanchored input.

The same records as TrendBolt on the same random streams (disorder within the lag, late
alerts, replays of a reading into its own or another pane, several rules, gaps that skip
windows, overload switching on and off), each alert acked on arrival, none stored, and a
state bounded by rules x panes, never by alerts."""

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
from squall.windows.spec import WindowCapacityError

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


def random_stream(seed: int, n: int = 3000) -> list[Delivery]:
    """Three rules; disorder up to 0.9 s (within the lag); 2% of alerts 1.5-6 s behind (late
    once a tick has passed them); replays of sourced alerts with their original's timestamp
    (same pane) or a later one (possibly another pane, possibly before the original's pane
    when it arrived with more disorder); alerts without a source; overload flipping; ticks at
    random; now and then a gap longer than a window, so windows are skipped."""
    rnd = random.Random(seed)
    t, overloaded = T, rnd.random() < 0.5
    out: list[Delivery] = []
    sourced: list[Delivery] = []
    for i in range(n):
        t += rnd.choice((0, 5, 10, 20, 40))
        if rnd.random() < 0.003:
            t += rnd.randint(10_000, 30_000)  # a quiet stretch: empty windows are skipped
        if rnd.random() < 0.01:
            overloaded = not overloaded
        tick = rnd.random() < 0.08
        jitter = rnd.randint(0, 900)
        if sourced and rnd.random() < 0.1:
            original = rnd.choice(sourced[-400:])
            ts = original.ts if rnd.random() < 0.5 else t - jitter
            out.append(Delivery(original.rule, ts, original.source, overloaded, tick))
            continue
        if rnd.random() < 0.02:
            jitter = rnd.randint(1_500, 6_000)  # behind the lag: late after the next tick
        rule = rnd.choices((A, B, C), weights=(6, 3, 1))[0]
        source = f"health.readings:0:{i}" if rnd.random() < 0.8 else None
        d = Delivery(rule, t - jitter, source, overloaded, tick)
        out.append(d)
        if source is not None:
            sourced.append(d)
    return out


# (window, slide): the default, panes shorter than the slide, tumbling, a 3-pane window
WINDOWS = [(10_000, 2_000), (5_000, 2_000), (4_000, 4_000), (6_000, 4_000), (10_000, 3_000)]


@pytest.mark.parametrize(("window_ms", "slide_ms"), WINDOWS)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("forget_per_tick", [trend_panes.FORGET_PER_TICK, 0])
def test_the_same_records_as_trend_bolt(
    window_ms: int, slide_ms: int, seed: int, forget_per_tick: int, monkeypatch: Any
) -> None:
    # 0: sources of forgotten panes are let go only a few per alert, so replays meet them
    monkeypatch.setattr(trend_panes, "FORGET_PER_TICK", forget_per_tick)
    stream = random_stream(seed)
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
    most = {"cells": 0, "panes": 0}

    def check() -> None:
        assert len(bolt.windows) == 0  # no tuple stored, ever
        assert counter.panes() <= live_panes
        assert counter.cells() <= rules * live_panes
        most["cells"] = max(most["cells"], counter.cells())
        most["panes"] = max(most["panes"], counter.panes())

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
    # dedup memory: the sources of the live windows only (about one window of them)
    assert counter.sources() < len(stream) * (window_ms + LAG_MS) // 30_000


# -- the counter alone: replays across panes ---------------------------------------------
#
# Window 6 s sliding every 2 s (panes of 2 s); one rule; one reading, source "s", delivered
# in pane (0, 2] and replayed into panes (4, 6] and (2, 4] (in that order, with disorder),
# then again into (6, 8] once (0, 2] has left every window to come.
#
#   pane (s)       (0,2]  (2,4]  (4,6]  (6,8]
#   "s" occurs       x      x      x      x
#   window          count
#   (-4, 2]           1     the original
#   (-2, 4]           1     original and a replay: once
#   (0, 6]            1     watermark 6.1: (0, 2] is in no window to come, forgotten
#   (2, 8]            1     three replays, no original: still once
#   (4, 10]           1
#   (6, 12]           1     watermark 12.1: every pane forgotten
def test_a_source_counts_once_per_window_across_panes() -> None:
    counts = PaneCounts(6_000, 2_000, max_sources=10)
    counts.add(A, "s", T + 1_000)
    counts.add(A, "s", T + 5_000)
    counts.add(A, "s", T + 3_000)  # before the pane of the previous replay
    counts.add(A, "s", T + 3_500)  # the same pane again: nothing new
    due = counts.advance(T + 6_100)
    assert [(w.start_ms - T, w.end_ms - T, w.counts) for w in due] == [
        (-4_000, 2_000, {A: 1}),
        (-2_000, 4_000, {A: 1}),
        (0, 6_000, {A: 1}),
    ]
    assert (counts.sources(), counts.panes()) == (1, 2)
    counts.add(A, "s", T + 7_000)
    due = counts.advance(T + 12_100)
    assert [(w.start_ms - T, w.end_ms - T, w.counts) for w in due] == [
        (2_000, 8_000, {A: 1}),
        (4_000, 10_000, {A: 1}),
        (6_000, 12_000, {A: 1}),
    ]
    assert (counts.sources(), counts.panes(), counts.cells()) == (0, 0, 0)


def test_sources_beyond_the_cap_are_refused() -> None:
    counts = PaneCounts(10_000, 2_000, max_sources=2)
    counts.add(A, "r:0:1", T + 1)
    counts.add(A, "r:0:2", T + 2)
    counts.add(A, "r:0:1", T + 3_000)  # a replay of a known source: no new entry
    counts.add(A, None, T + 4)  # no source: nothing to remember
    with pytest.raises(WindowCapacityError, match="max_sources=2"):
        counts.add(A, "r:0:3", T + 5)

"""TrendBolt's approximate mode (the ``imprecise`` overload policy): 1 alert in r per rule and
pane is stored, the rest acked at once. Every estimated count stays within its record's
``error_bound`` of the exact count, computed here from the raw input by an oracle that shares
no code with the bolt; across switches between modes and replays. Precision and shed alerts
are reported through the real-time context; the saving is counted in stored tuples."""

from __future__ import annotations

import random
import re
from collections import Counter, namedtuple
from dataclasses import dataclass

import pytest
from pystorm.component import Tuple

from bolts.trend import TrendBolt
from health_core.config import HealthConfig, HealthConfigError
from health_core.report import ALERT_FIELDS
from health_core.trend_sample import TrendSampler
from squall.realtime.context import Overload, RealtimeContext
from squall.realtime.deadlines import Deadlines, StreamDeadline
from squall.realtime.metrics import Metrics
from squall.testing import BoltHarness

T = 1_700_000_000_000  # a multiple of 10 s: window bounds read as T + offset
A, B, C = "weight_kg > 80", "bmi > 35", "age < 18"
SOURCES = {"threshold": {"default": list(ALERT_FIELDS)}}
WINDOW_MS, SLIDE_MS, LAG_MS = 10_000, 2_000, 1_000  # TrendBolt's defaults
# named values, as Storm delivers them (make_tuple builds the type per tuple: too slow here)
AlertValues = namedtuple("AlertValues", ALERT_FIELDS)  # type: ignore[misc]


@dataclass(frozen=True)
class Delivery:
    """One alert as TrendBolt receives it, and whether the runner is in overload then."""

    rule: str
    ts: int
    source: str | None = None
    overloaded: bool = False


class Run:
    """TrendBolt in a harness, with a real-time context whose overload the test flips."""

    def __init__(self, every: int = 4, imprecise: bool = True) -> None:
        conf = {**TrendBolt.config, "health.windows.approximate.every": every}
        self.h = BoltHarness(TrendBolt, conf=conf, component="trend", sources=SOURCES)
        self.overload, self.metrics = Overload(), Metrics()
        policies = frozenset({"imprecise"} if imprecise else {"late"})
        deadline = StreamDeadline("trend", "default", 1.0, "firm", 3, 4, policies)
        self.h.bolt.realtime = RealtimeContext(
            "trend", Deadlines((deadline,)), self.metrics, self.overload
        )
        self.stored = 0  # tuples the bolt put in its windows: the work it does per window
        add = self.h.bolt.windows.add

        def counting_add(item: object, ts: int) -> None:
            add(item, ts)
            self.stored += 1

        self.h.bolt.windows.add = counting_add
        self.acked_on_arrival: list[str] = []
        self.sent = 0

    def send(self, deliveries: list[Delivery], tick_every: int = 10) -> None:
        for i, d in enumerate(deliveries):
            self.overload.active = d.overloaded
            reading = {"id": i} if d.source is None else {"id": i, "source": d.source}
            self.sent += 1
            name = f"d{self.sent}"  # a tuple id, unique per delivery as under Storm
            mark = len(self.h.acked)
            values = AlertValues(d.rule, i, d.ts, reading)
            self.h.process(Tuple(name, "threshold", "default", 1, values))
            if name in self.h.acked[mark:]:
                self.acked_on_arrival.append(name)
            if i % tick_every == tick_every - 1:
                self.h.tick()

    def close_windows(self, deliveries: list[Delivery]) -> None:
        """An alert far ahead moves event time past every window holding ``deliveries``."""
        self.overload.active = False
        far = max(d.ts for d in deliveries) + WINDOW_MS + 2 * SLIDE_MS + LAG_MS
        self.send([Delivery(C, far)], tick_every=1)

    def records(self) -> dict[tuple[str, int, int], tuple[int, str, int, float, int]]:
        """(rule, start, end) -> (count, trend, previous, precision, error_bound)."""
        out = {}
        for e in self.h.emitted:
            if e.stream == "default":
                rule, start, end, *rest = e.values
                out[rule, start, end] = tuple(rest)
        return out

    @property
    def shed(self) -> int:
        return self.metrics.stream("trend.default").shed["imprecise"]

    @property
    def precision(self) -> float:
        return self.metrics.stream("trend.default").precision


def exact_counts(deliveries: list[Delivery], start: int, end: int) -> Counter[str]:
    """The oracle: alerts per rule in (start, end], a reading's ``source`` counted once."""
    counts: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for d in deliveries:
        if start < d.ts <= end:
            if d.source is not None:
                if (d.rule, d.source) in seen:
                    continue
                seen.add((d.rule, d.source))
            counts[d.rule] += 1
    return counts


# -- a timeline: exact -> sampled -> exact ---------------------------------------------------
#
# Rule A fires every 100 ms from 0.05 s to 14.95 s (150 alerts, 20 per 2 s pane), r = 4. The
# runner is in overload for the alerts in (5 s, 9 s]: panes (4, 6] and (8, 10] are half exact,
# half sampled (10 sampled alerts: slots 0, 4, 8 kept, weighing 3 + 4 + 4 = 11), pane (6, 8]
# is all sampled (20: slots 0, 4, 8, 12, 16 kept, 3 + 4 * 4 = 19).
#
#   pane (s)    (0,2] (2,4] (4,6] (6,8] (8,10] (10,12] (12,14] (14,16]
#   exact         20    20    20    20    20     20      20      10
#   estimate      20    20    21    19    21     20      20      10
#   sampled?       -     -     x     x     x      -       -       -
#
#   window      exact estimate  D  error_bound = (4 // 2) * D   precision
#   (-8, 2]       20     20     0      0                         1.0
#   (-6, 4]       40     40     0      0                         1.0
#   (-4, 6]       60     61     1      2                         0.25
#   (-2, 8]       80     80     2      4                         0.25
#   (0, 10]      100    101     3      6                         0.25
#   (2, 12]      100    101     3      6                         0.25
#   (4, 14]      100    101     3      6                         0.25
#   (6, 16]       90     90     2      4                         0.25
#   (8, 18]       70     71     1      2                         0.25
#   (10, 20]      50     50     0      0                         1.0
#   (12, 22]      30     30     0      0                         1.0
#   (14, 24]      10     10     0      0                         1.0
SWITCH_TIMELINE = [
    Delivery(A, T + 50 + 100 * k, overloaded=5_000 < 50 + 100 * k <= 9_000) for k in range(150)
]
SWITCH_EXPECTED = [
    # start, end, count, trend, previous, precision, error_bound
    (-8, 2, 20, "rising", 0, 1.0, 0),
    (-6, 4, 40, "rising", 20, 1.0, 0),
    (-4, 6, 61, "rising", 40, 0.25, 2),
    (-2, 8, 80, "rising", 61, 0.25, 4),
    (0, 10, 101, "rising", 80, 0.25, 6),
    (2, 12, 101, "steady", 101, 0.25, 6),
    (4, 14, 101, "steady", 101, 0.25, 6),
    (6, 16, 90, "falling", 101, 0.25, 4),
    (8, 18, 71, "falling", 90, 0.25, 2),
    (10, 20, 50, "falling", 71, 1.0, 0),
    (12, 22, 30, "falling", 50, 1.0, 0),
    (14, 24, 10, "falling", 30, 1.0, 0),
]


def test_a_window_spanning_exact_sampled_exact_stays_within_its_bound() -> None:
    run = Run(every=4)
    run.send(SWITCH_TIMELINE)
    run.close_windows(SWITCH_TIMELINE)
    got = [
        ((start - T) // 1000, (end - T) // 1000, *rest)
        for (rule, start, end), rest in run.records().items()
        if rule == A
    ]
    assert got == SWITCH_EXPECTED
    for start, end, count, _trend, _prev, _precision, bound in got:
        exact = exact_counts(SWITCH_TIMELINE, T + start * 1000, T + end * 1000)[A]
        assert abs(count - exact) <= bound


def test_precision_and_shed_alerts_are_reported_through_the_context() -> None:
    run = Run(every=4)
    overloaded = [d for d in SWITCH_TIMELINE if d.overloaded]
    before = SWITCH_TIMELINE[: SWITCH_TIMELINE.index(overloaded[0])]
    run.send(before)
    assert (run.precision, run.shed) == (1.0, 0)
    run.send(overloaded)
    # 40 sampled alerts in 3 panes of 10, 20 and 10: 3 + 5 + 3 kept, 29 acked at once
    assert (run.precision, run.shed) == (0.25, 29)
    assert len(run.acked_on_arrival) == 29
    run.overload.active = False
    run.h.tick()  # out of overload: exact again, said before any alert arrives
    assert run.precision == 1.0
    # a sampled-out alert is in no window: no trend is anchored to it
    anchored = {a for e in run.h.emitted for a in e.anchors}
    assert anchored.isdisjoint(run.acked_on_arrival)


def test_the_approximate_mode_stores_fewer_tuples() -> None:
    exact, sampled = Run(every=4), Run(every=4)
    exact.send([Delivery(d.rule, d.ts) for d in SWITCH_TIMELINE])
    sampled.send(SWITCH_TIMELINE)
    assert (exact.stored, exact.shed) == (150, 0)
    assert (sampled.stored, sampled.shed) == (150 - 29, 29)
    all_sampled = Run(every=4)
    all_sampled.send([Delivery(A, d.ts, overloaded=True) for d in SWITCH_TIMELINE])
    # 7 full panes of 20 (5 kept each) and one of 10 (3 kept): 38 of 150 stored
    assert (all_sampled.stored, all_sampled.shed) == (38, 112)


def test_without_the_imprecise_policy_overload_changes_nothing() -> None:
    run = Run(every=4, imprecise=False)
    run.send(SWITCH_TIMELINE)
    run.close_windows(SWITCH_TIMELINE)
    assert (run.stored, run.shed, run.precision) == (151, 0, 1.0)
    assert {rest[3:] for rest in run.records().values()} == {(1.0, 0)}


# -- random streams against the oracle -------------------------------------------------------


def random_stream(seed: int, n: int = 2500) -> list[Delivery]:
    """Alerts of three rules with disorder (up to 0.9 s, within the 1 s lag, so none is late),
    overload switching on and off, alerts without a source, and replays of sourced ones: with
    their original's timestamp (a self-describing reading) or a later one (a course-form
    reading takes its parse time), sometimes in another pane of the same windows."""
    rnd = random.Random(seed)
    t, overloaded = T, rnd.random() < 0.5
    out: list[Delivery] = []
    sourced: list[Delivery] = []
    for i in range(n):
        t += rnd.choice((0, 5, 10, 20, 40))
        if rnd.random() < 0.01:
            overloaded = not overloaded
        jitter = rnd.randint(0, 900)
        if sourced and rnd.random() < 0.08:
            original = rnd.choice(sourced[-300:])
            same_ts = original.ts >= t - 900 and rnd.random() < 0.5
            ts = original.ts if same_ts else t - jitter
            out.append(Delivery(original.rule, ts, original.source, overloaded))
            continue
        rule = rnd.choices((A, B, C), weights=(6, 3, 1))[0]
        source = f"health.readings:0:{i}" if rnd.random() < 0.8 else None
        d = Delivery(rule, t - jitter, source, overloaded)
        out.append(d)
        if source is not None:
            sourced.append(d)
    return out


@pytest.mark.parametrize("every", [2, 3, 4, 7])
@pytest.mark.parametrize("seed", range(4))
def test_estimates_stay_within_their_error_bound_of_exact_counts(every: int, seed: int) -> None:
    stream = random_stream(seed)
    run, reference = Run(every=every), Run(every=every)
    run.send(stream)
    run.close_windows(stream)
    reference.send([Delivery(d.rule, d.ts, d.source) for d in stream])  # never overloaded
    reference.close_windows(stream)
    assert [e for e in run.h.emitted if e.stream == "late"] == []

    records, exact_records = run.records(), reference.records()
    # the same windows and rules as an exact run: only counts (and their accuracy) differ
    assert records.keys() == exact_records.keys()
    estimated = 0
    for (rule, start, end), (count, _trend, _prev, precision, bound) in records.items():
        exact = exact_counts(stream, start, end)[rule]
        assert exact_records[rule, start, end][0] == exact  # the oracle agrees with exact mode
        assert abs(count - exact) <= bound, (rule, start - T, end - T, count, exact, bound)
        if precision == 1.0:
            assert (bound, count) == (0, exact)
        else:
            assert precision == 1 / every and bound > 0
            estimated += 1
    assert estimated > len(records) // 4  # the stream does spend time in overload
    # a count is off somewhere: the mode really estimates
    assert any(rest[0] != exact_records[key][0] for key, rest in records.items())
    # the work: fewer tuples in the windows, every one left out counted as shed
    assert run.stored + run.shed == reference.stored
    # the sampler forgets panes that left every window: its state stays within a window's worth
    assert len(run.h.bolt.sampler) <= WINDOW_MS // SLIDE_MS + 2
    overloaded = sum(d.overloaded for d in stream)
    assert run.shed > overloaded * (1 - 1 / every) * 0.8


# -- the sampler alone --------------------------------------------------------------------


@pytest.mark.parametrize("every", range(1, 10))
def test_one_pane_estimate_is_within_half_the_sampling_interval(every: int) -> None:
    """The arithmetic of the bound, exhaustively: n sampled alerts in one pane give an estimate
    within [-c, r - 1 - c] of n (c = (r - 1) // 2), so within r // 2."""
    c = (every - 1) // 2
    for n in range(1, 80):
        sampler = TrendSampler(every, WINDOW_MS, SLIDE_MS)
        estimate = 0
        for i in range(n):
            item = object()
            a = sampler.admit(A, f"s{i}", T + 1, sampled=True)
            sampler.record(a, item)
            if a.store:
                estimate += sampler.weight(A, T + 1, item)
        assert -c <= estimate - n <= every - 1 - c
        assert abs(estimate - n) <= every // 2
        accuracy = sampler.accuracy(T - WINDOW_MS, T + SLIDE_MS)
        assert accuracy == ({} if every == 1 else {A: (1 / every, every // 2)})


def test_replays_take_no_slot_and_a_cross_pane_replay_of_a_dropped_alert_adds_one() -> None:
    s = TrendSampler(4, WINDOW_MS, SLIDE_MS)
    items = [object() for _ in range(4)]
    first = s.admit(A, "r:0:1", T + 100, sampled=True)  # slot 0: kept, weight 4 - 1
    s.record(first, items[0])
    second = s.admit(A, "r:0:2", T + 200, sampled=True)  # slot 1: sampled out
    s.record(second, items[1])
    assert (first.store, first.weight, second.store) == (True, 3, False)
    same_pane = s.admit(A, "r:0:2", T + 200, sampled=False)  # counted by the sample already
    s.record(same_pane, items[2])
    assert (same_pane.store, same_pane.weight, same_pane.slot) == (True, 0, None)
    assert s.weight(A, T + 200, items[2]) == 0
    other_pane = s.admit(A, "r:0:2", T + 2_500, sampled=True)  # parse time: the next pane
    s.record(other_pane, items[3])
    assert (other_pane.store, other_pane.weight, other_pane.repeats_dropped) == (True, 1, T + 2_000)
    # (0, 10] holds both panes: 2 alerts estimated 3 + 1 = 4, bound 2 * 1 pane + 1 replay
    assert s.accuracy(T, T + 10_000) == {A: (0.25, 3)}
    # (2, 12] holds the replay's pane only: no sampled alert there, so exact (it counts 1)
    assert s.accuracy(T + 2_000, T + 12_000) == {}
    s.expire(T + 2_000)  # the first pane leaves every window: its sources are forgotten
    assert len(s) == 1
    again = s.admit(A, "r:0:1", T + 2_600, sampled=False)
    assert (again.weight, again.repeats_dropped) == (1, None)


def test_approximate_every_is_a_windows_setting() -> None:
    assert HealthConfig().windows.approximate_every == 4
    conf = HealthConfig.from_storm_conf({"health.windows.approximate.every": 8})
    assert conf.windows.approximate_every == 8
    assert conf.to_storm_conf()["health.windows.approximate.every"] == 8
    message = "Storm config: health.windows.approximate.every must be an integer >= 1; got 0"
    with pytest.raises(HealthConfigError, match="^" + re.escape(message) + "$"):
        HealthConfig.from_storm_conf({"health.windows.approximate.every": 0})
    message = "config.yaml: windows.approximate_every must be an integer >= 1; got 2.5 (float)"
    with pytest.raises(HealthConfigError, match="^" + re.escape(message) + "$"):
        HealthConfig.from_mapping({"windows": {"approximate_every": 2.5}}, "config.yaml")

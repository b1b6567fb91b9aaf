"""Trend counts under the discard policy: a kept reading stands for its patient's discarded
ones (``RealtimeContext.keep_weight``), and the pane counts weigh its alerts by it
(``health_core.trend_panes``) — an estimate with a stated precision and error bound, instead of
a silent undercount."""

from __future__ import annotations

import math
import random

import pytest

from health_core.trend_panes import PaneCounts
from squall.realtime.context import Overload, RealtimeContext
from squall.realtime.deadlines import Deadlines, StreamDeadline
from squall.realtime.metrics import Metrics

T = 1_700_000_000_000  # a multiple of 10 s
RULE = "weight_kg > 80"


def context(mk: tuple[int, int], overloaded: bool) -> RealtimeContext:
    deadlines = Deadlines(
        (StreamDeadline("routine", "default", 1.0, "firm", *mk, frozenset({"discard"})),)
    )
    overload = Overload()
    overload.active = overloaded
    return RealtimeContext("routine", deadlines, Metrics(), overload)


def test_a_kept_job_stands_for_itself_and_the_discards_of_its_key_before_it() -> None:
    ctx = context((3, 4), overloaded=True)
    # (3,4) and always overloaded: per key, three discards then a kept job, over and over
    weights = [ctx.keep_weight("default", "p1") for _ in range(8)]
    assert weights == [0, 0, 0, 4, 0, 0, 0, 4]
    # keys are counted apart: another patient's discards do not weigh on p1's next kept job
    assert [ctx.keep_weight("default", "p2") for _ in range(3)] == [0, 0, 0]
    assert [ctx.keep_weight("default", "p1") for _ in range(4)] == [0, 0, 0, 4]
    assert ctx.keep_weight("default", "p2") == 4


def test_out_of_overload_every_job_stands_for_one_and_discard_says_no() -> None:
    ctx = context((3, 4), overloaded=False)
    assert [ctx.keep_weight("default", 7) for _ in range(5)] == [1] * 5
    assert not ctx.discard("default", 7)
    # a stream without the discard policy: always kept, weight 1
    plain = RealtimeContext("other", Deadlines(), Metrics(), Overload())
    assert plain.keep_weight("default", 7) == 1


def test_weighted_alerts_give_an_estimate_with_its_precision_and_bound() -> None:
    panes = PaneCounts(window_ms=10_000, slide_ms=2_000)
    panes.add(RULE, None, T + 500, 4)  # stands for 4: 3 of them estimated
    panes.add(RULE, None, T + 600)  # exact
    panes.add(RULE, "k:0:1", T + 700, 2)  # a source standing for 2
    panes.add(RULE, "k:0:1", T + 700, 2)  # its replay in the same pane: counted once
    (window,) = panes.advance(T + 2_001)
    assert window.counts == {RULE: 7}
    # estimated part 3 + 1 = 4 of 7: precision 3/7; variance 4*3 + 2*1 = 14, bound
    # ceil(2 * sqrt(14)) = ceil(7.48) = 8
    precision, bound = window.accuracy[RULE]
    assert precision == pytest.approx(3 / 7)
    assert bound == 8


def test_a_replay_adds_nothing_whatever_its_weight() -> None:
    panes = PaneCounts(window_ms=4_000, slide_ms=2_000)
    panes.add(RULE, "k:0:9", T + 1_000, 3)  # pane (T, T+2s]
    # its replays carry the record's event time (its Kafka timestamp): the same pane; a
    # replay kept under another overload state may carry another weight, and adds nothing
    assert not panes.add(RULE, "k:0:9", T + 1_000, 1)
    assert not panes.add(RULE, "k:0:9", T + 1_000, 4)
    windows = {(w.start_ms - T, w.end_ms - T): w for w in panes.advance(T + 8_001)}
    assert {k: w.counts for k, w in windows.items()} == {
        (-2_000, 2_000): {RULE: 3},
        (0, 4_000): {RULE: 3},
    }
    precision, bound = windows[(0, 4_000)].accuracy[RULE]
    assert precision == pytest.approx(1 / 3)  # 2 of 3 estimated
    assert bound == math.ceil(2 * math.sqrt(3 * 2))


def test_without_weights_counts_are_exact_and_carry_no_accuracy() -> None:
    panes = PaneCounts(window_ms=10_000, slide_ms=2_000)
    for i in range(5):
        panes.add(RULE, f"k:0:{i}", T + 100 * (i + 1))
    (window,) = panes.advance(T + 2_001)
    assert window.counts == {RULE: 5} and window.accuracy == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_estimates_under_mk_discard_stay_near_exact_counts(seed: int) -> None:
    """Readings of 200 patients, each alerting with its own probability; in overload (3,4)
    discards most routine readings. The estimate against the exact count of every reading
    (the oracle counts from the raw draws, not through the pane counter): within its stated
    bound in at least 90% of the windows (a two-sigma bound), and within 5% over all."""
    rng = random.Random(seed)
    alert_p = {p: rng.choice([0.05, 0.3, 0.6]) for p in range(200)}
    ctx = context((3, 4), overloaded=True)
    panes = PaneCounts(window_ms=5_000, slide_ms=1_000)
    exact: dict[int, int] = {}  # window end -> exact alerts in (end - 5 s, end]
    events: list[int] = []
    for i in range(60_000):  # 60 s at 1,000 readings/s
        ts = T + i
        patient = rng.randrange(200)
        alerts = rng.random() < alert_p[patient]
        if alerts:
            events.append(ts)
        weight = ctx.keep_weight("default", patient)
        if weight and alerts:
            panes.add(RULE, None, ts, weight)
    windows = panes.advance(T + 61_000)
    assert len(windows) > 50
    within = 0
    total_exact = total_estimate = 0
    for w in windows:
        truth = sum(1 for ts in events if w.start_ms < ts <= w.end_ms)
        exact[w.end_ms] = truth
        estimate = w.counts.get(RULE, 0)
        precision, bound = w.accuracy[RULE]
        assert 0 < precision < 1  # most of the count is estimated
        within += abs(estimate - truth) <= bound
        total_exact += truth
        total_estimate += estimate
    assert within >= 0.9 * len(windows)
    assert abs(total_estimate - total_exact) <= 0.05 * total_exact
    assert math.isfinite(total_estimate)


def test_without_the_weights_the_same_discards_undercount_by_far() -> None:
    """The control for the test above: counting kept alerts alone (weight 1) is off by most of
    the count, so the estimator is what closes the gap."""
    rng = random.Random(1)
    ctx = context((3, 4), overloaded=True)
    panes = PaneCounts(window_ms=5_000, slide_ms=1_000)
    alerts = 0
    for i in range(20_000):
        patient, alerting = rng.randrange(200), rng.random() < 0.3
        alerts += alerting
        if ctx.keep_weight("default", patient) and alerting:
            panes.add(RULE, None, T + i)
    counted = sum(w.counts.get(RULE, 0) for w in panes.advance(T + 21_000)) / 5  # 5 per alert
    assert counted < 0.5 * alerts


def test_a_kept_job_leaves_one_claim_for_the_root_emitted_next() -> None:
    ctx = context((3, 4), overloaded=True)
    assert [ctx.keep_weight("default", "p1") for _ in range(3)] == [0, 0, 0]
    assert ctx.take_claim() is None  # discards claim nothing: they are never emitted
    assert ctx.keep_weight("default", "p1") == 4
    assert ctx.take_claim() == ("default", "p1", 4)
    assert ctx.take_claim() is None  # taken once: a replay emitted next claims nothing


def test_handed_on_weight_goes_to_the_key_s_next_kept_job_with_its_discards() -> None:
    ctx = context((3, 4), overloaded=True)
    ctx.hand_on("default", "p1", 4)  # a kept job of weight 4 was dropped unrun
    # the next kept job of p1 stands for the 4 handed on, 3 discards and itself; p2 untouched
    assert [ctx.keep_weight("default", "p1") for _ in range(4)] == [0, 0, 0, 8]
    assert [ctx.keep_weight("default", "p2") for _ in range(4)] == [0, 0, 0, 4]
    calm = context((3, 4), overloaded=False)
    calm.hand_on("default", 7, 2)
    assert [calm.keep_weight("default", 7) for _ in range(2)] == [3, 1]


def test_handing_on_less_than_one_job_is_refused_naming_the_value() -> None:
    ctx = context((3, 4), overloaded=True)
    with pytest.raises(ValueError, match=r"hand_on\('default', 'p1', 0\): weight must be >= 1"):
        ctx.hand_on("default", "p1", 0)

"""The topology model's arithmetic on hand-made costs, every number computed by hand below."""

from __future__ import annotations

import pytest

from squall.plan.topology import ComponentCost, Costs, deal_tasks, path_work_s, plan

MS = 1e-3


def costs() -> Costs:
    # spout -> a -> b; b (par 2) executes half the readings; the runner costs 0.5 ms a reading
    return Costs(
        {
            "spout": ComponentCost("spout", 1, True, 0.0, 1.0),
            "a": ComponentCost("a", 1, False, 1 * MS, 1.0, ("spout",)),
            "b": ComponentCost("b", 2, False, 2 * MS, 0.5, ("a",)),
        },
        overhead_s=0.5 * MS,
        source="by hand",
    )


def test_a_reading_costs_its_work_plus_the_overhead_spread_by_tuples_handled():
    c = costs()
    assert c.reading_s() == pytest.approx(2.5 * MS)  # 1 + 2 x 0.5 + 0.5
    # overhead shares: visits 1, 1, 0.5 of 2.5 -> 0.2, 0.2, 0.1 ms
    assert c.loaded_s("spout") == pytest.approx(0.2 * MS)
    assert c.loaded_s("a") == pytest.approx(1.2 * MS)
    assert c.loaded_s("b") == pytest.approx(1.1 * MS)


def test_tasks_are_dealt_round_robin_in_storm_task_order():
    # task ids: a#0=1, b#0=2, b#1=3, spout#0=4 (components sorted by name)
    assert deal_tasks(costs(), 2) == {0: [("a", 0), ("b", 1)], 1: [("b", 0), ("spout", 0)]}


def test_one_worker_sustains_the_inverse_of_the_reading_cost():
    p = plan(costs(), 100.0, 1, 2, {}, batch=10, burst=1)
    assert p.max_rate == pytest.approx(400.0)
    assert p.worker_utilization == [pytest.approx(0.25)]
    assert (p.bottleneck_worker, p.bottleneck_task) == (0, "a#0")


def test_two_workers_on_two_cores_and_on_one():
    p = plan(costs(), 100.0, 2, 2, {}, batch=10, burst=1)
    # worker 0: a 1.2 + b/2 0.55 = 1.75 ms; worker 1: b/2 0.55 + spout 0.2 = 0.75 ms
    assert p.worker_utilization == [pytest.approx(0.175), pytest.approx(0.075)]
    assert p.max_rate == pytest.approx(1 / (1.75 * MS))
    shared = plan(costs(), 100.0, 2, 1, {}, batch=10, burst=1)
    assert shared.processors == 1 and shared.max_rate == pytest.approx(400.0)


def test_worst_case_response_is_the_busy_window_of_blocking_burst_and_path():
    c = costs()
    # path to b: spout 0.2 + a 1.2 + b (1.1 / 0.5 visits) x max(0.5, 1) = 2.2 -> 3.6 ms
    assert path_work_s(c, "b") == pytest.approx(3.6 * MS)
    p = plan(c, 100.0, 1, 2, {"b": 40 * MS, "a": 30 * MS}, batch=10, burst=3)
    # B = 10 x 2 ms; (3 - 1) x 2.5 ms; + the path; over 1 - U, U = 100/s x 2.5 ms = 0.25
    assert p.responses_s["b"] == pytest.approx((20 + 5 + 3.6) / 0.75 * MS)  # 38.13 ms
    assert p.responses_s["a"] == pytest.approx((20 + 5 + 1.4) / 0.75 * MS)  # 35.2 ms
    assert p.holds("b") and not p.holds("a")
    assert p.smallest_workers is None  # 35.2 ms on 1 worker; on 2 the busiest is as busy


def test_past_the_sustainable_rate_the_response_is_unbounded_and_more_workers_help():
    p = plan(costs(), 500.0, 1, 2, {"b": 1.0}, batch=10, burst=1)
    assert p.responses_s["b"] is None and not p.holds("b")
    # 2 workers sustain 571/s; the busiest (1.75 ms a reading) is at U = 0.875 and
    # R_b = (20 + 3.6) ms / 0.125 = 189 ms <= 1 s
    assert p.smallest_workers == 2
    two = plan(costs(), 500.0, 2, 2, {"b": 1.0}, batch=10, burst=1)
    assert two.responses_s["b"] == pytest.approx(23.6 / 0.125 * MS)


def windowed_costs() -> Costs:
    # as costs(), plus a ticked component w whose longest execute (a window evaluation) took
    # 40 ms at the calibration's 1,000 readings/s, and a 10 ms garbage-collection pause
    base = costs()
    comps = dict(base.components)
    comps["w"] = ComponentCost(
        "w", 1, False, 0.0, 0.0, ("a",), longest_s=40 * MS, ticked=True, tick_s=2.0
    )
    return Costs(comps, base.overhead_s, "by hand", calibration_rate=1000.0, gc_pause_s=10 * MS)


def test_blocking_is_a_batch_or_a_scaled_window_evaluation_plus_a_scaled_gc_pause():
    c = windowed_costs()
    # at 100/s: max(10 x 2 ms, 40 ms x 0.1) + 10 ms x 0.1 = 20 + 1 ms
    assert c.blocking_s(100.0, 10) == pytest.approx(21 * MS)
    # at 400/s: max(20 ms, 16 ms) + 4 ms
    assert c.blocking_s(400.0, 10) == pytest.approx(24 * MS)
    # a larger batch does not change the periodic term
    assert c.blocking_s(100.0, 1) == pytest.approx((4 + 1) * MS)


def test_the_highest_rate_meeting_the_deadlines():
    c = windowed_costs()
    # batch 1, burst 1, r >= 50/s: B = 40 ms r/1000 + 10 ms r/1000 (w: visits 0, so its
    # evaluation is blocking only); the readings' own utilization is 2.5 ms r minus the
    # evaluations' share 40 ms r/1000 / 2 s: U = 0.00248 r. R_b = (0.05 r + 3.6) / (1 - U) ms.
    # R_b <= 30: 0.05 r + 3.6 <= 30 - 0.0744 r -> r <= 26.4 / 0.1244 = 212.22
    p = plan(c, 100.0, 1, 2, {"b": 30 * MS}, batch=1, burst=1)
    assert p.max_rate_meeting_deadlines == pytest.approx(26.4 / 0.1244, rel=1e-9)
    # R_b <= 20: 0.05 r + 3.6 <= 20 - 0.0496 r -> r <= 16.4 / 0.0996 = 164.66
    p = plan(c, 100.0, 1, 2, {"b": 20 * MS}, batch=1, burst=1)
    assert p.max_rate_meeting_deadlines == pytest.approx(16.4 / 0.0996, rel=1e-9)
    # R_b <= 3 ms: not even at rate 0 (the path alone is 3.6 ms)
    assert plan(c, 100.0, 1, 2, {"b": 3 * MS}, 1, 1).max_rate_meeting_deadlines == 0.0
    assert plan(c, 100.0, 1, 2, {}, 1, 1).max_rate_meeting_deadlines is None


def windowed(period_s: float = 0.5) -> Costs:
    # spout -> a (4 ms a reading) -> w, a window evaluated every 0.5 s (ticks every 0.25 s)
    # whose evaluation took 200 ms at the calibration's 100 readings/s; its 4 ms per reading is
    # that evaluation amortized (200 ms / 0.5 s at 100/s); a 150 ms GC pause; no overhead
    return Costs(
        {
            "spout": ComponentCost("spout", 1, True, 0.0, 1.0),
            "a": ComponentCost("a", 1, False, 4 * MS, 1.0, ("spout",)),
            "w": ComponentCost(
                "w",
                1,
                False,
                4 * MS,
                1.0,
                ("a",),
                longest_s=200 * MS,
                ticked=True,
                tick_s=0.25,
                period_s=period_s,
            ),
        },
        overhead_s=0.0,
        source="by hand",
        calibration_rate=100.0,
        gc_pause_s=150 * MS,
    )


def test_the_periodic_share_is_per_evaluation_period_not_per_tick():
    # 200 ms every 0.5 s at 100/s, 400 ms at 200/s; per tick (0.25 s) it would be 0.8
    assert windowed().periodic_share(100.0) == pytest.approx(0.4)
    assert windowed().periodic_share(200.0) == pytest.approx(0.8)
    # no evaluation period known: the tick's
    assert windowed(period_s=0.0).periodic_share(100.0) == pytest.approx(0.8)


def test_a_busy_window_longer_than_the_period_meets_the_next_evaluation():
    # at 100/s, batch 1, burst 1: B = max(4 ms, 200 ms) + 150 ms = 350 ms; path to a 4 ms;
    # U = 100 x 8 ms = 0.8, minus the evaluations' 0.4: U_own = 0.4.
    # w0 = 354 / 0.6 = 590 ms > 500 ms: one more evaluation, w1 = (354 + 200) / 0.6 = 923.3 ms,
    # and floor(923.3 / 500) = 1 still: the fixed point
    p = plan(windowed(), 100.0, 1, 2, {"a": 1.0}, batch=1, burst=1)
    assert p.blocking_s == pytest.approx(350 * MS)
    assert p.responses_s["a"] == pytest.approx(554 / 0.6 * MS)
    # with a 1 s period (share 0.2, U_own 0.6): w0 = 354 / 0.4 = 885 ms < 1 s, no more
    p = plan(windowed(period_s=1.0), 100.0, 1, 2, {"a": 1.0}, batch=1, burst=1)
    assert p.responses_s["a"] == pytest.approx(354 / 0.4 * MS)


def test_the_busy_window_counts_each_later_evaluation():
    # at 110/s: E = 220 ms, G = 165 ms, B = 385 ms; U = 0.88 - 220 / 500 = 0.44, 1 - U = 0.56
    # w0 = 389 / 0.56 = 694.6 -> + 1 x 220: 609 / 0.56 = 1087.5 -> floor(2.175) = 2:
    # 829 / 0.56 = 1480.4 -> floor(2.96) = 2: the fixed point
    p = plan(windowed(), 110.0, 1, 2, {"a": 2.0}, batch=1, burst=1)
    assert p.responses_s["a"] == pytest.approx(829 / 0.56 * MS)


def test_a_batch_longer_than_the_evaluation_leaves_every_evaluation_to_come():
    # at 10/s: E = 20 ms < one batch of 64 x 4 ms = 256 ms: B = 256 + 15 (GC) = 271 ms;
    # U = 10 x 8 ms - 20 / 500 = 0.04; w0 = (271 + 4) / 0.96 = 286.5 ms: ceil(0.57) = 1
    # evaluation of w comes due in it: (275 + 20) / 0.96 = 307.3 ms
    p = plan(windowed(), 10.0, 1, 2, {"a": 1.0}, batch=64, burst=1)
    assert p.responses_s["a"] == pytest.approx(295 / 0.96 * MS)

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


def test_worst_case_response_is_blocking_plus_the_burst_plus_the_path():
    c = costs()
    # path to b: spout 0.2 + a 1.2 + b (1.1 / 0.5 visits) x max(0.5, 1) = 2.2 -> 3.6 ms
    assert path_work_s(c, "b") == pytest.approx(3.6 * MS)
    p = plan(c, 100.0, 1, 2, {"b": 30 * MS, "a": 20 * MS}, batch=10, burst=3)
    # B = 10 x 2 ms; (3 - 1) x 2.5 ms; + the path
    assert p.responses_s["b"] == pytest.approx((20 + 5 + 3.6) * MS)
    assert p.responses_s["a"] == pytest.approx((20 + 5 + 1.4) * MS)
    assert p.holds("b") and not p.holds("a")
    assert p.smallest_workers is None  # a's deadline fails on any worker count


def test_past_the_sustainable_rate_the_response_is_unbounded_and_more_workers_help():
    p = plan(costs(), 500.0, 1, 2, {"b": 1.0}, batch=10, burst=1)
    assert p.responses_s["b"] is None and not p.holds("b")
    assert p.smallest_workers == 2  # 500/s fits 2 workers (max 571/s)

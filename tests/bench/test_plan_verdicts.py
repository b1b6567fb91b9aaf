"""bench/rows_plan.verdicts: how issue 12's three targets are judged from per-rate medians.
Hand-made rates, so the oracle is the reading of the targets, not the code that judges them."""

from __future__ import annotations

from typing import Any

from bench.rows_plan import verdicts


def rate(offered: float, holds: bool, late: float, bounded: bool = True) -> dict[str, Any]:
    return {
        "x": offered / 1000,
        "offered": offered,
        "achieved": offered,
        "predicted_holds": holds,
        "miss_share": late,
        "on_time": late <= 0.01,
        "bounded": bounded,
        "p99_within": late <= 0.01,
    }


def targets(max_rate: float, rates: list[dict[str, Any]]) -> dict[str, tuple[str, bool]]:
    got = verdicts(max_rate, rates)["targets"]
    return {what.split(" (")[0]: (shown, met) for what, shown, met in got}


def test_a_rate_predicted_infeasible_within_the_knee_tolerance_is_shown_but_not_judged() -> None:
    # predicted 1,000/s; 1,100/s (within +20%) held its deadline, 1,300 and 2,000/s missed
    rates = [
        rate(500, True, 0.0),
        rate(1000, True, 0.0),
        rate(1100, False, 0.0),
        rate(1300, False, 0.40, bounded=False),
        rate(2000, False, 1.0, bounded=False),
    ]
    got = targets(1000, rates)
    shown, met = got["plan: every rate predicted infeasible misses its deadline"]
    assert met
    assert "not judged" in shown and "1.1x: 0.0%" in shown, shown
    knee_shown, knee_met = got[
        "plan: predicted max sustainable rate within ±20% of the measured knee"
    ]
    assert knee_met and "knee 1,100/s" in knee_shown, knee_shown


def test_a_rate_predicted_infeasible_beyond_the_tolerance_that_holds_fails_the_target() -> None:
    rates = [rate(1000, True, 0.0), rate(1300, False, 0.0), rate(2000, False, 1.0, False)]
    shown, met = targets(1000, rates)["plan: every rate predicted infeasible misses its deadline"]
    assert not met and "1.3x: 0.0%" in shown, shown


def test_a_feasible_rate_that_missed_fails_whatever_the_band() -> None:
    rates = [rate(900, True, 0.05), rate(1500, False, 1.0, False)]
    got = targets(1000, rates)
    assert not got["plan: every rate predicted feasible meets its alert deadline"][1]
    assert got["plan: every rate predicted infeasible misses its deadline"][1]


def test_only_rates_inside_the_band_leave_the_infeasible_target_unmet_for_want_of_a_rate() -> None:
    rates = [rate(1000, True, 0.0), rate(1150, False, 0.0)]
    shown, met = targets(1000, rates)["plan: every rate predicted infeasible misses its deadline"]
    assert not met and "no rate predicted infeasible above 1,200/s" in shown, shown


def test_the_knee_is_the_highest_rate_passing_with_every_rate_below_it() -> None:
    # 1,300/s failed; 1,600/s passed by the medians: noise above a failure, not the knee
    rates = [
        rate(1000, True, 0.0),
        rate(1300, False, 0.04, bounded=False),
        rate(1600, False, 0.0),
        rate(2000, False, 1.0, bounded=False),
    ]
    got = verdicts(1000, rates)
    assert got["knee"] == 1000 and got["knee_any"] == 1600

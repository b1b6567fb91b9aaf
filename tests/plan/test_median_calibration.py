"""`squall plan --calibrations N` plans from the median calibration: the one whose plan sustains
the median rate, kept whole (not a mix), its source naming the spread."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from squall.plan.model import PlanError
from squall.plan.topology import Costs
from squall.plan.topology_cli import _median_plan, plan_topology


def candidate(sustains: float | None, capacity: float, tag: str) -> tuple[Any, Costs]:
    plan = SimpleNamespace(max_rate_meeting_deadlines=sustains, max_rate=capacity)
    return plan, Costs({}, 0.0, f"calibration run: {tag}")


def test_the_median_calibration_is_chosen_whole_and_named_with_the_spread() -> None:
    got_plan, got_costs = _median_plan(
        [candidate(7000, 9000, "b"), candidate(6100, 8000, "a"), candidate(8700, 9900, "c")]
    )
    assert got_plan.max_rate_meeting_deadlines == 7000
    assert got_costs.source == (
        "median of 3 calibrations by the rate their plans sustain (6,100-8,700 readings/s): "
        "calibration run: b"
    )


def test_without_deadlines_the_capacity_ranks_and_an_even_count_takes_the_lower_median() -> None:
    got_plan, got_costs = _median_plan(
        [candidate(None, 9000, "c"), candidate(None, 5000, "a"), candidate(None, 7000, "b"),
         candidate(None, 8000, "bb")]
    )  # fmt: skip
    assert got_plan.max_rate == 7000 and got_costs.source.endswith("calibration run: b")


def test_zero_calibrations_is_refused_by_name() -> None:
    with pytest.raises(PlanError, match=r"--calibrations 0: need at least 1"):
        plan_topology(None, {}, None, 100.0, 1, {}, 1.0, calibrations=0)

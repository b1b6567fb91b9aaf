"""What the analysis does with awkward input: overload, D > T, jitter, blocking, bad tasks.

Overload and inapplicable tests are answers (a verdict with its reason), never exceptions;
only a malformed request raises PlanError, and its message is checked word for word.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest

from squall.plan.analysis import analyse
from squall.plan.edf import edf_demand
from squall.plan.fixed_priority import liu_layland_bound, rta
from squall.plan.model import Kind, PlanError, TaskSet, TestResult, Verdict, task
from squall.plan.simulate import simulate

S, U, INC, NA = (
    Verdict.SCHEDULABLE,
    Verdict.UNSCHEDULABLE,
    Verdict.INCONCLUSIVE,
    Verdict.NOT_APPLICABLE,
)


def by_test(ts: TaskSet) -> dict[str, TestResult]:
    return {(f"rta_{r.policy}" if r.name == "rta" else r.name): r for r in analyse(ts)}


def test_overload_gives_verdicts_not_exceptions():
    ts = TaskSet((task("a", 3, 4), task("b", 2, 5)))  # U = 3/4 + 2/5 = 23/20
    got = by_test(ts)
    assert {name: r.verdict for name, r in got.items()} == {
        "liu_layland": U,
        "hyperbolic": U,
        "rta_rm": U,
        "rta_dm": U,
        "edf_utilization": U,
        "edf_demand": U,
        "density": U,
        "llf": U,
    }
    assert got["liu_layland"].note == "U = 23/20 > 1: the processor is overloaded"
    assert got["rta_rm"].response_times == {"a": 3, "b": None}
    # the earliest t with h(t) > t: h(4) = 3 <= 4, h(5) = 3 + 2 = 5 <= 5, h(8) = 6 + 2 = 8,
    # h(10) = 6 + 4 = 10, h(12) = 9 + 4 = 13 > 12; the simulated EDF schedule misses there too
    assert (got["edf_demand"].first_violation, got["edf_demand"].value) == (12, 13)
    assert got["llf"].first_violation == 12
    sim = simulate(ts, "edf")
    assert sim.first_miss is not None and sim.first_miss.time == 12
    json.dumps([r.to_json() for r in got.values()])  # every number is JSON-ready


def test_deadline_past_period_skips_only_the_tests_that_assume_d_le_t():
    ts = TaskSet((task("a", 2, 4, D=6), task("b", 3, 8)))
    got = by_test(ts)
    for name in ("liu_layland", "hyperbolic"):
        assert got[name].verdict is NA
        assert got[name].note == "assumes D = T for every task; D != T for a (D=6, T=4)"
    for name in ("rta_rm", "rta_dm"):
        assert got[name].verdict is NA
        assert got[name].note == (
            "assumes D <= T; D > T for a (arbitrary-deadline busy-period analysis is not "
            "implemented)"
        )
    # EDF's tests do not assume D <= T and still decide
    assert got["edf_utilization"].verdict is S and got["edf_utilization"].kind is Kind.EXACT
    assert got["edf_demand"].verdict is S and got["edf_demand"].kind is Kind.EXACT
    assert got["density"].verdict is S and got["llf"].verdict is S
    assert simulate(ts, "edf").schedulable


def test_deadline_past_period_with_overload_still_finds_the_earliest_violation():
    ts = TaskSet((task("a", 3, 2, D=10),))  # jobs every 2 needing 3: h(t) > t first at 26
    result = edf_demand(ts)
    assert (result.verdict, result.first_violation, result.value) == (U, 26, 27)


def test_fixed_priorities_missing_one():
    ts = TaskSet((task("a", 1, 4, priority=2), task("b", 1, 5)))
    with pytest.raises(
        PlanError,
        match=re.escape(
            "rta(fixed): task 'b' has no priority; give every task an integer priority "
            "(larger = higher) or use policy 'rm' or 'dm'"
        ),
    ):
        rta(ts, "fixed")
    fixed = by_test(ts)["rta_fixed"]
    assert (fixed.verdict, fixed.note) == (NA, "no priority for b: give every task one, or none")
    assert "rta_fixed" not in by_test(TaskSet((task("a", 1, 4), task("b", 1, 5))))


def test_fixed_priorities_order_and_ties():
    ts = TaskSet(
        (task("a", 1, 4, priority=1), task("b", 1, 5, priority=1), task("c", 1, 5, priority=3))
    )
    result = by_test(ts)["rta_fixed"]
    assert result.extra["priority_order"] == ["c", "a", "b"]
    assert result.response_times == {"a": 2, "b": 3, "c": 1}
    assert result.note.endswith(
        "equal priority (a, b) broken by task order: the earlier task is higher"
    )
    sim = simulate(ts, ["c", "a", "b"])
    assert sim.worst_response == result.response_times


def test_unknown_policy():
    with pytest.raises(
        PlanError, match=re.escape("policy='edf': valid policies are rm, dm, fixed")
    ):
        rta(TaskSet((task("a", 1, 4),)), "edf")


def test_jitter_and_blocking_make_rta_sufficient_and_edf_inapplicable():
    ts = TaskSet((task("a", 1, 4, J=1), task("b", 2, 6, B=1)))
    got = by_test(ts)
    rm = got["rta_rm"]
    # a: R = 1 + J = 2; b: w = 2 + 1 + ceil((w + 1)/4) * 1 = 4 -> 5 -> 5, R = 5
    assert (rm.kind, rm.verdict, rm.response_times) == (Kind.SUFFICIENT, S, {"a": 2, "b": 5})
    assert got["edf_demand"].verdict is NA
    assert got["edf_demand"].note.startswith("blocking B > 0 for b")
    assert got["edf_utilization"].kind is Kind.NECESSARY
    with pytest.raises(
        PlanError, match=re.escape("simulate: task 'a' has J=1, B=0; only J = B = 0")
    ):
        simulate(ts)


def test_jitter_at_full_utilization_is_decided():
    ts = TaskSet((task("a", 1, 2, J=Fraction(1, 2)), task("b", 1, 2)))
    result = edf_demand(ts)
    # deadlines 1.5 and 2 within the busy period L = 2: h = 1 and 2
    assert (result.verdict, result.kind, result.extra["L"]) == (S, Kind.SUFFICIENT, 2)


def test_empty_task_set():
    assert all(r.verdict is S for r in analyse(TaskSet(())))


def test_bound_display_is_within_1e_12():
    for n in (1, 2, 7, 50, 1000, 10**6):
        with localcontext() as ctx:
            ctx.prec = 40
            reference = n * (Decimal(2) ** (Decimal(1) / n) - 1)
        shown = liu_layland_bound(n)
        assert abs(Decimal(shown.numerator) / Decimal(shown.denominator) - reference) < Decimal(
            "1e-12"
        )


def test_simulation_refuses_a_long_horizon():
    ts = TaskSet((task("a", 1, 997), task("b", 1, 991), task("c", 1, 983)))
    with pytest.raises(
        PlanError,
        match=re.escape(
            "simulation horizon of 971231538 slots (hyperperiod + max D, in steps of 1) "
            "exceeds the limit of 1000000"
        ),
    ):
        simulate(ts)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a", 0, 5), "task 'a': C=0 must be > 0"),
        (("a", -2, 5), "task 'a': C=-2 must be > 0"),
        (("a", 1, 0), "task 'a': T=0 must be > 0"),
        (("a", 1, -1), "task 'a': T=-1 must be > 0"),
        (("a", 1, 5, 0), "task 'a': D=0 must be > 0"),
        (("a", "x", 5), "task 'a': C='x' is not a number"),
        (("a", 1, None), "task 'a': T=None is not a number"),
        (("a", float("inf"), 5), "task 'a': C=inf is not a number"),
        (("a", 1, 5, None, -1), "task 'a': J=-1 must be >= 0"),
        (("a", 1, 5, None, 0, "-0.5"), "task 'a': B=-0.5 must be >= 0"),
        (("a", 1, 5, None, 0, 0, 1.5), "task 'a': priority=1.5 must be an integer"),
    ],
)
def test_task_errors_name_the_task_the_field_and_the_rule(args, message):
    with pytest.raises(PlanError, match=re.escape(message)):
        task(*args)


def test_task_numbers_are_exact():
    t = task("a", "0.1", "0.3")
    assert (t.C, t.T, t.D, t.U) == (
        Fraction(1, 10),
        Fraction(3, 10),
        Fraction(3, 10),
        Fraction(1, 3),
    )

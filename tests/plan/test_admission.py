"""Admission control on the course's task set (T1 C=2 T=5 D=4, T2 C=1 T=2 D=1; U = 0.9).

Each decision is worked out by hand in the test and confirmed by simulating the grown set.
"""

from __future__ import annotations

import re

import pytest

from squall.plan.admission import admit
from squall.plan.model import PlanError, TaskSet, task
from squall.plan.simulate import simulate

COURSE = TaskSet((task("T1", 2, 5, 4), task("T2", 1, 2, 1)))


def test_edf_admits_a_task_that_fills_the_processor_exactly():
    # U = 1.0. EDF utilization is only necessary here (D < T) and density 1.6 > 1 is
    # inconclusive, so processor demand decides: h(t) <= t at every deadline up to H = 10
    # (h(4) = 4, h(9) = 9, h(10) = 10, h(11) = 11), and the pattern repeats after H.
    got = admit(COURSE, task("new", 1, 10), "edf")
    assert got.admitted and got.decided_by.name == "edf_demand"
    assert got.message() == "admitted: edf_demand (exact, edf) says schedulable"
    assert simulate(got.taskset, "edf").first_miss is None


def test_edf_refuses_an_overload_at_the_necessary_test():
    # U = 0.9 + 2/10 = 1.1 > 1: no algorithm can schedule it, EDF utilization says so at once
    got = admit(COURSE, task("new", 2, 10), "edf")
    assert not got.admitted and got.decided_by.name == "edf_utilization"
    assert got.message().startswith(
        "refused: edf_utilization (necessary, edf) says unschedulable (1.1 vs bound 1)"
    )
    assert simulate(got.taskset, "edf").first_miss is not None


def test_rm_admits_by_response_time_analysis():
    # T2 (T=2) R = 1; T1 (T=5) R = 4; new (T=10, lowest): w = 1 + ceil(w/2) + 2 ceil(w/5):
    # 1 -> 4 -> 5 -> 6 -> 8 -> 9 -> 10 -> 10: R = 10 <= D = 10. The bounds do not apply (D != T).
    got = admit(COURSE, task("new", 1, 10), "rm")
    assert got.admitted and got.decided_by.name == "rta"
    assert got.decided_by.response_times == {"T2": 1, "T1": 4, "new": 10}
    sim = simulate(got.taskset, ["T2", "T1", "new"])  # RM order: T = 2, 5, 10
    assert sim.first_miss is None and sim.worst_response["new"] == 10


def test_rm_refuses_naming_the_late_task():
    got = admit(COURSE, task("new", 2, 10), "rm")
    assert not got.admitted
    assert got.message().endswith("late: new")


def test_an_unknown_policy_is_named():
    with pytest.raises(
        PlanError, match=re.escape("policy 'fifo': valid policies are rm, dm, fixed, edf, llf")
    ):
        admit(COURSE, task("new", 1, 10), "fifo")

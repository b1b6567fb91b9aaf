"""Admission control: does a new sporadic task fit beside the current set, and which test says so.

For a scheduling policy the tests are tried from the cheapest sufficient one to the exact one,
as an on-line admission controller would: a sufficient test's "schedulable" admits at once; the
exact test (response-time analysis for fixed priorities, processor demand for EDF/LLF) decides
the rest. A necessary test's "unschedulable" refuses at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from squall.plan.analysis import analyse
from squall.plan.model import Kind, PlanError, Task, TaskSet, TestResult, Verdict

# policy -> the tests that speak for it, cheapest first
POLICY_TESTS: dict[str, tuple[tuple[str, str], ...]] = {
    "rm": (("liu_layland", "rm"), ("hyperbolic", "rm"), ("rta", "rm")),
    "dm": (("rta", "dm"),),
    "fixed": (("rta", "fixed"),),
    "edf": (("edf_utilization", "edf"), ("density", "edf"), ("edf_demand", "edf")),
    "llf": (("llf", "llf"),),
}


@dataclass(frozen=True)
class Admission:
    admitted: bool
    decided_by: TestResult
    taskset: TaskSet  # the set with the new task

    def message(self) -> str:
        t = self.decided_by
        numbers = ""
        if t.value is not None and t.bound is not None:
            numbers = f" ({float(t.value):.4g} vs bound {float(t.bound):.4g})"
        if t.first_violation is not None:
            numbers += f", demand exceeds time first at t = {float(t.first_violation):g}"
        if t.response_times:
            late = [n for n, r in t.response_times.items() if r is None or r > _deadline(self, n)]
            if late:
                numbers += f", late: {', '.join(late)}"
        word = "admitted" if self.admitted else "refused"
        return f"{word}: {t.name} ({t.kind.value}, {t.policy}) says {t.verdict.value}{numbers}"


def _deadline(adm: Admission, name: str) -> Fraction:
    return next(x.D for x in adm.taskset.tasks if x.name == name)


def admit(current: TaskSet, new: Task, policy: str = "edf") -> Admission:
    """Decide whether ``new`` may join ``current`` under ``policy``."""
    if policy not in POLICY_TESTS:
        raise PlanError(f"policy {policy!r}: valid policies are {', '.join(POLICY_TESTS)}")
    candidate = current.with_task(new)
    results = {(r.name, r.policy): r for r in analyse(candidate)}
    last: TestResult | None = None
    for key in POLICY_TESTS[policy]:
        result = results.get(key)
        if result is None or result.verdict is Verdict.NOT_APPLICABLE:
            continue
        last = result
        if result.verdict is Verdict.SCHEDULABLE and result.kind is not Kind.NECESSARY:
            return Admission(True, result, candidate)
        if result.verdict is Verdict.UNSCHEDULABLE and result.kind is not Kind.SUFFICIENT:
            return Admission(False, result, candidate)
    if last is None:
        raise PlanError(f"no test applies to this task set under {policy!r}")
    # only inconclusive answers: refuse, a guarantee was asked for
    return Admission(False, last, candidate)

"""Every schedulability test on one task set, in a fixed order, as the results ``squall plan`` prints.

A test that does not fit the task set (D != T for a utilization bound, D > T for RTA, ...) is
still listed, with verdict ``not_applicable`` and the reason, so a reader sees what was not
checked as well as what was. An overloaded set (U > 1) gets verdicts, never an exception.
"""

from __future__ import annotations

from squall.plan.edf import density, edf_demand, edf_utilization, llf
from squall.plan.fixed_priority import hyperbolic, liu_layland, rta
from squall.plan.model import Kind, TaskSet, TestResult, Verdict


def analyse(ts: TaskSet) -> list[TestResult]:
    """liu_layland, hyperbolic, rta(rm), rta(dm), rta(fixed), edf_utilization, edf_demand,
    density, llf.

    rta(fixed) runs when every task has a priority and is left out when none has one; when
    only some have one it is listed as not applicable, naming the tasks without: a half-given
    priority order is more likely a slip than a choice.
    """
    results = [liu_layland(ts), hyperbolic(ts), rta(ts, "rm"), rta(ts, "dm")]
    missing = [t.name for t in ts.tasks if t.priority is None]
    if ts.tasks and not missing:
        results.append(rta(ts, "fixed"))
    elif len(missing) < len(ts.tasks):
        results.append(
            TestResult(
                "rta",
                "fixed",
                Kind.EXACT,
                Verdict.NOT_APPLICABLE,
                note=f"no priority for {', '.join(missing)}: give every task one, or none",
            )
        )
    results += [edf_utilization(ts), edf_demand(ts), density(ts), llf(ts)]
    return results

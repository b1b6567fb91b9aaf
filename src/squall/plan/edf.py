"""EDF (and LLF) schedulability: the utilization test, processor demand with QPA, density.

The processor demand of a synchronously released task set in [0, t] is
    h(t) = sum over tasks of max(0, floor((t + J_i - D_i) / T_i) + 1) * C_i,
the work of every job that is released and due within [0, t]. EDF meets every deadline iff
h(t) <= t for all t > 0 (Baruah, Rosier & Howell 1990; jitter as in Spuri 1996). h only
steps up at absolute deadlines d = D_i - J_i + k T_i, so only those points need checking, and
only up to a bound L past which a first violation cannot appear (Zhang & Burns 2009).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from fractions import Fraction

from squall.plan.model import Kind, TaskSet, TestResult, Verdict

# Past this many absolute deadlines the search for the earliest violation gives up (it only
# happens with U barely above 1 or periods many orders of magnitude apart); the verdict stands.
MAX_SCAN = 100_000


def edf_utilization(ts: TaskSet) -> TestResult:
    """U <= 1 (Liu & Layland 1973): exact when every D >= T (and J = B = 0), else necessary only.

    With some D < T, U <= 1 does not guarantee the deadlines (use edf_demand), but U > 1 still
    proves that no scheduler can meet them all.
    """
    u = ts.U
    exact = all(t.D >= t.T and t.J == 0 and t.B == 0 for t in ts.tasks)
    result = TestResult(
        "edf_utilization",
        "edf",
        Kind.EXACT if exact else Kind.NECESSARY,
        Verdict.SCHEDULABLE,
        value=u,
        bound=Fraction(1),
    )
    if u > 1:
        result.verdict = Verdict.UNSCHEDULABLE
        result.note = f"U = {u} > 1: the processor is overloaded"
    elif exact:
        result.note = "U <= 1 and every D >= T: EDF meets every deadline"
    else:
        result.verdict = Verdict.INCONCLUSIVE
        result.note = "U <= 1 is only necessary when some D < T or J, B > 0; see edf_demand"
    return result


def demand(ts: TaskSet, t: Fraction) -> Fraction:
    """h(t): the work released in [0, t] and due by t, for synchronous release."""
    total = Fraction(0)
    for task in ts.tasks:
        jobs = _floor((t + task.J - task.D) / task.T) + 1
        if jobs > 0:
            total += jobs * task.C
    return total


def edf_demand(ts: TaskSet) -> TestResult:
    """Processor-demand test: h(t) <= t at every absolute deadline t up to L.

    L = min(La, Lb) when U < 1, with La = max(max_i(D_i - T_i), sum_i (T_i - D_i) U_i / (1 - U))
    (Zhang & Burns 2009, D_i read as D_i - J_i) and Lb the synchronous busy period; L = Lb when
    U = 1. QPA walks down from L
    to decide in few steps whether any violation exists; if one does, the deadlines are then
    scanned upwards so that ``first_violation`` is the EARLIEST t with h(t) > t, the moment a
    designer needs. With U > 1 a violation always exists, and
    the scan stops by sum_i (D_i - J_i) U_i / (U - 1), past which h(t) > t surely holds.
    Exact for J = 0 (any deadlines); with jitter it is sufficient. Blocking under EDF (SRP,
    Baker 1991) is not modelled: B > 0 makes the test not applicable.
    """
    exact = all(t.J == 0 for t in ts.tasks)
    result = TestResult(
        "edf_demand", "edf", Kind.EXACT if exact else Kind.SUFFICIENT, Verdict.NOT_APPLICABLE
    )
    blocked = [t.name for t in ts.tasks if t.B > 0]
    if blocked:
        result.note = (
            f"blocking B > 0 for {', '.join(blocked)}: EDF with shared resources needs the "
            "SRP demand test (Baker 1991), not implemented"
        )
        return result
    basis = "exact: J = 0" if exact else "sufficient: release jitter J"
    doomed = [t for t in ts.tasks if t.J >= t.D]
    if doomed:
        # D - J <= 0: a job may be released at or after its own deadline.
        result.verdict = Verdict.UNSCHEDULABLE
        result.note = f"J >= D for {', '.join(t.name for t in doomed)}: no time is left to run"
        return result
    u = ts.U
    if u > 1:
        end = sum(((t.D - t.J) * t.U for t in ts.tasks), Fraction(0)) / (u - 1)
        first, scanned = _earliest_violation(ts, end)
        result.verdict = Verdict.UNSCHEDULABLE
        result.first_violation = first
        result.note = f"U = {u} > 1: the processor is overloaded; {basis}"
        _describe_violation(ts, result, scanned)
        return result
    limit = _interval(ts)
    result.extra = {"L": limit}
    violation = _qpa(ts, limit)
    if violation is None:
        result.verdict = Verdict.SCHEDULABLE
        if not ts.tasks or limit < min(t.D - t.J for t in ts.tasks):
            result.note = f"U <= 1 and no deadline falls within L = {limit}; {basis}"
        else:
            result.note = f"h(t) <= t at every absolute deadline t <= L = {limit}; {basis}"
        return result
    first, scanned = _earliest_violation(ts, violation)
    result.verdict = Verdict.UNSCHEDULABLE if exact else Verdict.INCONCLUSIVE
    result.first_violation = first
    result.note = f"h(t) > t within L = {limit}; {basis}"
    _describe_violation(ts, result, scanned)
    return result


def density(ts: TaskSet) -> TestResult:
    """sum C_i / min(D_i - J_i, T_i) <= 1: sufficient for EDF (any deadlines).

    Each task is treated as if its period were its effective deadline, which only adds work;
    jitter J shortens the effective deadline to D - J.
    """
    result = TestResult("density", "edf", Kind.SUFFICIENT, Verdict.NOT_APPLICABLE)
    blocked = [t.name for t in ts.tasks if t.B > 0]
    if blocked:
        result.note = f"blocking B > 0 for {', '.join(blocked)} is not modelled under EDF"
        return result
    if any(t.J >= t.D for t in ts.tasks):
        result.verdict, result.note = Verdict.UNSCHEDULABLE, "J >= D leaves a task no time to run"
        return result
    value = sum((t.C / min(t.D - t.J, t.T) for t in ts.tasks), Fraction(0))
    result.value, result.bound = value, Fraction(1)
    if value <= 1:
        result.verdict, result.note = Verdict.SCHEDULABLE, "density <= 1: EDF meets every deadline"
    elif ts.U > 1:
        result.verdict, result.note = Verdict.UNSCHEDULABLE, f"U = {ts.U} > 1: overloaded"
    else:
        result.verdict, result.note = Verdict.INCONCLUSIVE, "density > 1: see edf_demand"
    return result


def llf(ts: TaskSet) -> TestResult:
    """Least laxity first: EDF's processor-demand verdict, since both are optimal on one CPU."""
    base = edf_demand(ts)
    note = (
        "LLF is optimal on one processor, like EDF (Mok 1983): a task set is LLF-schedulable "
        "iff it is feasible, which is EDF's processor-demand verdict"
    )
    return TestResult(
        "llf",
        "llf",
        base.kind,
        base.verdict,
        base.value,
        base.bound,
        first_violation=base.first_violation,
        note=f"{note}; edf_demand: {base.note}",
        extra=dict(base.extra),
    )


def deadlines(ts: TaskSet) -> Iterator[Fraction]:
    """The absolute deadlines D_i - J_i + k T_i (k >= 0) in increasing order, each once."""
    heap = [(t.D - t.J, i) for i, t in enumerate(ts.tasks)]
    heapq.heapify(heap)
    last: Fraction | None = None
    while heap:
        d, i = heapq.heappop(heap)
        heapq.heappush(heap, (d + ts.tasks[i].T, i))
        if d != last:
            last = d
            yield d


def busy_period(ts: TaskSet) -> Fraction:
    """The synchronous busy period: the least L > 0 with sum ceil(L / T_i) C_i = L (U <= 1).

    Jitter is left out on purpose: h(t) with jitter is exactly the demand of jobs released at
    k T_i with deadlines D_i - J_i, a jitter-free set whose first violation, if any, comes
    within its own busy period. (With U = 1 the iteration stops by the hyperperiod.)
    """
    length = sum((t.C for t in ts.tasks), Fraction(0))
    while True:
        nxt = sum((-_floor(-length / t.T) * t.C for t in ts.tasks), Fraction(0))
        if nxt == length:
            return length
        length = nxt


def _interval(ts: TaskSet) -> Fraction:
    """L: no first violation of h(t) <= t lies past it (U <= 1)."""
    u = ts.U
    if not ts.tasks:
        return Fraction(0)
    lb = busy_period(ts)
    if u == 1:
        return lb
    la = max(
        max(t.D - t.J - t.T for t in ts.tasks),
        sum(((t.T - t.D + t.J) * t.U for t in ts.tasks), Fraction(0)) / (1 - u),
    )
    return min(la, lb)


def _qpa(ts: TaskSet, limit: Fraction) -> Fraction | None:
    """Quick Processor-demand Analysis (Zhang & Burns 2009): a t with h(t) > t, or None.

    From the last deadline at or before L it jumps down to h(t) while h(t) < t (no deadline
    in between can fail: h is non-decreasing), or to the previous deadline when h(t) = t. It
    ends when t falls to the smallest relative deadline or below, or at a violation.
    """
    if not ts.tasks:
        return None
    d_min = min(t.D - t.J for t in ts.tasks)
    t = _deadline_at_or_before(ts, limit)
    while t is not None and t >= d_min:
        h = demand(ts, t)
        if h > t:
            return t
        if h <= d_min:
            return None
        t = _deadline_at_or_before(ts, h) if h < t else _deadline_before(ts, t)
    return None


def _deadline_at_or_before(ts: TaskSet, x: Fraction) -> Fraction | None:
    best: Fraction | None = None
    for task in ts.tasks:
        first = task.D - task.J
        if first <= x:
            d = first + _floor((x - first) / task.T) * task.T
            best = d if best is None else max(best, d)
    return best


def _deadline_before(ts: TaskSet, x: Fraction) -> Fraction | None:
    best: Fraction | None = None
    for task in ts.tasks:
        first = task.D - task.J
        if first < x:
            d = first + (-_floor(-(x - first) / task.T) - 1) * task.T
            best = d if best is None else max(best, d)
    return best


def _earliest_violation(ts: TaskSet, end: Fraction) -> tuple[Fraction | None, int]:
    """The first absolute deadline t <= end with h(t) > t, and how many were looked at."""
    scanned = 0
    for d in deadlines(ts):
        if d > end or scanned >= MAX_SCAN:
            break
        scanned += 1
        if demand(ts, d) > d:
            return d, scanned
    return None, scanned


def _describe_violation(ts: TaskSet, result: TestResult, scanned: int) -> None:
    t = result.first_violation
    if t is None:
        result.note += f"; the earliest violation was not found in the first {scanned} deadlines"
        return
    result.value, result.bound = demand(ts, t), t
    result.note += f"; earliest violation at t = {t}: h(t) = {result.value} > {t}"


def _floor(x: Fraction) -> int:
    return x.numerator // x.denominator

"""Fixed-priority schedulability: utilization bounds (RM) and response-time analysis (RM, DM, fixed).

Every number is a ``Fraction``: a verdict never depends on float rounding. The one irrational
quantity, the Liu & Layland bound n(2^{1/n} - 1), is decided by an equivalent rational
inequality and only *displayed* as a rational approximation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction

from squall.plan.model import Kind, PlanError, Task, TaskSet, TestResult, Verdict

POLICIES = ("rm", "dm", "fixed")


def utilization(ts: TaskSet) -> Fraction:
    """Total utilization U = sum of C_i / T_i."""
    return ts.U


def liu_layland_bound(n: int) -> Fraction:
    """n(2^{1/n} - 1) as a Fraction within 1e-12 of the true bound (for display only).

    2^{1/n} is irrational for n > 1, so it is computed in Decimal with 10 guard digits and
    truncated to ``digits`` decimals; the error, times n, stays under
    10^(len(str(n)) - digits) = 1e-13. Verdicts never use this number.
    """
    if n < 1:
        raise PlanError(f"the Liu & Layland bound needs n >= 1 tasks; got n={n}")
    digits = 13 + len(str(n))
    with localcontext() as ctx:
        ctx.prec = digits + 10
        root = Decimal(2) ** (Decimal(1) / n)
    scale = 10**digits
    return n * (Fraction(int(root * scale), scale) - 1)


def liu_layland(ts: TaskSet) -> TestResult:
    """Liu & Layland (1973): RM meets every deadline if U <= n(2^{1/n} - 1). Sufficient; D = T only.

    The comparison is exact: with x = U/n, U <= n(2^{1/n} - 1) iff x + 1 <= 2^{1/n} iff
    (x + 1)^n <= 2 (both sides positive, t -> t^n increasing), a rational inequality.
    """
    n = len(ts.tasks)
    result = TestResult("liu_layland", "rm", Kind.SUFFICIENT, Verdict.NOT_APPLICABLE)
    inapplicable = _not_implicit(ts)
    if inapplicable:
        result.note = f"assumes D = T for every task; {inapplicable}"
        return result
    if n == 0:
        result.verdict, result.note = Verdict.SCHEDULABLE, "no tasks"
        return result
    u = ts.U
    # value/bound are for display; within 1e-12 of the bound the verdict, which comes from
    # the exact test, may disagree with comparing the two shown numbers
    result.value, result.bound = u, liu_layland_bound(n)
    result.extra = {"exact_test": f"(U/{n} + 1)^{n} <= 2"}
    if (u / n + 1) ** n <= 2:
        result.verdict = Verdict.SCHEDULABLE
        result.note = f"U <= {n}(2^(1/{n}) - 1): every deadline is met under RM"
    else:
        result.verdict, result.note = _overload_or_inconclusive(
            u, f"U > {n}(2^(1/{n}) - 1): the bound cannot tell; try rta(rm)"
        )
    return result


def hyperbolic(ts: TaskSet) -> TestResult:
    """Hyperbolic bound (Bini, Buttazzo & Buttazzo 2003): RM is fine if prod(U_i + 1) <= 2.

    Sufficient, D = T only; it accepts every set Liu & Layland accepts, and more.
    """
    result = TestResult("hyperbolic", "rm", Kind.SUFFICIENT, Verdict.NOT_APPLICABLE)
    inapplicable = _not_implicit(ts)
    if inapplicable:
        result.note = f"assumes D = T for every task; {inapplicable}"
        return result
    product = math.prod((t.U + 1 for t in ts.tasks), start=Fraction(1))
    result.value, result.bound = product, Fraction(2)
    if product <= 2:
        result.verdict = Verdict.SCHEDULABLE
        result.note = "prod(U_i + 1) <= 2: every deadline is met under RM"
    else:
        result.verdict, result.note = _overload_or_inconclusive(
            ts.U, "prod(U_i + 1) > 2: the bound cannot tell; try rta(rm)"
        )
    return result


def priority_order(ts: TaskSet, policy: str) -> tuple[list[Task], str]:
    """The tasks from highest to lowest priority under ``policy``, and a note on broken ties.

    rm: shorter T first; dm: shorter D first; fixed: larger ``priority`` first. The sort is
    stable, so equal keys keep the task order (the earlier task wins): a rule stated in the
    note, because a tie broken differently at run time changes the response times.
    """
    if policy not in POLICIES:
        raise PlanError(f"policy={policy!r}: valid policies are {', '.join(POLICIES)}")
    if policy == "fixed":
        for t in ts.tasks:
            if t.priority is None:
                raise PlanError(
                    f"rta(fixed): task {t.name!r} has no priority; give every task an integer "
                    "priority (larger = higher) or use policy 'rm' or 'dm'"
                )
    keys: dict[str, Callable[[Task], Fraction]] = {
        "rm": lambda t: t.T,
        "dm": lambda t: t.D,
        "fixed": lambda t: Fraction(-(t.priority or 0)),
    }
    key = keys[policy]
    order = sorted(ts.tasks, key=key)
    field = {"rm": "T", "dm": "D", "fixed": "priority"}[policy]
    groups: dict[Fraction, list[str]] = {}
    for t in order:
        groups.setdefault(key(t), []).append(t.name)
    ties = [names for names in groups.values() if len(names) > 1]
    note = ""
    if ties:
        listed = "; ".join(", ".join(names) for names in ties)
        note = f"equal {field} ({listed}) broken by task order: the earlier task is higher"
    return order, note


def rta(ts: TaskSet, policy: str) -> TestResult:
    """Response-time analysis (Joseph & Pandya; Audsley; Tindell: jitter J and blocking B).

    For task i, with hp(i) the tasks of higher priority:
        w = C_i + B_i + sum over j in hp(i) of ceil((w + J_j) / T_j) * C_j,   R_i = w + J_i,
    iterated from w = C_i + B_i + sum C_j up to its fixed point. The iteration stops as soon
    as w exceeds D_i - J_i: the response time then diverges past the deadline and is None.

    Exact for constrained deadlines (D <= T) with J = B = 0 and synchronous release (the
    critical instant is the worst case); with J or B it is an upper bound (sufficient).
    D > T needs the busy-period analysis over several jobs (Lehoczky 1990), not implemented.
    """
    if policy not in POLICIES:
        raise PlanError(f"policy={policy!r}: valid policies are {', '.join(POLICIES)}")
    result = TestResult("rta", policy, Kind.EXACT, Verdict.NOT_APPLICABLE)
    late = [t.name for t in ts.tasks if t.D > t.T]
    if late:
        result.note = (
            f"assumes D <= T; D > T for {', '.join(late)} (arbitrary-deadline busy-period "
            "analysis is not implemented)"
        )
        return result
    order, tie_note = priority_order(ts, policy)
    exact = all(t.J == 0 and t.B == 0 for t in ts.tasks)
    result.kind = Kind.EXACT if exact else Kind.SUFFICIENT
    times: dict[str, Fraction | None] = {}
    for i, t in enumerate(order):
        times[t.name] = response_time(t, order[:i])
    result.response_times = {t.name: times[t.name] for t in ts.tasks}
    result.extra = {"priority_order": [t.name for t in order]}
    missed = [t.name for t in ts.tasks if times[t.name] is None]
    if not missed:
        result.verdict = Verdict.SCHEDULABLE
        summary = "every R_i <= D_i"
    elif exact:
        result.verdict = Verdict.UNSCHEDULABLE
        summary = f"R_i > D_i for {', '.join(missed)}"
    else:
        result.verdict = Verdict.INCONCLUSIVE
        summary = f"the bound R_i exceeds D_i for {', '.join(missed)}"
    basis = (
        "exact: D <= T, J = B = 0, synchronous release"
        if exact
        else "sufficient: jitter J and blocking B make R_i an upper bound"
    )
    result.note = "; ".join(part for part in (summary, basis, tie_note) if part)
    return result


def response_time(t: Task, higher: list[Task]) -> Fraction | None:
    """Worst-case response time of ``t`` below the tasks ``higher``; None past D - J.

    w never decreases from one step to the next and only takes values C_i + B_i plus sums of
    multiples of the C_j, so below the cap D_i - J_i it reaches its fixed point in finitely
    many steps.
    """
    cap = t.D - t.J
    w = t.C + t.B + sum((h.C for h in higher), Fraction(0))
    while w <= cap:
        nxt = t.C + t.B + sum((_ceil((w + h.J) / h.T) * h.C for h in higher), Fraction(0))
        if nxt == w:
            return w + t.J
        w = nxt
    return None


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _not_implicit(ts: TaskSet) -> str:
    """'' when every D = T, else which tasks differ (the reason a D = T test does not apply)."""
    odd = [f"{t.name} (D={t.D}, T={t.T})" for t in ts.tasks if t.D != t.T]
    return f"D != T for {', '.join(odd)}" if odd else ""


def _overload_or_inconclusive(u: Fraction, why: str) -> tuple[Verdict, str]:
    # A failed sufficient bound proves nothing, but U > 1 proves overload for any scheduler:
    # say the stronger thing when it is true rather than "inconclusive".
    if u > 1:
        return Verdict.UNSCHEDULABLE, f"U = {u} > 1: the processor is overloaded"
    return Verdict.INCONCLUSIVE, why

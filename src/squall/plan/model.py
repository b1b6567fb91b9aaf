"""Task sets and test results in the course's notation, with exact numbers.

A task has a worst-case cost C, a period or minimum inter-arrival time T, a relative deadline D
(default T), a release jitter J and a blocking time B (both default 0), and optionally an
explicit priority (a larger number is a higher priority). Every time is a ``Fraction`` in the
task set's unit, so tests compare exactly; floats appear only when printed or exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

from squall.errors import ConfigError

UNITS = ("s", "ms", "us")


class PlanError(ConfigError):
    """A task set (or a plan request) is invalid: names the task, the field and what is valid."""


class Verdict(StrEnum):
    SCHEDULABLE = "schedulable"
    UNSCHEDULABLE = "unschedulable"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not_applicable"


class Kind(StrEnum):
    """What a verdict of the test is worth: ``exact`` decides both ways; a ``sufficient``
    test's "schedulable" is a guarantee but its failure is only "inconclusive"; a
    ``necessary`` test's failure is a proof of unschedulability but its pass is inconclusive."""

    EXACT = "exact"
    SUFFICIENT = "sufficient"
    NECESSARY = "necessary"


@dataclass(frozen=True)
class Task:
    name: str
    C: Fraction
    T: Fraction
    D: Fraction
    J: Fraction = Fraction(0)
    B: Fraction = Fraction(0)
    priority: int | None = None

    @property
    def U(self) -> Fraction:
        """Utilization C / T."""
        return self.C / self.T

    @property
    def density(self) -> Fraction:
        """C / min(D, T)."""
        return self.C / min(self.D, self.T)


def task(
    name: str,
    C: Fraction | int | str,
    T: Fraction | int | str,
    D: Fraction | int | str | None = None,
    J: Fraction | int | str = 0,
    B: Fraction | int | str = 0,
    priority: int | None = None,
) -> Task:
    """A Task from ints, Fractions or decimal strings ("0.5"), with D = T by default and checks:
    C > 0, T > 0, D > 0, J >= 0, B >= 0."""
    values = {"C": C, "T": T, "D": T if D is None else D, "J": J, "B": B}
    exact: dict[str, Fraction] = {}
    for key, value in values.items():
        try:
            exact[key] = Fraction(value)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            raise PlanError(f"task {name!r}: {key}={value!r} is not a number") from None
    for key in ("C", "T", "D"):
        if exact[key] <= 0:
            raise PlanError(f"task {name!r}: {key}={_show(exact[key])} must be > 0")
    for key in ("J", "B"):
        if exact[key] < 0:
            raise PlanError(f"task {name!r}: {key}={_show(exact[key])} must be >= 0")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        raise PlanError(f"task {name!r}: priority={priority!r} must be an integer")
    return Task(name, exact["C"], exact["T"], exact["D"], exact["J"], exact["B"], priority)


@dataclass(frozen=True)
class TaskSet:
    tasks: tuple[Task, ...]
    units: str = "ms"

    def __post_init__(self) -> None:
        if self.units not in UNITS:
            raise PlanError(f"units={self.units!r}: valid units are {', '.join(UNITS)}")
        names = [t.name for t in self.tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PlanError(f"task names must be unique; repeated: {', '.join(dupes)}")

    @property
    def U(self) -> Fraction:
        """Total utilization."""
        return sum((t.U for t in self.tasks), Fraction(0))

    @property
    def constrained(self) -> bool:
        """Every D <= T (the assumption of most tests here)."""
        return all(t.D <= t.T for t in self.tasks)

    @property
    def implicit(self) -> bool:
        """Every D = T."""
        return all(t.D == t.T for t in self.tasks)

    def with_task(self, extra: Task) -> TaskSet:
        return TaskSet(self.tasks + (extra,), self.units)


@dataclass
class TestResult:
    """One schedulability test's outcome, in the shape of ``squall plan --json``'s ``tests``."""

    __test__ = False  # not a pytest class

    name: str  # liu_layland | hyperbolic | rta | edf_utilization | edf_demand | density | llf
    policy: str  # rm | dm | edf | llf | fixed
    kind: Kind
    verdict: Verdict
    value: Fraction | None = None  # what is compared (U, the product of (U_i + 1), ...)
    bound: Fraction | None = None  # what it is compared against
    # task -> worst-case response time; None: it diverges past the deadline
    response_times: dict[str, Fraction | None] | None = None
    first_violation: Fraction | None = None  # the EARLIEST t where demand exceeds t
    note: str = ""  # why not applicable, which assumption, ...
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "policy": self.policy,
            "kind": self.kind.value,
            "verdict": self.verdict.value,
            "value": as_number(self.value),
            "bound": as_number(self.bound),
            "response_times": None
            if self.response_times is None
            else {k: as_number(v) for k, v in self.response_times.items()},
            "first_violation": as_number(self.first_violation),
            "note": self.note,
        }


def as_number(value: Fraction | None) -> int | float | None:
    """A JSON number: an int when whole, else a float (exact values stay Fractions inside)."""
    if value is None:
        return None
    if value.denominator == 1:
        return int(value)
    return float(value)


def _show(value: Fraction) -> str:
    return str(as_number(value))

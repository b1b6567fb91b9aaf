"""Alert trends: how many alerts each rule raised in a window, and how that compares with the
window before. Pure logic; ``bolts.trend.TrendBolt`` feeds it windows.

A window with no alert at all is not evaluated (windows skip empty stretches, as Storm's do),
so when windows were skipped the comparison is with zero, not with an older window.

Under overload a trend count may be an estimate from a systematic sample
(:class:`TrendSampler`, in ``health_core.trend_sample``): each record says its ``precision``
(1.0 exact, 1/r sampled) and its ``error_bound``, the most its ``count`` can differ from the
exact count of the same alerts (0 when exact).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

# The trend tuple (TrendBolt's default stream): the console/JSON sinks and the Kafka trends
# sink read these names.
TREND_FIELDS: tuple[str, ...] = (
    "rule",
    "window_start_ms",
    "window_end_ms",
    "count",
    "trend",
    "previous",
    "precision",  # 1.0: exact; 1/r: estimated from 1 alert in r (the imprecise policy)
    "error_bound",  # |count - exact count| <= error_bound; 0 when exact
)

TrendName = Literal["rising", "falling", "steady"]


@dataclass(frozen=True, slots=True)
class RuleTrend:
    """One rule in one window: alerts in ``(window_start_ms, window_end_ms]``."""

    rule: str
    window_start_ms: int
    window_end_ms: int
    count: int
    trend: TrendName
    previous: int
    precision: float = 1.0
    error_bound: int = 0

    def as_values(self) -> list[object]:
        return [getattr(self, name) for name in TREND_FIELDS]


def classify(count: int, previous: int) -> TrendName:
    """Rising, falling or steady: the count against the previous window's."""
    if count > previous:
        return "rising"
    if count < previous:
        return "falling"
    return "steady"


def count_distinct_by_rule(alerts: Iterable[tuple[str, str | None]]) -> dict[str, int]:
    """Alerts per rule name, each ``(rule, source)`` counted once.

    ``source`` names the record an alert came from (``"topic:partition:offset"`` for Kafka).
    Delivery is at-least-once, so a replayed reading raises its alerts again; counting each
    source once keeps a window's count exact. Alerts without a source are all counted.
    """
    return weighted_count_by_rule((rule, source, 1) for rule, source in alerts)


def weighted_count_by_rule(alerts: Iterable[tuple[str, str | None, int]]) -> dict[str, int]:
    """The sum of the weights of ``(rule, source, weight)`` alerts per rule, each
    ``(rule, source)`` counted once, with its largest weight.

    A sampled alert stands for several (its weight); a replay of it may weigh less (0 or 1,
    see ``TrendSampler``), so the largest weight is the one that counts. Alerts without a
    source are all counted. With every weight 1 this is :func:`count_distinct_by_rule`.
    """
    counts: dict[str, int] = {}
    best: dict[tuple[str, str], int] = {}
    for rule, source, weight in alerts:
        if source is None:
            counts[rule] = counts.get(rule, 0) + weight
            continue
        key = (rule, source)
        seen = best.get(key)
        if seen is None:
            best[key] = weight
            counts[rule] = counts.get(rule, 0) + weight
        elif weight > seen:
            best[key] = weight
            counts[rule] += weight - seen
    return counts


def trends(
    current: Mapping[str, int],
    previous: Mapping[str, int],
    window_start_ms: int,
    window_end_ms: int,
    accuracy: Mapping[str, tuple[float, int]] | None = None,
) -> list[RuleTrend]:
    """One trend per rule seen in this window or the previous one, sorted by rule.

    A rule that fired in the previous window but not in this one is reported once with count
    0 ("falling"), so a consumer sees it stop; after that it is no longer mentioned.
    ``accuracy`` gives a rule's ``(precision, error_bound)`` when its count is an estimate;
    a rule not in it is exact (1.0, 0).
    """
    if window_end_ms < window_start_ms:
        raise ValueError(f"window end {window_end_ms} is before its start {window_start_ms}")
    for name, counts in (("current", current), ("previous", previous)):
        for rule, n in counts.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"{name} count of rule {rule!r} must be an int >= 0; got {n!r}")
    accuracy = accuracy or {}
    for rule, (precision, bound) in accuracy.items():
        bound_ok = isinstance(bound, int) and not isinstance(bound, bool) and bound >= 0
        if not (0.0 < precision <= 1.0 and bound_ok):
            raise ValueError(
                f"accuracy of rule {rule!r} must be (precision in (0, 1], error_bound an int "
                f">= 0); got {(precision, bound)!r}"
            )
    out = []
    for rule in sorted(set(current) | set(previous)):
        precision, bound = accuracy.get(rule, (1.0, 0))
        out.append(
            RuleTrend(
                rule=rule,
                window_start_ms=window_start_ms,
                window_end_ms=window_end_ms,
                count=current.get(rule, 0),
                trend=classify(current.get(rule, 0), previous.get(rule, 0)),
                previous=previous.get(rule, 0),
                precision=precision,
                error_bound=bound,
            )
        )
    return out

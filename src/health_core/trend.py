"""Alert trends: how many alerts each rule raised in a window, and how that compares with the
window before. Pure functions; ``bolts.trend.TrendBolt`` feeds them windows.

A window with no alert at all is not evaluated (windows skip empty stretches, as Storm's do),
so when windows were skipped the comparison is with zero, not with an older window.
"""

from __future__ import annotations

from collections import Counter
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
    counts: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for rule, source in alerts:
        if source is not None:
            if (rule, source) in seen:
                continue
            seen.add((rule, source))
        counts[rule] += 1
    return dict(counts)


def trends(
    current: Mapping[str, int],
    previous: Mapping[str, int],
    window_start_ms: int,
    window_end_ms: int,
) -> list[RuleTrend]:
    """One trend per rule seen in this window or the previous one, sorted by rule.

    A rule that fired in the previous window but not in this one is reported once with count
    0 ("falling"), so a consumer sees it stop; after that it is no longer mentioned.
    """
    if window_end_ms < window_start_ms:
        raise ValueError(f"window end {window_end_ms} is before its start {window_start_ms}")
    for name, counts in (("current", current), ("previous", previous)):
        for rule, n in counts.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"{name} count of rule {rule!r} must be an int >= 0; got {n!r}")
    return [
        RuleTrend(
            rule=rule,
            window_start_ms=window_start_ms,
            window_end_ms=window_end_ms,
            count=current.get(rule, 0),
            trend=classify(current.get(rule, 0), previous.get(rule, 0)),
            previous=previous.get(rule, 0),
        )
        for rule in sorted(set(current) | set(previous))
    ]

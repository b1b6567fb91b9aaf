"""The realtime bench's oracle for trend counts: which rules a reading fires, from its raw
values (the course's two rules, not the app's parse/BMI/rule code), and the error of a run's
trend records against the exact counts of every reading its spouts took."""

from __future__ import annotations

from typing import Any

PANE_MS = 1_000  # the bench's slide; its window and slide are multiples of it
# The course's rules (config.yaml), computed here from the raw values, not by the app's code
RULES = ("weight_kg > 80", "bmi > 35")


def exact_rules(weight_kg: int, height_cm: int) -> list[str]:
    """The rules a reading of these values fires: the oracle of the trend counts."""
    fired = ["weight_kg > 80"] if weight_kg > 80 else []
    if weight_kg / (height_cm / 100) ** 2 > 35:
        fired.append("bmi > 35")
    return fired


def trend_error(
    windows: list[tuple[str, int, int, float, int]],
    exact_panes: dict[tuple[str, int], int],
    window_ms: int,
    seconds: float,
) -> dict[str, Any]:
    """The trend counts against the exact counts of every reading taken (what an unshed run
    over the same records counts): sum |count - exact| / sum exact over the windows of the run's
    middle — after the first full window, before the last 2 s (alerts still in flight at the
    end were never counted) — and the share of windows within their stated bound."""
    if not exact_panes:
        return {"measured_error": None, "within_bound": None, "compared_windows": 0}
    first = min(p for _, p in exact_panes)
    lo, hi = first + window_ms, first + int(1000 * seconds) - 2_000
    diff = total = within = compared = 0
    for rule, end, count, _precision, bound in windows:
        if not lo <= end <= hi:
            continue
        truth = sum(
            exact_panes.get((rule, pane), 0)
            for pane in range(end - window_ms + PANE_MS, end + 1, PANE_MS)
        )
        diff += abs(count - truth)
        total += truth
        within += abs(count - truth) <= bound
        compared += 1
    return {
        "measured_error": diff / total if total else None,
        "within_bound": within / compared if compared else None,
        "compared_windows": compared,
    }

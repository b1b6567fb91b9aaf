"""The ui group's target (issue 14), judged on this run's rows (bench/rows_ui.py)."""

from __future__ import annotations

from typing import Any

from bench.rows_ui import OFF, ON

TARGET = "throughput with the UI on within 3% of off"
MIN_RATIO = 0.97  # on/off: the view may cost at most 3% of the readings per second


def target_lines(rows: list[Any]) -> list[str]:
    """Issue 14's row of the targets table; none when the ui group did not run."""
    by_name = {r.name: r for r in rows if r.group == "ui"}
    off, on = by_name.get(OFF), by_name.get(ON)
    if off is None and on is None:
        return []
    if off is None or on is None or not off.records_per_s or not on.records_per_s:
        return [f"| 14 | {TARGET} | — | not measured in this run |"]
    ratio = on.records_per_s / off.records_per_s
    pairs = on.extra.get("pair_ratios") or []
    shown = f"{ratio:.3f}" + (f" (pairs {', '.join(f'{r:.3f}' for r in pairs)})" if pairs else "")
    return [
        f"| 14 | {TARGET} (medians, on/off) | {shown} | {'yes' if ratio >= MIN_RATIO else 'NO'} |"
    ]

"""How results are shown: one readable console line per alert, window or invalid record,
and one JSON object per line for the file sink. Pure functions, no I/O."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from health_core.invalid import reading_id_of

# The tuple layouts of the health topology's streams (documented where they are emitted).
ALERT_FIELDS: tuple[str, ...] = ("rule", "reading_id", "ts", "reading")
INVALID_FIELDS: tuple[str, ...] = ("raw", "reason", "ts")


def _clock(ts_ms: Any) -> str:
    if isinstance(ts_ms, (int, float)) and not isinstance(ts_ms, bool):
        seconds = ts_ms / 1000.0
        return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{int(ts_ms) % 1000:03d}"
    return str(ts_ms)


def as_record(values: Sequence[Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """Name a tuple's values by its stream's fields (``value0``... when the fields are unknown)."""
    if fields is not None and len(fields) == len(values):
        return dict(zip(fields, values, strict=True))
    return {f"value{i}": value for i, value in enumerate(values)}


def format_alert(record: Mapping[str, Any], payloads: bool = False) -> str:
    """The alert's rule and reading id; with ``payloads`` also the reading's measurements
    (health data: shown only when asked, ``sinks.console_payloads``)."""
    head = (
        f"ALERT   {_clock(record.get('ts'))} [{record.get('rule')}] id={record.get('reading_id')}"
    )
    if not payloads:
        return head
    reading = record.get("reading") or {}
    bmi = reading.get("bmi")
    bmi_text = f" bmi={bmi:.1f} ({reading.get('bmi_class')})" if isinstance(bmi, float) else ""
    return (
        f"{head} age={reading.get('age')} height={reading.get('height_cm')}cm"
        f" weight={reading.get('weight_kg')}kg{bmi_text}"
    )


def format_invalid(record: Mapping[str, Any], payloads: bool = False) -> str:
    """The reason and the reading id found in the payload; with ``payloads`` the payload's
    first 80 characters instead (it may hold health data: shown only when asked)."""
    head = f"INVALID {_clock(record.get('ts'))} {record.get('reason')}"
    raw = str(record.get("raw"))
    if not payloads:
        found = reading_id_of(record)
        return f"{head} | id={found if found is not None else '?'} ({len(raw)} chars, not shown)"
    raw = raw if len(raw) <= 80 else raw[:79] + "…"
    return f"{head} | raw: {raw}"


def format_window(record: Mapping[str, Any]) -> str:
    """A trend window (``health_core.trend.TREND_FIELDS``): rule, bounds, count, trend,
    previous; an estimated count (``precision`` below 1) with its error bound and precision."""
    known = (
        "rule",
        "window_start_ms",
        "window_end_ms",
        "count",
        "trend",
        "previous",
        "precision",
        "error_bound",
    )
    extra = " ".join(f"{k}={v}" for k, v in record.items() if k not in known)
    precision = record.get("precision", 1.0)
    estimate = (
        f" ±{record.get('error_bound')} (precision {precision:g})"
        if isinstance(precision, (int, float)) and precision != 1.0
        else ""
    )
    line = (
        f"WINDOW  ({_clock(record.get('window_start_ms'))}, {_clock(record.get('window_end_ms'))}]"
        f" [{record.get('rule')}] count={record.get('count')}{estimate} {record.get('trend')}"
        f" (previous {record.get('previous')})"
    )
    return f"{line} {extra}" if extra else line


def format_late(record: Mapping[str, Any]) -> str:
    """An alert that reached a windowed bolt behind its watermark (``squall.windowed_bolt``)."""
    values = record.get("values")
    alert = as_record(values, ALERT_FIELDS) if isinstance(values, (list, tuple)) else {}
    ts, watermark = record.get("ts"), record.get("watermark")
    behind = (
        f" ({watermark - ts} ms behind)"
        if isinstance(ts, int) and isinstance(watermark, int)
        else ""
    )
    return (
        f"LATE    {_clock(ts)} [{alert.get('rule')}] id={alert.get('reading_id')} arrived after "
        f"the watermark {_clock(watermark)}{behind}; not counted in a window"
    )


def format_line(
    component: str, stream: str, record: Mapping[str, Any], payloads: bool = False
) -> str:
    """One console line for any tuple reaching the console sink: reading ids, not their
    values, unless ``payloads``."""
    if stream == "invalid":
        return format_invalid(record, payloads)
    if stream == "late" and "watermark" in record:
        return format_late(record)
    if "rule" in record and "reading" in record:
        return format_alert(record, payloads)
    if "rule" in record and "count" in record:
        return format_window(record)
    values = " ".join(f"{k}={v}" for k, v in record.items())
    return f"{component}/{stream}: {values}"


def to_json_line(component: str, stream: str, record: Mapping[str, Any]) -> str:
    """One JSON object (no newline) for the JSON-lines sink."""
    return json.dumps(
        {"component": component, "stream": stream, **record},
        separators=(",", ":"),
        default=str,  # a value JSON cannot hold is written as text rather than lost
    )

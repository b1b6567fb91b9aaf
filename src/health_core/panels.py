"""What ``squall run --ui`` shows of the health topologies besides the graph and counters
(docs/ui.md): the course's countByWindow as a chart, the latest alerts, and the latest invalid
inputs by reading id and reason (payloads hidden: they are health data)."""

from __future__ import annotations

from typing import Any

from health_core.invalid import reading_id_of
from squall.ui import Chart, Feed


def health_panels(trend: Any, alerts: Any, invalid: tuple[Any, ...]) -> tuple[Any, ...]:
    """The panels of a health topology: ``trend`` (its trend windows' component), ``alerts``
    (the threshold component) and ``invalid`` (the streams of invalid inputs)."""
    return (
        Chart(trend, x="window_end_ms", y="count", series="rule", title="Alerts per rule"),
        Feed(
            alerts, fields=("rule", "reading_id", "ts"), private=("reading",), title="Latest alerts"
        ),
        Feed(
            invalid,
            fields=("reason", "ts"),
            private=("raw",),
            id_of=reading_id_of,
            title="Latest invalid inputs",
        ),
    )

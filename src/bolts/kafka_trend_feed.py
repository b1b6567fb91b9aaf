"""TrendFeedBolt: copies alerts to TrendBolt *unanchored*, so windows never hold Kafka offsets.

TrendBolt anchors each window's output to the window's alerts, so an alert's reading stays
un-acked until its window closes, and a window closes only when newer event times arrive. Fed
from Kafka that deadlocks: draining a backlog, ``max_in_flight`` readings can all fall in one
window whose end no in-flight reading passes (and at the end of a backlog nothing newer ever
comes), so nothing is acked, the spout stops, and the trees time out and replay forever.

Behind this bolt the readings are acked as soon as their alerts are copied, so Kafka offsets
advance with the alerts topic. The price: by themselves trend windows are at-most-once in the
Kafka topology (a crash loses the windows open at that moment); alerts and dead letters keep
at-least-once. With ``kafka.trends_changelog_topic`` set the windows survive a crash without
anchoring anything: PaneTrendBolt checkpoints them to a compacted topic and restores them, and
the spout re-reads the committed records the last checkpoint had not counted, whose alerts
arrive here on ThresholdBolt's ``trend_only`` stream (wire this bolt to both streams) and are
copied like the others (docs/windows.md, "Trend windows across a crash").
"""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from health_core.report import ALERT_FIELDS


class TrendFeedBolt(Bolt):
    outputs = [Stream(fields=list(ALERT_FIELDS), name="default")]
    auto_anchor = False  # the point of this bolt: see the module docstring

    def process(self, tup: Any) -> None:
        self.emit(list(tup.values))

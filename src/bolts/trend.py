"""TrendBolt: per rule, the number of alerts in a sliding event-time window, and its trend.

Input: ThresholdBolt's alerts ``["rule", "reading_id", "ts", "reading"]`` (``ts`` epoch ms,
the event time). Window: ``health.windows.window.secs`` long, sliding every
``health.windows.slide.secs`` (config.yaml ``windows``; default 10 s every 2 s), with ``LAG_S`` of
allowed disorder. Output ``default``: ``TREND_FIELDS`` (see ``health_core.trend``), one tuple per rule
per window, anchored to the window's alerts. Alerts behind the watermark go to ``late``.
An alert whose reading carries a ``source`` (KafkaParseBolt adds the Kafka record's
coordinates) is counted once per window however often a replay delivers it.

Wiring: group the input by ``rule`` (``Grouping.fields("rule")``) when ``par`` > 1, so that each
rule is counted by one task. Each task's event time then advances only with its own rules'
alerts (a watermark is per task, as in Storm): a task whose rules stop firing reports its last
windows once one of them fires again. Ticks drive the watermark: the class config asks for one per
second, which streamparse copies into the spec unless the topology passes its own ``config``
(then include ``TrendBolt.config`` in it).

Overload (the ``imprecise`` policy): while the runner is in overload and the deadline of
``squall.realtime.<this component>.default`` lists ``imprecise``, the threshold check upstream
(mandatory) still delivers every alert, but this bolt stores only 1 alert in
``health.windows.approximate.every`` (r) per rule and acks the rest at once, counted as shed
``imprecise``; windows holding sampled alerts report an estimated ``count`` with ``precision``
1/r and an ``error_bound`` (``health_core.trend_sample`` proves it). Out of overload it
counts exactly again. Elsewhere (under Storm) it always counts exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pystorm.component import Tuple
from streamparse import Stream

from health_core.config import HealthConfig
from health_core.report import ALERT_FIELDS
from health_core.trend import TREND_FIELDS, trends, weighted_count_by_rule
from health_core.trend_sample import TrendSampler
from squall.realtime.context import realtime_of
from squall.windowed_bolt import WindowedBolt, late_stream
from squall.windows import Duration, Window, WindowSpec

# How far out of order alert timestamps may arrive (readings pass through parallel bolts).
LAG_S = 1.0
WATERMARK_INTERVAL_S = 1
_RULE = ALERT_FIELDS.index("rule")
_TS = ALERT_FIELDS.index("ts")
_READING = ALERT_FIELDS.index("reading")


def _source(values: list[Any]) -> str | None:
    """Where the alert's reading came from, when its spout says (KafkaParseBolt does)."""
    reading = values[_READING] if len(values) > _READING else None
    source = reading.get("source") if isinstance(reading, dict) else None
    return source if isinstance(source, str) else None


class TrendBolt(WindowedBolt):
    outputs = [Stream(fields=list(TREND_FIELDS), name="default"), late_stream("late")]
    input_fields = ALERT_FIELDS
    config = {"topology.tick.tuple.freq.secs": WATERMARK_INTERVAL_S}

    def window_spec(self, conf: Mapping[str, Any]) -> WindowSpec:
        windows = HealthConfig.from_storm_conf(conf).windows
        return WindowSpec.sliding(
            Duration.seconds(windows.window_s, "health.windows.window.secs"),
            Duration.seconds(windows.slide_s, "health.windows.slide.secs"),
            timestamp_field="ts",
            lag=Duration.seconds(LAG_S, "TrendBolt lag"),
            watermark_interval_s=WATERMARK_INTERVAL_S,
            late_stream="late",
        )

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        super().initialize(storm_conf, context)
        self.previous: dict[str, int] = {}
        self.previous_end: int | None = None
        length, slide = self.spec.length, self.spec.slide
        assert isinstance(length, Duration) and isinstance(slide, Duration)
        every = HealthConfig.from_storm_conf(storm_conf or {}).windows.approximate_every
        self.sampler = TrendSampler(every, length.ms, slide.ms)
        self.approximate = False  # the mode in effect: sampling (True) or exact

    def _update_mode(self) -> bool:
        """Follow the runtime into or out of the approximate mode; True while in it."""
        ctx = realtime_of(self)
        degraded = ctx.degraded("default")
        if degraded != self.approximate:
            self.approximate = degraded
            ctx.set_precision("default", self.sampler.precision if degraded else 1.0)
        return degraded

    def add_to_windows(self, tup: Tuple, ts: int) -> None:
        values = tup.values
        admission = self.sampler.admit(
            str(values[_RULE]), _source(values), ts, sampled=self._update_mode()
        )
        if admission.store:
            self.windows.add(tup, ts)  # may refuse it (buffer full): then nothing is recorded
        self.sampler.record(admission, tup)
        if not admission.store:
            # sampled out: its weight is carried by the kept alerts of its pane
            realtime_of(self).shed("default", "imprecise")
            self.ack(tup)

    def process_tick(self, tup: Tuple) -> None:
        self._update_mode()  # report leaving overload even when no alert arrives
        super().process_tick(tup)
        # Windows still to come end at or after the watermark, so they start after
        # watermark - length: panes up to there are in none (here, not in process_window,
        # which a subclass may replace).
        watermark, length = self.windows.watermark, self.spec.length
        if watermark is not None and isinstance(length, Duration):
            self.sampler.expire(watermark - length.ms)

    def process_window(self, window: Window[Tuple]) -> None:
        assert window.start is not None  # a duration window always has a start
        slide = self.spec.slide
        assert isinstance(slide, Duration)
        contiguous = self.previous_end is not None and window.end - self.previous_end <= slide.ms
        previous = self.previous if contiguous else {}
        # A replayed reading's alerts are counted once (at-least-once delivery upstream); a
        # sampled alert counts for the alerts of its pane that were not stored.
        sampler = self.sampler
        counts = weighted_count_by_rule(
            (
                rule := str(t.values[_RULE]),
                _source(t.values),
                sampler.weight(rule, t.values[_TS], t),
            )
            for t in window.current
        )
        accuracy = sampler.accuracy(window.start, window.end)
        for trend in trends(counts, previous, window.start, window.end, accuracy):
            self.emit(trend.as_values())
        self.previous, self.previous_end = counts, window.end

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

``PaneTrendBolt`` gives the same records from per-pane counters, storing no alert: O(panes)
per window instead of O(alerts). For unanchored input only (behind ``TrendFeedBolt``): it acks
each alert as soon as it is counted; see its docstring.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pystorm.component import Tuple
from streamparse import Stream

from health_core.config import HealthConfig, check_readings_held
from health_core.report import ALERT_FIELDS
from health_core.trend import TREND_FIELDS, trends, weighted_count_by_rule
from health_core.trend_checkpoint import TaskState
from health_core.trend_panes import PaneCounts
from health_core.trend_sample import TrendSampler
from squall.realtime.context import realtime_of
from squall.windowed_bolt import WindowedBolt, late_stream
from squall.windows import Duration, Window, WindowSpec

if TYPE_CHECKING:
    from bolts.trend_changelog import TrendChangelog

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
    # its results are anchored to the window's alerts: readings wait on windows (see
    # health_core.config.check_readings_held); PaneTrendBolt acks on arrival
    holds_readings = True

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
        config = HealthConfig.from_storm_conf(storm_conf or {})
        if self.holds_readings:
            check_readings_held(config)
        every = config.windows.approximate_every
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
        source = _source(values)
        sampled = self._update_mode()
        if source is None and not sampled:
            # counted exactly, no replay to recognise: the sampler would record nothing
            # (TrendSampler.admit gives weight 1, record keeps no state for it)
            self.windows.add(tup, ts)
            return
        admission = self.sampler.admit(str(values[_RULE]), source, ts, sampled=sampled)
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
        # A replayed reading's alerts are counted once (at-least-once delivery upstream); a
        # sampled alert counts for the alerts of its pane that were not stored.
        sampler = self.sampler
        # no lookup per alert while every stored alert weighs 1 (nothing sampled in a live pane)
        weight = sampler.weight if sampler.weighs_any() else None
        counts = weighted_count_by_rule(
            (
                rule := str(t.values[_RULE]),
                _source(t.values),
                1 if weight is None else weight(rule, t.values[_TS], t),
            )
            for t in window.current
        )
        accuracy = sampler.accuracy(window.start, window.end)
        self._report(counts, window.start, window.end, accuracy)

    def _report(
        self,
        counts: dict[str, int],
        start: int,
        end: int,
        accuracy: Mapping[str, tuple[float, int]] | None = None,
        anchors: list[Tuple] | None = None,
    ) -> None:
        """Emit one window's trends, against the previous window when it touches this one.

        ``anchors`` None: the window's alerts (auto-anchoring, in ``process_window``)."""
        slide = self.spec.slide
        assert isinstance(slide, Duration)
        contiguous = self.previous_end is not None and end - self.previous_end <= slide.ms
        previous = self.previous if contiguous else {}
        for trend in trends(counts, previous, start, end, accuracy):
            self.emit(trend.as_values(), anchors=anchors)
        self.previous, self.previous_end = counts, end


class PaneTrendBolt(TrendBolt):
    """TrendBolt for *unanchored* input: the same trend records, from per-pane counters.

    Use it only where the alerts reach it unanchored, as behind ``TrendFeedBolt``
    (``bolts.kafka_trend_feed``; topologies/health_kafka.py and health_ward.py). Contract:
    each alert is acked as soon as it is counted, and the trend records are emitted
    unanchored. With anchored input that would complete the alerts' trees before their
    windows close, and a failure downstream would replay nothing: at-most-once trends. The
    bolt cannot tell (a tuple does not say whether it is anchored, under Storm or in the
    embedded runner), so this is the wiring's promise.

    What it saves. TrendBolt stores every alert until its last window closes and counts the
    window's tuples at each slide: memory and work per evaluation O(alerts in a window), one
    loop turn of 40-550 ms at 8,000 readings/s. Here ``health_core.trend_panes.PaneCounts``
    counts per (rule, pane), a pane being ``gcd(window, slide)`` of event time, and a window's
    count is the sum of its panes': work per evaluation O(panes), memory O(rules x panes),
    plus, when readings name their Kafka record (``source``), a bitmap of the offsets counted
    per (rule, pane, partition) to count a replay once: 1 bit per offset, none per alert
    (see ``PaneCounts``).

    The same records as TrendBolt on the same input: the same windows (empty stretches
    skipped alike), counts (a reading's ``source`` once per window), trend and previous; alerts
    behind the watermark go to ``late`` exactly as there (WindowedBolt's watermark and late
    routing are used unchanged). For replays this needs every delivery of a source to carry
    the same event time, which KafkaParseBolt ensures (the payload's ``ts`` or the Kafka
    record's timestamp, never the arrival time).

    Overload. TrendBolt's ``imprecise`` mode samples 1 alert in r to store fewer tuples; here
    nothing is stored and counting an alert exactly costs what sampling it would, so this bolt
    never samples. What it does estimate is the readings discarded at the spout (the
    ``discard`` policy): an alert whose reading stands for others of its patient (``reading
    ["stands_for"]``, see SyntheticHealthSpout) counts that many, and the window's record says
    so: ``precision`` (the observed share of the count) and ``error_bound`` (two standard
    deviations, see ``health_core.trend_panes``). Without discards its records are exact and
    those of TrendBolt.

    Crashes. With ``health.kafka.trends.changelog.topic`` set, each task checkpoints its state
    (:meth:`checkpoint`) to that compacted topic at most every
    ``health.kafka.trends.checkpoint.interval.secs``, on a tick, and resumes from its latest
    checkpoint on start (:meth:`resume`); the Kafka spout re-reads what the checkpoint may not
    have counted (``bolts.trend_changelog``; docs/windows.md, "Trend windows across a crash").
    """

    holds_readings = False  # every alert is acked as soon as it is counted

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        super().initialize(storm_conf, context)
        length, slide = self.spec.length, self.spec.slide
        assert isinstance(length, Duration) and isinstance(slide, Duration)
        self.panes = PaneCounts(length.ms, slide.ms)
        self.precision = 1.0  # of the last window reported
        # Checkpoints (kafka.trends_changelog_topic set): restored here, written on ticks
        self.changelog: TrendChangelog | None = None
        self._changed = False  # since the last checkpoint
        config = HealthConfig.from_storm_conf(storm_conf or {})
        self._checkpoint_every_s = config.kafka.trends_checkpoint_interval_s
        # The first one an interval after start too: a crash before it is covered by the
        # spout's catch-up from the last checkpoint or, on a first run, from the origin record
        # it wrote (squall.kafka.changelog), so nothing is gained by writing one at once.
        self._next_checkpoint = time.monotonic() + self._checkpoint_every_s  # monotonic s
        if config.kafka.trends_changelog_topic is not None:
            from bolts.trend_changelog import TrendChangelog  # Kafka only when asked for
            from squall.kafka.security import ClientSecurity

            self.changelog = TrendChangelog(
                config,
                context,
                length.ms,
                slide.ms,
                self.logger,
                ClientSecurity.from_conf(storm_conf or {}),
            )
            restored = self.changelog.restore()
            if restored is not None:
                self.resume(restored)

    def add_to_windows(self, tup: Tuple, ts: int) -> None:
        values = tup.values
        reading = values[_READING] if len(values) > _READING else None
        weight = reading.get("stands_for", 1) if isinstance(reading, dict) else 1
        weight = weight if type(weight) is int and weight > 1 else 1
        self.panes.add(str(values[_RULE]), _source(values), ts, weight)
        self._changed = True
        self.ack(tup)  # counted: nothing needs it any more (unanchored input, see above)

    def process_tick(self, tup: Tuple) -> None:
        self._check_initialized()
        watermark = self.watermarks.compute()
        if watermark is not None:
            for window in self.panes.advance(watermark):
                accuracy = window.accuracy
                precision = min((p for p, _ in accuracy.values()), default=1.0)
                if precision != self.precision:  # the stream's current precision, for metrics
                    self.precision = precision
                    realtime_of(self).set_precision("default", precision)
                self._report(window.counts, window.start_ms, window.end_ms, accuracy, anchors=[])
            self._changed = True
        if (
            self.changelog is not None
            and self._changed
            and time.monotonic() >= self._next_checkpoint
        ):
            # After the windows this watermark closed: a restore does not emit them again
            # (those closed after this checkpoint it does: their records carry rule and bounds,
            # so a reader keeps the last one per (rule, window)).
            self._changed = False
            self._next_checkpoint = time.monotonic() + self._checkpoint_every_s
            self.changelog.write(self.checkpoint(self.changelog.index, self.changelog.tasks))

    def checkpoint(self, task: int, tasks: int) -> TaskState:
        """This task's state as of now: what :meth:`resume` goes on from."""
        streams, watermark = self.watermarks.progress()
        return TaskState(
            task, tasks, self.panes, streams, watermark, self.previous, self.previous_end
        )

    def resume(self, state: TaskState) -> None:
        """Go on from a checkpoint: its panes, watermark and last window (for the trend)."""
        self.panes = state.panes
        self.watermarks.resume(state.streams, state.watermark)
        self.previous, self.previous_end = state.previous, state.previous_end

    def process_window(self, window: Window[Tuple]) -> None:
        raise AssertionError("PaneTrendBolt evaluates its panes, never a stored window")

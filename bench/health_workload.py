"""The benchmark's health workload: fixed-seed readings -> parse -> BMI -> thresholds -> trend.

One definition of the input (``payload``) and of the work, used by every row:

* ``hand_loop``: the same work in a plain Python loop (the practical limit): the project's own
  ``health_core.parse.parse_payload``, ``health_core.bmi``, ``health_core.rules.firing``, and per-rule alert
  counts in a 10 s event-time window sliding every 2 s, with the trend against the previous
  window (``health_core.trend``), computed incrementally per slide (what a hand-tuned loop would do);
* ``BenchHealth``: the project's bolts (ParseBolt, BMIBolt, ThresholdBolt, TrendBolt) wired
  behind a deterministic spout, for the embedded runner; a ``Tally`` bolt counts alerts,
  invalid readings and trend tuples and stamps the time of the last alert in shared memory,
  so the rate excludes the runner's drain wait (TrendBolt holds the last window's tuples, with
  acking on, until the drain times out).

Readings are self-describing (they carry their event time): reading ``i`` has
``ts = T0_MS + i * STEP_MS``, so windows hold the same readings in every row whatever the wall
clock does. 1 in ``MALFORMED_EVERY`` payloads is broken JSON (the invalid path runs too).
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import RawArray
from typing import Any

from streamparse import Bolt, Grouping, Spout, Stream, Topology

from bolts.bmi import BMIBolt
from bolts.parse import ParseBolt
from bolts.threshold import ThresholdBolt
from bolts.trend import LAG_S, TrendBolt
from health_core.bmi import bmi, who_class
from health_core.config import HealthConfig, ProducerSettings, WindowSettings
from health_core.parse import Reading, parse_payload
from health_core.rules import firing
from health_core.trend import TREND_FIELDS, trends

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 10  # 100 readings per second of event time (e.g. 20 producers at 5 Hz)
MALFORMED_EVERY = 20
TABLE_SIZE = 4096
SEED = 42
_TABLE: list[tuple[int, int, int]] = []


def _table() -> list[tuple[int, int, int]]:
    """(age, height_cm, weight_kg) drawn like the course's producers, from a fixed seed."""
    if not _TABLE:
        rng = random.Random(f"squall-bench/{SEED}")
        _TABLE.extend(
            (rng.randint(10, 50), rng.randint(100, 200), rng.randint(30, 100))
            for _ in range(TABLE_SIZE)
        )
    return _TABLE


def payload(i: int, keys: int) -> str:
    """Reading ``i`` as the producers would write it; the patient id cycles over ``keys`` ids."""
    age, height, weight = _table()[i % TABLE_SIZE]
    patient = (i * 2_654_435_761) % keys  # a multiplicative hash: ids spread, all reached
    text = (
        f'{{"id": {patient}, "age": {age}, "height_cm": {height}, "weight_kg": {weight}, '
        f'"ts": {T0_MS + i * STEP_MS}}}'
    )
    if i % MALFORMED_EVERY == MALFORMED_EVERY - 1:
        return text[:-3]  # truncated: not JSON
    return text


@dataclass(frozen=True)
class Workload:
    """What to run: how many readings, over how many patients, with which window."""

    records: int
    keys: int = 1000
    window_s: float = 10.0
    slide_s: float = 2.0
    by_patient: bool = False  # count per (rule, patient) instead of per rule

    def storm_conf(self) -> dict[str, Any]:
        """The ``health.*`` keys the project's bolts read, plus the bench spout's settings."""
        health = HealthConfig(
            # Not used (the bench spout replaces the synthetic one); unpaced, so the config's
            # check of producer rate x window against max.spout.pending does not apply.
            producers=ProducerSettings(rate_per_producer_hz=0.0),
            windows=WindowSettings(self.window_s, self.slide_s),
        )
        conf = {k: v for k, v in health.to_storm_conf().items() if k.startswith("health.")}
        conf.update(
            {
                "bench.records": self.records,
                "bench.keys": self.keys,
                "bench.by_patient": self.by_patient,
                # Storm's rule for windowed bolts: pending trees must exceed what a window holds,
                # or the spout stops while the window waits for the watermark (a stall).
                "topology.max.spout.pending": 100_000_000,
            }
        )
        return conf


@dataclass
class Outcome:
    """What a run produced, to check every row did the same work."""

    alerts: int = 0
    invalid: int = 0
    trends: int = 0
    trend_total: int = 0  # sum of the counts of the trend tuples
    extra: dict[str, Any] = field(default_factory=dict)


# -- the hand-written loop -------------------------------------------------------------------


class SlidingCounts:
    """Alert counts per key in windows of ``length`` ms ending at multiples of ``slide`` ms.

    Incremental: one Counter per slide-long pane; a window is the sum of its panes. A window
    ending at ``E`` is closed once the watermark (latest ts minus the lag) passes ``E``, like
    TrendBolt's; empty windows are skipped and the trend compares with the window before only
    when it was the adjacent one, as TrendBolt does.
    """

    def __init__(
        self, length_ms: int, slide_ms: int, lag_ms: int, emit: Callable[[list[Any]], None]
    ):
        self.length, self.slide, self.lag = length_ms, slide_ms, lag_ms
        self.panes: deque[tuple[int, Counter[Any]]] = deque()  # (pane end, counts), ascending
        self.next_end: int | None = None  # the next window end to evaluate
        self.max_ts = -1
        self.emit = emit
        self.previous: dict[Any, int] = {}
        self.previous_end: int | None = None

    def add(self, key: Any, ts: int) -> None:
        end = -(-ts // self.slide) * self.slide  # the pane (and first window) holding ts
        panes = self.panes
        if panes and panes[-1][0] == end:
            panes[-1][1][key] += 1
        else:
            panes.append((end, Counter({key: 1})))
            if self.next_end is None:
                self.next_end = end
        if ts > self.max_ts:
            self.max_ts = ts
            self._advance(ts - self.lag)

    def _advance(self, watermark: int) -> None:
        while self.next_end is not None and self.next_end < watermark:
            end = self.next_end
            start = end - self.length
            while self.panes and self.panes[0][0] <= start:
                self.panes.popleft()
            counts: Counter[Any] = Counter()
            for pane_end, pane in self.panes:
                if pane_end > end:
                    break
                counts.update(pane)
            if counts:
                contiguous = self.previous_end is not None and end - self.previous_end <= self.slide
                previous = self.previous if contiguous else {}
                for trend in trends(dict(counts), previous, start, end):
                    self.emit(trend.as_values())
                self.previous, self.previous_end = dict(counts), end
            self.next_end = end + self.slide if self.panes else None


def hand_loop(
    work: Workload, progress: Callable[[int], None] | None = None
) -> tuple[float, Outcome]:
    """Records per second of the whole workload with no framework, and what it produced."""
    rules = HealthConfig().rules
    out = Outcome()

    def on_trend(values: list[Any]) -> None:
        out.trends += 1
        out.trend_total += values[3]

    window = SlidingCounts(
        round(work.window_s * 1000), round(work.slide_s * 1000), round(LAG_S * 1000), on_trend
    )
    keys, by_patient = work.keys, work.by_patient
    start = time.perf_counter()
    for i in range(work.records):
        if progress is not None and i & 0xFFFF == 0:
            progress(i)
        now_ms = time.time_ns() // 1_000_000
        result = parse_payload(payload(i, keys), now_ms)
        if not isinstance(result, Reading):
            out.invalid += 1
            continue
        reading = result.to_dict()
        value = bmi(reading["weight_kg"], reading["height_cm"])
        reading = {**reading, "bmi": value, "bmi_class": who_class(value)}
        for rule in firing(rules, reading):
            out.alerts += 1
            window.add((rule.name, reading["id"]) if by_patient else rule.name, reading["ts"])
    elapsed = time.perf_counter() - start
    return work.records / elapsed, out


# -- the same work as a topology -------------------------------------------------------------

# Shared with forked worker processes (created before run_topology forks them):
# alerts, invalid, trends, trend_total, time of the last alert (time.monotonic()).
TALLY = RawArray("d", 5)


def reset_tally() -> None:
    for k in range(len(TALLY)):
        TALLY[k] = 0.0


def tally_outcome() -> tuple[Outcome, float]:
    """What Tally counted, and the monotonic time of the last alert it saw."""
    return Outcome(int(TALLY[0]), int(TALLY[1]), int(TALLY[2]), int(TALLY[3])), TALLY[4]


class BenchHealthSpout(Spout):
    """Emits ``payload(i)`` for i < bench.records; reliable unless acking is off."""

    outputs = [Stream(fields=["payload"], name="default")]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.i = 0
        self.limit = int(conf["bench.records"])
        self.keys = int(conf["bench.keys"])
        # With topology.acker.executors = 0 the runner tracks nothing; ids would be ignored.
        self.reliable = conf.get("topology.acker.executors") != 0

    def next_tuple(self) -> None:
        i = self.i
        if i < self.limit:
            self.i = i + 1
            self.emit([payload(i, self.keys)], tup_id=i if self.reliable else None)

    def ack(self, tup_id: Any) -> None:
        pass

    def fail(self, tup_id: Any) -> None:
        pass  # a benchmark does not replay; a failure shows as a missing alert in the table


class PatientTrendBolt(TrendBolt):
    """TrendBolt's window, counted per (rule, patient id): the distinct-keys scaling rows.

    One tuple per window, ``["patients", start, end, distinct keys, "steady", max count, 1.0,
    0]`` (exact), rather than one per key: an emit from a window is anchored to every tuple in
    it, so one tuple per key would cost keys x window size in acker updates and measure that
    instead.
    """

    def process_window(self, window: Any) -> None:
        counts = Counter((t.values[0], t.values[1]) for t in window.current)
        self.emit(
            [
                "patients",
                window.start,
                window.end,
                len(counts),
                "steady",
                max(counts.values(), default=0),
                1.0,  # TREND_FIELDS' precision and error_bound: exact
                0,
            ]
        )


class Tally(Bolt):
    """The sink: counts alerts, invalid readings and trends into ``TALLY``."""

    outputs: list[Any] = []

    def process(self, tup: Any) -> None:
        if tup.component == "threshold":
            TALLY[0] += 1
            TALLY[4] = time.monotonic()
        elif tup.stream == "invalid":
            TALLY[1] += 1
        else:
            TALLY[2] += 1
            TALLY[3] += tup.values[3]


def health_topology(par: int = 1, by_patient: bool = False) -> type[Topology]:
    """spout -> parse -> bmi -> threshold -> trend (by rule), every bolt with ``par`` tasks."""
    trend_cls = PatientTrendBolt if by_patient else TrendBolt
    trend_grouping = Grouping.fields("rule") if not by_patient else Grouping.fields("reading_id")

    class BenchHealth(Topology):
        source = BenchHealthSpout.spec(par=1)
        parse = ParseBolt.spec(inputs=[source], par=par)
        bmi = BMIBolt.spec(inputs=[parse], par=par)
        threshold = ThresholdBolt.spec(inputs=[bmi], par=par)
        trend = trend_cls.spec(inputs={threshold: trend_grouping}, par=par)
        tally = Tally.spec(
            inputs={
                threshold: Grouping.SHUFFLE,
                parse["invalid"]: Grouping.SHUFFLE,
                bmi["invalid"]: Grouping.SHUFFLE,
                trend: Grouping.SHUFFLE,
            },
            par=1,
        )

    return BenchHealth


def iter_payloads(work: Workload) -> Iterator[str]:
    return (payload(i, work.keys) for i in range(work.records))


__all__ = [
    "TREND_FIELDS",
    "Outcome",
    "Workload",
    "hand_loop",
    "health_topology",
    "iter_payloads",
    "payload",
    "reset_tally",
    "tally_outcome",
]

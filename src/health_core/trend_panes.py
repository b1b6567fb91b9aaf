"""Exact per-rule alert counts of sliding event-time windows, kept per pane, not per alert.

Pure logic; ``bolts.trend.PaneTrendBolt`` feeds it. It answers what TrendBolt computes from
its stored window (``health_core.trend.count_distinct_by_rule`` over the window's alerts, each
``(rule, source)`` once) without storing a single alert:

* A pane is the ``gcd(window, slide)``-long event-time interval ``(end - pane, end]``. Window
  bounds are multiples of it, so every window ``(start, end]`` is a union of whole panes, and
  its count is a sum over its ``window / pane`` panes: O(panes) per evaluation, O(1) per
  alert.
* Which windows are evaluated is decided as ``squall.windows.manager.WindowManager`` decides it
  for its buffer (the first ends at the slide-multiple at or after the earliest alert; a
  window is due once its end is below the watermark; empty windows are skipped, jumping to the
  first window holding the next alert), with "a pane holds an alert" in place of "the buffer
  holds an event", which is the same thing because window bounds fall on pane bounds.

Replays. An alert whose reading names its ``source`` counts once, however often it is
delivered. Every delivery of a source carries the same event time — a Kafka record's readings
take their time from the payload (self-describing form) or from the record's timestamp (course
form, ``bolts.kafka_parse``), never from their arrival — so all its deliveries fall in one
pane, and counting it once in its pane counts it once in every window. Within a pane the
counter remembers, per rule and Kafka partition, which offsets it counted, as a bitmap over
offsets (``"topic:partition:offset"`` sources): one bit per offset, in chunks of
``CHUNK_OFFSETS`` made when an alert first falls in them. O(1) per alert, exact whatever the
order: the topology delivers a partition's alerts out of order (parallel bolts; the spout
replays a failed record alone, after later ones; a rebalance replays from the last commit),
so "the highest offset counted so far" would drop first deliveries overtaken by later ones.
A source not of Kafka's form is remembered whole, in a set per (pane, rule).

(A source delivered with different event times — a course-form reading parsed with its arrival
time, i.e. without the Kafka timestamp — counts once in each pane it falls in; TrendBolt, which
holds the alerts, would count it once per window.)

Weights (overload). A reading kept after its patient's previous ones were discarded (the
``discard`` policy, see ``squall.realtime.context.keep_weight``) stands for ``w`` readings: its
alert adds ``w``, an estimate of the alerts the discarded readings would have raised (a
patient's readings are alike: the kept one's verdict stands in for theirs). Such a count is an
estimate: ``DueWindow.accuracy`` gives per rule its precision (the share of the count that was
observed) and an error bound of two standard deviations — if each of the w - 1 readings a kept
one stands for alerts independently with the same probability p, its error has variance
(w^2 - w) p (1 - p), at most the sum of w (w - 1) over the kept alerts in expectation, so
``2 * sqrt(sum w (w - 1))`` bounds the error about 95% of the time (not a proof: readings of
one patient are not independent in general). With every weight 1 the counts are exact, as
above. A replay adds nothing, whatever weight it carries.

Memory: per (rule, live pane) a count; for sourced alerts, per (rule, live pane, partition)
the bitmap chunks its offsets fall in: 1 bit per offset of the partition's records in the
pane's span of offsets (rounded up to whole chunks), none per alert. A pane and its bitmaps
are dropped once no window to come can hold it, so the live panes are those of one window
plus the allowed lag and one slide, about: (window + lag + slide) / pane of them.

Checkpoints. ``snapshot`` gives all of it as JSON-ready data (bitmap chunks as base64) and
``restore`` rebuilds the counter, refusing damaged data with the field named: a restored
counter emits the windows the original had not emitted yet, and counts a replay of an offset
the original had counted as nothing (``health_core.trend_checkpoint``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Offsets per bitmap chunk (a power of two): 128 bytes, ~300 with the chunk's object and key.
# At 10,000 readings/s over 4 partitions a 2 s pane spans 5,000 offsets of each, 5-6 chunks; at
# 100 readings/s it spans 50, and a larger chunk would be mostly empty bytes (4,096 offsets
# per chunk made a 600 s window's bitmaps 1.9 MB at 100 readings/s, 1,024 offsets 0.5 MB).
CHUNK_OFFSETS = 1024
_CHUNK_SHIFT = CHUNK_OFFSETS.bit_length() - 1
_BYTE_MASK = CHUNK_OFFSETS // 8 - 1


@dataclass(slots=True)
class _RuleInPane:
    count: int = 0  # alerts, each source once, weighted
    # weighted alerts (see the module docstring): the estimated part of the count, sum(w - 1),
    # and the variance it adds, sum(w (w - 1))
    estimated: int = 0
    variance: int = 0
    # ("topic:partition", chunk number) -> bitmap of the offsets counted (made on first use);
    # one dict, not one per partition: at low rates a pane holds one chunk per partition, and
    # a dict each cost more than the chunk
    offsets: dict[tuple[str, int], bytearray] | None = None
    others: set[str] | None = None  # counted sources not of Kafka's form (made on first use)


@dataclass(frozen=True, slots=True)
class DueWindow:
    """A window that fell due: alerts per rule in ``(start_ms, end_ms]``, each source once.

    ``counts`` holds every rule with an alert in the window (as TrendBolt's window would)."""

    start_ms: int
    end_ms: int
    counts: dict[str, int]
    # rule -> (precision, error bound) of an estimated count (weighted alerts); exact if absent
    accuracy: dict[str, tuple[float, int]] = field(default_factory=dict)


class PaneCounts:
    """Exact per-rule counts of sliding windows from per-pane counters; see the module docstring."""

    def __init__(self, window_ms: int, slide_ms: int) -> None:
        if window_ms <= 0 or slide_ms <= 0 or slide_ms > window_ms:
            raise ValueError(
                f"window and slide must be > 0 ms, the slide at most the window; "
                f"got {window_ms}, {slide_ms}"
            )
        self.window_ms = window_ms
        self.slide_ms = slide_ms
        self.pane_ms = math.gcd(window_ms, slide_ms)
        self.span = window_ms // self.pane_ms  # panes in a window
        self._panes: dict[int, dict[str, _RuleInPane]] = {}  # pane end -> rule -> counters
        self._watermark: int | None = None
        self._next_end: int | None = None  # the end of the next window to evaluate

    def pane_of(self, ts: int) -> int:
        """The end of the pane ``(end - pane_ms, end]`` holding ``ts``."""
        return -(-ts // self.pane_ms) * self.pane_ms

    # -- input -------------------------------------------------------------------------------

    def add(self, rule: str, source: str | None, ts: int, weight: int = 1) -> bool:
        """Count one alert at event time ``ts`` (not behind the watermark: the caller routes
        late alerts elsewhere), standing for ``weight`` alerts (see the module docstring).
        False if ``source`` was counted for ``rule`` in this pane already (a replay)."""
        pane = -(-ts // self.pane_ms) * self.pane_ms
        rules = self._panes.get(pane)
        if rules is None:
            rules = self._panes[pane] = {}
        state = rules.get(rule)
        if state is None:
            state = rules[rule] = _RuleInPane()
        if source is not None and _seen(state, source):
            return False
        state.count += weight
        if weight > 1:
            state.estimated += weight - 1
            state.variance += weight * (weight - 1)
        return True

    # -- windows -----------------------------------------------------------------------------

    def advance(self, watermark: int) -> list[DueWindow]:
        """Move the watermark (never backwards); the windows that fell due, oldest first."""
        if self._watermark is not None and watermark < self._watermark:
            watermark = self._watermark
        self._watermark = watermark
        end = self._next_end
        if end is None:
            if not self._panes:
                return []
            end = self._align(min(self._panes))
        due: list[DueWindow] = []
        while end < watermark:
            start = end - self.window_ms
            if any(p in self._panes for p in range(start + self.pane_ms, end + 1, self.pane_ms)):
                due.append(DueWindow(start, end, *self._count(start, end)))
                end += self.slide_ms
                continue
            # An empty window is skipped, and the empty ones after it (as WindowManager does)
            later = [p for p in self._panes if p > end]
            if not later:
                end = self._align(watermark)
                break
            end = self._align(min(later))
        # Windows ending at or after the watermark can still gain alerts: never skip past them
        self._next_end = min(end, self._align(watermark))
        self._forget(self._next_end - self.window_ms)
        return due

    def _count(self, start: int, end: int) -> tuple[dict[str, int], dict[str, tuple[float, int]]]:
        counts: dict[str, int] = {}
        estimated: dict[str, tuple[int, int]] = {}  # rule -> (sum(w - 1), sum(w (w - 1)))
        for pane in range(start + self.pane_ms, end + 1, self.pane_ms):
            rules = self._panes.get(pane)
            if not rules:
                continue
            for rule, state in rules.items():
                counts[rule] = counts.get(rule, 0) + state.count
                if state.estimated:
                    part, var = estimated.get(rule, (0, 0))
                    estimated[rule] = (part + state.estimated, var + state.variance)
        accuracy = {
            rule: (max(1.0 - part / counts[rule], 1e-9), math.ceil(2.0 * math.sqrt(var)))
            for rule, (part, var) in estimated.items()
            if counts[rule] > 0
        }
        return counts, accuracy

    def _forget(self, before_ms: int) -> None:
        """Drop panes ending at or before ``before_ms``: every window to come starts after.
        Their replays, if any came, would be late (behind the watermark): never counted."""
        for pane in [p for p in self._panes if p <= before_ms]:
            del self._panes[pane]

    def _align(self, ts: int) -> int:
        return -(-ts // self.slide_ms) * self.slide_ms

    # -- checkpoints (bolts.trend.PaneTrendBolt writes them to a Kafka changelog) ------------

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to resume exactly here, as JSON-ready data: the live panes (counts
        and offset bitmaps), the watermark and the next window to evaluate, so windows already
        emitted are not evaluated again and replays of counted offsets still count nothing."""
        return {
            "window_ms": self.window_ms,
            "slide_ms": self.slide_ms,
            "watermark": self._watermark,
            "next_end": self._next_end,
            "panes": [
                [end, {rule: _cell_state(cell) for rule, cell in sorted(rules.items())}]
                for end, rules in sorted(self._panes.items())
            ],
        }

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> PaneCounts:
        """The counter a :meth:`snapshot` was taken of. ValueError naming the bad field when
        ``state`` is not one (a damaged or foreign checkpoint)."""
        if not isinstance(state, Mapping):
            raise ValueError(f"pane state: expected an object, got {type(state).__name__}")
        counts = cls(
            _int(state.get("window_ms"), "window_ms"), _int(state.get("slide_ms"), "slide_ms")
        )
        counts._watermark = _int(state.get("watermark"), "watermark", allow_none=True)
        counts._next_end = _int(state.get("next_end"), "next_end", allow_none=True)
        panes = state.get("panes")
        if not isinstance(panes, list):
            raise ValueError(f"panes: expected a list of [end, rules], got {panes!r:.80}")
        for item in panes:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], Mapping)):
                raise ValueError(f"panes: expected [end, {{rule: counters}}], got {item!r:.80}")
            end = _int(item[0], "panes[].end")
            if end % counts.pane_ms:
                raise ValueError(
                    f"pane end {end} is not a multiple of the pane ({counts.pane_ms} ms)"
                )
            counts._panes[end] = {
                str(rule): _cell_from(cell, f"pane {end} rule {rule!r}")
                for rule, cell in item[1].items()
            }
        return counts

    # -- state, for tests and metrics -------------------------------------------------------

    @property
    def watermark(self) -> int | None:
        """The latest watermark (ms) seen, None before the first."""
        return self._watermark

    def cells(self) -> int:
        """Live (rule, pane) counters: at most rules x live panes."""
        return sum(len(rules) for rules in self._panes.values())

    def panes(self) -> int:
        """Live panes."""
        return len(self._panes)

    def dedup_bytes(self) -> int:
        """Bytes of the replay de-duplication's bitmaps (its sets of foreign sources aside)."""
        return sum(
            len(chunk)
            for rules in self._panes.values()
            for state in rules.values()
            if state.offsets
            for chunk in state.offsets.values()
        )

    def foreign_sources(self) -> int:
        """Sources not of Kafka's form remembered in the live panes."""
        return sum(
            len(state.others)
            for rules in self._panes.values()
            for state in rules.values()
            if state.others
        )


def _cell_state(cell: _RuleInPane) -> dict[str, Any]:
    out: dict[str, Any] = {"count": cell.count}
    if cell.estimated:
        out["estimated"], out["variance"] = cell.estimated, cell.variance
    if cell.offsets:
        # bitmap chunks as base64 text: the snapshot is JSON (the changelog's value)
        out["offsets"] = [
            [partition, chunk, base64.b64encode(bits).decode("ascii")]
            for (partition, chunk), bits in sorted(cell.offsets.items())
        ]
    if cell.others:
        out["others"] = sorted(cell.others)
    return out


def _cell_from(raw: Any, where: str) -> _RuleInPane:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(raw).__name__}")
    cell = _RuleInPane(
        count=_int(raw.get("count"), f"{where}.count"),
        estimated=_int(raw.get("estimated", 0), f"{where}.estimated"),
        variance=_int(raw.get("variance", 0), f"{where}.variance"),
    )
    offsets = raw.get("offsets")
    if offsets:
        cell.offsets = {}
        for n, item in enumerate(offsets):
            try:
                partition, chunk, text = item
                bits = base64.b64decode(text, validate=True)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{where}.offsets[{n}]: not [partition, chunk, base64]: {exc}"
                ) from None
            if not isinstance(partition, str) or len(bits) != CHUNK_OFFSETS // 8:
                raise ValueError(
                    f"{where}.offsets[{n}]: a bitmap of {CHUNK_OFFSETS // 8} bytes of a "
                    f"'topic:partition' was expected, got {partition!r} with {len(bits)} bytes"
                )
            cell.offsets[(partition, _int(chunk, f"{where}.offsets[{n}] chunk"))] = bytearray(bits)
    others = raw.get("others")
    if others:
        if not isinstance(others, list) or not all(isinstance(o, str) for o in others):
            raise ValueError(f"{where}.others: expected a list of source strings")
        cell.others = set(others)
    return cell


def _int(value: Any, where: str, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if type(value) is not int:
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    return value


def _seen(state: _RuleInPane, source: str) -> bool:
    """Whether ``source`` was counted in this (pane, rule) already; if not, remember it."""
    partition, _, offset_text = source.rpartition(":")
    if partition and offset_text.isdecimal():  # "topic:partition:offset" (KafkaParseBolt's)
        offset = int(offset_text)
        chunks = state.offsets
        if chunks is None:
            chunks = state.offsets = {}
        key = (partition, offset >> _CHUNK_SHIFT)
        chunk = chunks.get(key)
        if chunk is None:
            chunk = chunks[key] = bytearray(CHUNK_OFFSETS // 8)
        byte, bit = (offset >> 3) & _BYTE_MASK, 1 << (offset & 7)
        if chunk[byte] & bit:
            return True
        chunk[byte] |= bit
        return False
    others = state.others
    if others is None:
        others = state.others = set()
    if source in others:
        return True
    others.add(source)
    return False

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

Replays. An alert whose reading names its ``source`` counts once per window. The same source
can occur in several panes (a course-form reading takes its parse time, so its replay can land
in another pane), so the counter keeps, per ``(rule, source)``, the sorted panes it occurs in,
and credits each occurrence to its pane by its *gap*: how many panes back the source's previous
occurrence is. In a window ``(start, end]`` an occurrence in pane ``p`` is the source's first
in the window exactly when its previous occurrence is at or before ``start``, i.e. when its gap
is at least ``(p - start) / pane``; counting only first occurrences counts each source once.
Gaps of a window's length or more (and "no previous occurrence") always count, so they are
kept as a plain number; only shorter gaps, from replays, are kept by gap: a pane's work is
O(1) plus the number of distinct short gaps (at most ``window / pane``) among its replays.

(``health_core.trend_sample.TrendSampler`` remembers a source by its first pane only. That is
enough there, because the window's stored tuples are deduplicated again when it is evaluated;
here nothing is stored, so the counter must know every pane a source occurs in.)

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
above. A source's weight is kept with it (replays weigh the same).

Memory: per (rule, live pane) a count and the short gaps of its replays, so O(rules x panes)
for alerts without a source; per ``(rule, source)`` seen in a live pane its pane (the sorted
panes when replayed into several). A pane is forgotten once no window to come can hold it
(its sources are then let go of a few per alert, see ``FORGET_PER_ALERT``), so the sources
are those of the live span: one window plus the allowed lag and one slide, about.
``max_sources`` caps them: a source beyond it raises ``WindowCapacityError`` (the bolt fails
that alert), as a full window buffer does in TrendBolt, whose buffer always holds at least as
many alerts as there are live sources here.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field

from squall.windows.spec import WindowCapacityError

# Sources of forgotten panes are let go a few per alert, not all in the tick that forgets their
# pane: at 10,000 alerts/s a 2 s slide lets 20,000 go, ~20 ms of one loop turn. Forgetting
# more per alert than arrive keeps the backlog below one slide's worth.
FORGET_PER_ALERT = 2
FORGET_PER_TICK = 1_000


@dataclass(slots=True)
class _RuleInPane:
    first: int = 0  # occurrences with no previous one less than a window's length back
    near: dict[int, int] = field(default_factory=dict)  # shorter gap (panes) -> occurrences
    sources: list[str] = field(default_factory=list)  # sources occurring here, to forget them
    # weighted alerts first seen here (see the module docstring): the estimated part of the
    # count, sum(w - 1), and the variance it adds, sum(w (w - 1))
    estimated: int = 0
    variance: int = 0


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

    def __init__(self, window_ms: int, slide_ms: int, max_sources: int) -> None:
        if window_ms <= 0 or slide_ms <= 0 or slide_ms > window_ms:
            raise ValueError(
                f"window and slide must be > 0 ms, the slide at most the window; "
                f"got {window_ms}, {slide_ms}"
            )
        if max_sources < 1:
            raise ValueError(f"max_sources must be >= 1; got {max_sources}")
        self.window_ms = window_ms
        self.slide_ms = slide_ms
        self.pane_ms = math.gcd(window_ms, slide_ms)
        self.span = window_ms // self.pane_ms  # panes in a window
        self.max_sources = max_sources
        self._panes: dict[int, dict[str, _RuleInPane]] = {}  # pane end -> rule -> counters
        # (rule, source) -> the pane it occurs in, or the sorted panes when several (a replay
        # elsewhere): a plain int in the common case, which the garbage collector need not scan
        # (a list per source made its full collections take ~100 ms at 100k sources)
        self._sources: dict[tuple[str, str], int | list[int]] = {}
        self._watermark: int | None = None
        self._next_end: int | None = None  # the end of the next window to evaluate
        # (rule, source, pane) of forgotten panes, oldest pane first, still to let go
        self._forgetting: deque[tuple[str, str, int]] = deque()
        self._weights: dict[tuple[str, str], int] = {}  # (rule, source) -> weight, when > 1

    def pane_of(self, ts: int) -> int:
        """The end of the pane ``(end - pane_ms, end]`` holding ``ts``."""
        return -(-ts // self.pane_ms) * self.pane_ms

    # -- input -------------------------------------------------------------------------------

    def add(self, rule: str, source: str | None, ts: int, weight: int = 1) -> None:
        """Count one alert at event time ``ts`` (not behind the watermark: the caller routes
        late alerts elsewhere), standing for ``weight`` alerts (see the module docstring).
        Raises WindowCapacityError past ``max_sources``."""
        pane = self.pane_of(ts)
        if source is None:
            state = self._state(pane, rule)
            state.first += weight
            if weight > 1:
                state.estimated += weight - 1
                state.variance += weight * (weight - 1)
            return
        if self._forgetting:
            self._let_go(FORGET_PER_ALERT)
        key = (rule, source)
        entry = self._sources.get(key)
        if entry is None:
            if len(self._sources) >= self.max_sources and self._forgetting:
                self._let_go(len(self._forgetting))
            if len(self._sources) >= self.max_sources:
                raise WindowCapacityError(
                    f"{len(self._sources)} distinct alert sources in the live windows, "
                    f"max_sources={self.max_sources}; raise max_events, shorten the window or "
                    f"lower the input rate"
                )
            self._sources[key] = pane
            state = self._state(pane, rule)
            state.first += weight
            if weight > 1:
                self._weights[key] = weight
                state.estimated += weight - 1
                state.variance += weight * (weight - 1)
            state.sources.append(source)
            return
        if entry == pane:
            return  # a replay in the pane the source is counted in
        weight = self._weights.get(key, 1)  # a replay weighs what its first occurrence did
        panes = [entry] if isinstance(entry, int) else entry
        # panes[0] may be a forgotten pane not let go yet: as a previous occurrence it is at or
        # before the start of every window to come, so whatever gap it gives counts, as it should
        i = bisect_left(panes, pane)
        if i < len(panes) and panes[i] == pane:
            return  # a replay in a pane the source is already counted in
        previous = panes[i - 1] if i else None
        state = self._state(pane, rule)
        state.sources.append(source)
        self._credit(state, pane, previous, weight)
        if i < len(panes):  # the next occurrence's previous one is now this one
            after = panes[i]
            later = self._panes[after][rule]
            self._credit(later, after, previous, -weight)
            self._credit(later, after, pane, weight)
        panes.insert(i, pane)
        self._sources[key] = panes

    def _state(self, pane: int, rule: str) -> _RuleInPane:
        rules = self._panes.get(pane)
        if rules is None:
            rules = self._panes[pane] = {}
        state = rules.get(rule)
        if state is None:
            state = rules[rule] = _RuleInPane()
        return state

    def _credit(self, state: _RuleInPane, pane: int, previous: int | None, n: int) -> None:
        gap = self.span if previous is None else (pane - previous) // self.pane_ms
        if gap >= self.span:
            state.first += n
            return
        left = state.near.get(gap, 0) + n
        if left:
            state.near[gap] = left
        else:
            del state.near[gap]

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
            position = (pane - start) // self.pane_ms  # 1 .. span
            for rule, state in rules.items():
                n = state.first
                if state.near:
                    n += sum(k for gap, k in state.near.items() if gap >= position)
                counts[rule] = counts.get(rule, 0) + n
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
        """Drop panes ending at or before ``before_ms``: every window to come starts after."""
        for pane in sorted(p for p in self._panes if p <= before_ms):
            for rule, state in self._panes.pop(pane).items():
                self._forgetting.extend((rule, source, pane) for source in state.sources)
        if self._forgetting:
            self._let_go(FORGET_PER_TICK)

    def _let_go(self, n: int) -> None:
        """Let go of up to ``n`` sources of forgotten panes, oldest pane first."""
        forgetting = self._forgetting
        for _ in range(min(n, len(forgetting))):
            rule, source, pane = forgetting.popleft()
            key = (rule, source)
            panes = self._sources[key]
            if isinstance(panes, int):
                del self._sources[key]
                if self._weights:
                    self._weights.pop(key, None)
                continue
            weight = self._weights.get(key, 1)
            del panes[0]  # == pane: older panes were let go before it, newer ones come after
            if len(panes) == 1:
                self._sources[key] = panes[0]
            # its next occurrence's previous one is at or before every start to come: credit it
            # as a first occurrence (only tidier: its gap counted in every such window anyway)
            after = panes[0]
            rules = self._panes.get(after)
            if rules is not None:  # else forgotten as well, and let go of further on
                later = rules[rule]
                self._credit(later, after, pane, -weight)
                self._credit(later, after, None, weight)

    def _align(self, ts: int) -> int:
        return -(-ts // self.slide_ms) * self.slide_ms

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

    def sources(self) -> int:
        """Distinct (rule, source) pairs remembered for deduplication (some of them from
        forgotten panes, being let go of a few per alert)."""
        return len(self._sources)

"""The window manager: buffers timestamped events and says which windows fall due.

Pure logic, no Storm: the bolt feeds it ``add(item, ts)`` and ``advance(watermark)``; it
returns the windows to evaluate and, through ``take_evicted()``, the events that have left
every window they belong to (the bolt acks those).

One model serves both notions of time. Events are kept sorted by (timestamp, arrival). The
watermark ``W`` promises that no event with a timestamp below ``W`` will still be added, so
the order of events with ``ts <= W`` is final. Then:

* a window ending at a time ``E`` is evaluated once ``E < W`` (every event it can hold has
  arrived);
* a count trigger fires once its ``s``-th event has ``ts <= W``.

Event time: the watermark comes from ``WatermarkGenerator`` (latest timestamps minus the lag).
Processing time: the timestamp is the arrival clock and the watermark is the clock, so count
windows fire on the tuple that completes them, exactly as Storm's.

Windows with a duration slide end at multiples of the slide since the epoch (Storm's
event-time alignment: the first window ends at the ceiling of the earliest timestamp), cover
``(end - length, end]``, and windows with no event are skipped, as in Storm. Each window
reports ``new`` (not in the previous window) and ``expired`` (left since the previous window),
so ``current == previous - expired + new`` whenever windows overlap or touch.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Generic, TypeVar

from squall.windows.spec import (
    DEFAULT_MAX_EVENTS,
    Count,
    Duration,
    Size,
    WindowCapacityError,
    WindowConfigError,
    WindowInputError,
)

T = TypeVar("T")

# A watermark jump that would evaluate more windows than this at once is almost always a
# timestamp in the wrong unit (seconds mixed with milliseconds), not a real gap.
MAX_WINDOWS_PER_ADVANCE = 100_000


@dataclass(frozen=True, slots=True)
class Event(Generic[T]):
    """One item with its timestamp (ms) and its arrival order."""

    ts: int
    seq: int
    item: T


def _ts(event: Event[T]) -> int:
    return event.ts


@dataclass(frozen=True, slots=True)
class Window(Generic[T]):
    """One evaluation of a window.

    ``start``/``end`` are epoch milliseconds: the window holds events with
    ``start < ts <= end``. For a count-length window ``start`` is None (as in Storm) and
    ``end`` is the time it was evaluated at (the last event's timestamp for count triggers).
    """

    current: tuple[T, ...]
    new: tuple[T, ...]
    expired: tuple[T, ...]
    start: int | None
    end: int

    # Storm's TupleWindow names, for readers coming from Java.
    def get(self) -> list[T]:
        """Every item in the window (Storm's ``get``)."""
        return list(self.current)

    def get_new(self) -> list[T]:
        """Items new since the previous window (Storm's ``getNew``)."""
        return list(self.new)

    def get_expired(self) -> list[T]:
        """Items of the previous window no longer in this one (Storm's ``getExpired``)."""
        return list(self.expired)

    def get_start_timestamp(self) -> int | None:
        """The window's start (ms), None for count windows (Storm's ``getStartTimestamp``)."""
        return self.start

    def get_end_timestamp(self) -> int:
        """The window's end (ms) (Storm's ``getEndTimestamp``)."""
        return self.end


def check_timestamp(ts: object, where: str) -> int:
    """A timestamp must be epoch milliseconds: an int >= 0."""
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise WindowInputError(
            f"{where}: timestamp {ts!r} ({type(ts).__name__}) is not epoch milliseconds "
            f"(an int >= 0)"
        )
    if ts < 0:
        raise WindowInputError(f"{where}: timestamp {ts} is negative; expected epoch milliseconds")
    return ts


class WindowManager(Generic[T]):
    """Buffers events and evaluates windows of the given length and sliding interval."""

    def __init__(self, length: Size, slide: Size, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if not isinstance(length, (Count, Duration)) or not isinstance(slide, (Count, Duration)):
            raise WindowConfigError(
                f"length and slide must be Count or Duration; got {length!r}, {slide!r}"
            )
        self.length = length
        self.slide = slide
        if isinstance(length, Count) and length.n >= max_events:
            raise WindowConfigError(
                f"a window of {length} can never fit max_events={max_events}; "
                f"raise max_events to at least {length.n + 1}"
            )
        self.max_events = max_events
        self._buf: list[Event[T]] = []
        self._seq = 0
        self._evicted_total = 0  # events ever removed: buffer index + this = position in order
        self._watermark: int | None = None
        self._fired = 0  # count triggers fired so far
        self._last_end: int | None = None
        self._next_end: int | None = None  # next window end (duration slide)
        self._prev: set[int] = set()  # seqs of the previous window
        self._expired_since: list[T] = []
        self._to_ack: list[T] = []

    # -- state -----------------------------------------------------------------------------

    @property
    def watermark(self) -> int | None:
        """The latest watermark (ms) seen, None before the first."""
        return self._watermark

    def __len__(self) -> int:
        return len(self._buf)

    def buffered(self) -> list[T]:
        """Items held for windows not evaluated yet, oldest first."""
        return [e.item for e in self._buf]

    def is_late(self, ts: int) -> bool:
        """Behind the watermark: the windows it belonged to may have been evaluated already."""
        return self._watermark is not None and ts < self._watermark

    # -- input -----------------------------------------------------------------------------

    def add(self, item: T, ts: int) -> None:
        """Buffer an event. Raises WindowCapacityError when full, WindowInputError when late."""
        check_timestamp(ts, "window event")
        if self.is_late(ts):
            raise WindowInputError(
                f"event with timestamp {ts} is behind the watermark {self._watermark}; "
                f"check is_late() first and route it to the late stream"
            )
        if len(self._buf) >= self.max_events:
            self._compact()
            if len(self._buf) >= self.max_events:
                raise WindowCapacityError(
                    f"the window buffer is full: {len(self._buf)} events buffered, "
                    f"max_events={self.max_events} (window {self.length}, slide {self.slide}, "
                    f"watermark {self._watermark}); raise max_events, shorten the window, or "
                    f"lower the input rate (topology.max.spout.pending)"
                )
        event = Event(ts, self._seq, item)
        self._seq += 1
        if not self._buf or ts >= self._buf[-1].ts:
            self._buf.append(event)
        else:  # out of order within the lag: keep the buffer sorted by (ts, arrival)
            self._buf.insert(bisect_right(self._buf, ts, key=_ts), event)
        if isinstance(self.length, Count):
            self._compact()  # a count window needs only its last n events: stay bounded

    def advance(self, watermark: int) -> list[Window[T]]:
        """Move the watermark (never backwards) and return the windows that fell due."""
        check_timestamp(watermark, "watermark")
        if self._watermark is not None and watermark < self._watermark:
            watermark = self._watermark
        if isinstance(self.slide, Duration):
            self._check_jump(watermark)
        self._watermark = watermark
        windows: list[Window[T]] = []
        if isinstance(self.slide, Count):
            self._fire_count_triggers(windows)
        else:
            self._fire_time_triggers(windows)
        self._compact()
        return windows

    def take_evicted(self) -> list[T]:
        """Events that left every window since the last call (to be acked), oldest first."""
        out, self._to_ack = self._to_ack, []
        return out

    # -- triggers --------------------------------------------------------------------------

    def _final_count(self) -> int:
        """How many buffered events have a final position (ts <= watermark)."""
        if self._watermark is None:
            return 0
        return bisect_right(self._buf, self._watermark, key=_ts)

    def _fire_count_triggers(self, windows: list[Window[T]]) -> None:
        assert isinstance(self.slide, Count)
        every = self.slide.n
        while True:
            trigger = (self._fired + 1) * every - 1 - self._evicted_total
            if trigger >= self._final_count():
                return
            end = self._buf[trigger].ts
            if isinstance(self.length, Count):
                lo, start = max(0, trigger + 1 - self.length.n), None
            else:
                start = end - self.length.ms
                lo = bisect_right(self._buf, start, hi=trigger + 1, key=_ts)
            self._fired += 1
            self._last_end = end
            self._activate(lo, trigger + 1, start, end, windows)

    def _fire_time_triggers(self, windows: list[Window[T]]) -> None:
        assert isinstance(self.slide, Duration) and self._watermark is not None
        every, watermark = self.slide.ms, self._watermark
        end = self._next_end
        if end is None:
            if not self._buf:
                return
            end = _align_up(self._buf[0].ts, every)
        while end < watermark:
            hi = bisect_right(self._buf, end, key=_ts)
            if isinstance(self.length, Duration):
                start_ms = end - self.length.ms
                lo = bisect_right(self._buf, start_ms, hi=hi, key=_ts)
                start: int | None = start_ms
            else:
                start, lo = None, max(0, hi - self.length.n)
            if hi > lo:
                self._activate(lo, hi, start, end, windows)
                end += every
                continue
            # An empty window is skipped, as are the empty ones after it: jump to the first
            # window holding the next event (Storm's "next aligned window").
            self._evict(lo)
            self._prev = set()
            later = bisect_right(self._buf, end, key=_ts)
            if later == len(self._buf):
                end = _align_up(watermark, every)
                break
            end = _align_up(self._buf[later].ts, every)
        # Windows ending at or after the watermark can still gain events (ts >= watermark is
        # not late), so a jump never skips past the first of them.
        self._next_end = min(end, _align_up(watermark, every))

    def _check_jump(self, watermark: int) -> None:
        # Only a count-length window is evaluated at every slide across a gap (its last n
        # events stay in it); duration windows skip empty stretches.
        if not isinstance(self.length, Count) or self._next_end is None or not self._buf:
            return
        assert isinstance(self.slide, Duration)
        due = (watermark - self._next_end) // self.slide.ms
        if due > MAX_WINDOWS_PER_ADVANCE:
            raise WindowInputError(
                f"the watermark jumped from {self._watermark} to {watermark} ms: {due} windows "
                f"would be evaluated at once (limit {MAX_WINDOWS_PER_ADVANCE}); are the "
                f"timestamps epoch milliseconds?"
            )

    def _activate(
        self, lo: int, hi: int, start: int | None, end: int, windows: list[Window[T]]
    ) -> None:
        # Window starts only move forward, so what precedes this window's first event is out
        # of every later window too.
        self._evict(lo)
        current = self._buf[: hi - lo]
        if not current:
            self._prev = set()
            return
        window = Window(
            current=tuple(e.item for e in current),
            new=tuple(e.item for e in current if e.seq not in self._prev),
            expired=tuple(self._expired_since),
            start=start,
            end=end,
        )
        self._expired_since = []
        self._prev = {e.seq for e in current}
        windows.append(window)

    # -- eviction --------------------------------------------------------------------------

    def _compact(self) -> None:
        """Evict what no future window can hold (only events whose position is final)."""
        final = self._final_count()
        if final == 0:
            return
        if isinstance(self.slide, Count):
            if isinstance(self.length, Count):
                next_trigger = (self._fired + 1) * self.slide.n - 1
                k = next_trigger + 1 - self.length.n - self._evicted_total
            elif self._last_end is None:
                k = 0
            else:  # the next window ends no earlier than the last one did
                k = bisect_right(self._buf, self._last_end - self.length.ms, key=_ts)
        else:
            if self._next_end is None:
                return
            if isinstance(self.length, Duration):
                k = bisect_right(self._buf, self._next_end - self.length.ms, key=_ts)
            else:  # every final event is inside all future windows' range: keep the last n
                k = final - self.length.n
        self._evict(max(0, min(k, final)))

    def _evict(self, k: int) -> None:
        if k <= 0:
            return
        items = [e.item for e in self._buf[:k]]
        del self._buf[:k]
        self._evicted_total += k
        self._expired_since.extend(items)
        self._to_ack.extend(items)


def _align_up(ts: int, every: int) -> int:
    """The first multiple of ``every`` at or after ``ts``."""
    return -(-ts // every) * every

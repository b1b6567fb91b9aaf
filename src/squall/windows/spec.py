"""What a window is: its length and sliding interval, each a tuple count or a duration.

The combinations and their meaning are Storm's ``BaseWindowedBolt.withWindow`` /
``withTumblingWindow``:

=============================  =================================================================
``sliding(Count(n), Count(s))``        the last n tuples, evaluated every s tuples
``sliding(Count(n))``                  the last n tuples, evaluated on every tuple
``sliding(Count(n), Duration(d))``     the last n tuples, evaluated every d
``sliding(Duration(l), Duration(d))``  the tuples of the last l, evaluated every d
``sliding(Duration(l))``               the tuples of the last l, evaluated on every tuple
``sliding(Duration(l), Count(s))``     the tuples of the last l, evaluated every s tuples
``tumbling(Count(n))``                 consecutive, non-overlapping groups of n tuples
``tumbling(Duration(d))``              consecutive, non-overlapping periods of d
=============================  =================================================================

Time is processing time (when the bolt sees the tuple) unless ``timestamp_field`` is set: then
it is event time, read from the tuple, with watermarks (see ``squall.windows.watermark``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.errors import ConfigError, SquallError

TICK_FREQ_KEY = "topology.tick.tuple.freq.secs"
MESSAGE_TIMEOUT_KEY = "topology.message.timeout.secs"
MAX_SPOUT_PENDING_KEY = "topology.max.spout.pending"

DEFAULT_MAX_EVENTS = 100_000
DEFAULT_LATE_STREAM = "late"


class WindowError(SquallError):
    """Base class of the windowing errors."""


class WindowConfigError(WindowError, ConfigError):
    """A window setting is missing, of the wrong type or out of range."""


class WindowCapacityError(WindowError):
    """Buffering one more tuple would exceed the window's ``max_events``."""


class WindowInputError(WindowError):
    """A tuple cannot be windowed (e.g. its timestamp is missing or not epoch milliseconds)."""


def _whole_positive(value: object, what: str, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WindowConfigError(
            f"{what} must be a whole number of {unit} (an int > 0); got {value!r} "
            f"({type(value).__name__})"
        )
    if value <= 0:
        raise WindowConfigError(f"{what} must be > 0 {unit}; got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Count:
    """A number of tuples."""

    n: int

    def __post_init__(self) -> None:
        _whole_positive(self.n, "Count", "tuples")

    def __str__(self) -> str:
        return f"{self.n} tuples"


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of time in whole milliseconds (timestamps are epoch milliseconds, like Storm's)."""

    ms: int

    def __post_init__(self) -> None:
        _whole_positive(self.ms, "Duration", "milliseconds")

    @classmethod
    def seconds(cls, seconds: float, what: str = "Duration") -> Duration:
        """``Duration.seconds(2.5)`` == ``Duration(2500)``; rejects what is not a positive number."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise WindowConfigError(
                f"{what} must be a number of seconds > 0; got {seconds!r} ({type(seconds).__name__})"
            )
        if not math.isfinite(seconds) or seconds <= 0:
            raise WindowConfigError(f"{what} must be a finite number of seconds > 0; got {seconds}")
        ms = round(seconds * 1000)
        if ms < 1:
            raise WindowConfigError(f"{what} of {seconds} s is below the 1 ms resolution")
        return cls(ms)

    def __str__(self) -> str:
        return f"{self.ms / 1000:g} s"


Size = Count | Duration


def _size(value: object, what: str) -> Size:
    if not isinstance(value, (Count, Duration)):
        raise WindowConfigError(
            f"{what} must be Count(n) or Duration(ms) (or Duration.seconds(s)); got {value!r} "
            f"({type(value).__name__})"
        )
    return value


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A validated window definition. Build it with :meth:`sliding` or :meth:`tumbling`.

    ``timestamp_field`` switches to event time: a field name (resolved through the input
    stream's declared fields) or a position in the tuple's values. ``lag`` is how far out of
    order timestamps may arrive; ``watermark_interval_s`` how often a watermark is computed
    (it becomes the bolt's tick frequency, so it is whole seconds). Late tuples go to
    ``late_stream``. ``max_events`` bounds the tuples buffered at any time.
    """

    length: Size
    slide: Size = Count(1)
    timestamp_field: str | int | None = None
    lag: Duration | None = None
    watermark_interval_s: int = 1
    late_stream: str = DEFAULT_LATE_STREAM
    max_events: int = DEFAULT_MAX_EVENTS

    def __post_init__(self) -> None:
        _size(self.length, "window length")
        _size(self.slide, "sliding interval")
        field = self.timestamp_field
        if field is not None:
            if isinstance(field, bool) or not isinstance(field, (str, int)):
                raise WindowConfigError(
                    f"timestamp_field must be a field name (str) or a position (int); got {field!r}"
                )
            if isinstance(field, int) and field < 0:
                raise WindowConfigError(f"timestamp_field position must be >= 0; got {field}")
            if isinstance(field, str) and not field:
                raise WindowConfigError("timestamp_field must not be empty")
        elif self.lag is not None:
            raise WindowConfigError(
                f"lag={self.lag} needs event time: set timestamp_field (processing time has no lag)"
            )
        if self.lag is not None and not isinstance(self.lag, Duration):
            raise WindowConfigError(f"lag must be a Duration; got {self.lag!r}")
        _whole_positive(self.watermark_interval_s, "watermark_interval_s", "seconds")
        if not isinstance(self.late_stream, str) or not self.late_stream:
            raise WindowConfigError(
                f"late_stream must be a non-empty stream name; got {self.late_stream!r}"
            )
        _whole_positive(self.max_events, "max_events", "tuples")
        if isinstance(self.length, Count) and self.length.n >= self.max_events:
            # n tuples stay buffered while the next one arrives
            raise WindowConfigError(
                f"a window of {self.length} can never fit max_events={self.max_events}; "
                f"raise max_events to at least {self.length.n + 1} or shorten the window"
            )

    # -- building ------------------------------------------------------------------------

    @classmethod
    def sliding(cls, length: Size, slide: Size = Count(1), **options: Any) -> WindowSpec:
        """A sliding window; without ``slide`` it slides on every tuple (Storm's default)."""
        return cls(length=length, slide=slide, **options)

    @classmethod
    def tumbling(cls, length: Size, **options: Any) -> WindowSpec:
        """Non-overlapping windows: the sliding interval equals the length."""
        return cls(length=length, slide=length, **options)

    # -- derived -------------------------------------------------------------------------

    @property
    def event_time(self) -> bool:
        """True when windows follow a timestamp field rather than arrival time."""
        return self.timestamp_field is not None

    @property
    def lag_ms(self) -> int:
        """The allowed disorder (ms) before a tuple counts as late."""
        return self.lag.ms if self.lag is not None else 0

    @property
    def is_tumbling(self) -> bool:
        """True when windows do not overlap (the slide equals the length)."""
        return self.length == self.slide

    def tick_freq_secs(self) -> int | None:
        """The tick frequency this window needs, or None when tuples alone drive it.

        Event time: one watermark per tick. Processing time with a duration slide: windows
        fall due between tuples, so a tick each second evaluates them at most 1 s late
        (Storm's tick frequency is whole seconds).
        """
        if self.event_time:
            return self.watermark_interval_s
        if isinstance(self.slide, Duration):
            return 1
        return None

    def storm_config(self) -> dict[str, int]:
        """The component config a spec needs (the tick frequency), for ``.spec(config=...)``."""
        freq = self.tick_freq_secs()
        return {} if freq is None else {TICK_FREQ_KEY: freq}

    def check_against(self, conf: Mapping[str, Any], where: str) -> None:
        """Storm's checks against the topology config, with the numbers in the message.

        Tuples stay un-acked while in a window, so a window that outlives the message timeout
        (or needs more tuples than ``max.spout.pending`` lets through) can never complete.
        """
        timeout_s = conf.get(MESSAGE_TIMEOUT_KEY)
        durations = [s.ms for s in (self.length, self.slide) if isinstance(s, Duration)]
        if isinstance(timeout_s, (int, float)) and not isinstance(timeout_s, bool) and durations:
            needed_ms = sum(durations) + self.lag_ms
            if needed_ms > timeout_s * 1000:
                raise WindowConfigError(
                    f"{where}: window length + sliding interval + lag = {needed_ms} ms exceeds "
                    f"{MESSAGE_TIMEOUT_KEY}={timeout_s}; tuples would time out inside the window "
                    f"and be replayed. Raise the timeout above {math.ceil(needed_ms / 1000)} s or "
                    f"shorten the window"
                )
        pending = conf.get(MAX_SPOUT_PENDING_KEY)
        counts = [s.n for s in (self.length, self.slide) if isinstance(s, Count)]
        if isinstance(pending, int) and not isinstance(pending, bool) and pending > 0 and counts:
            if sum(counts) > pending:
                raise WindowConfigError(
                    f"{where}: window length + sliding interval = {sum(counts)} tuples exceeds "
                    f"{MAX_SPOUT_PENDING_KEY}={pending}; the window could never fill. Raise "
                    f"{MAX_SPOUT_PENDING_KEY} to at least {sum(counts)} or use a smaller window"
                )
        if self.tick_freq_secs() is not None:
            freq = conf.get(TICK_FREQ_KEY)
            if freq is None:
                raise WindowConfigError(
                    f"{where}: {self.describe()} is driven by tick tuples but {TICK_FREQ_KEY} is "
                    f"not set in this component's config; give its spec "
                    f"config={self.storm_config()!r} (WindowSpec.storm_config())"
                )

    def describe(self) -> str:
        """One line saying what the windows are, for logs and errors."""
        kind = "tumbling" if self.is_tumbling else "sliding"
        time = (
            f"event-time ({self.timestamp_field!r}, lag {self.lag_ms} ms)"
            if self.event_time
            else "processing-time"
        )
        slide = "" if self.is_tumbling else f" every {self.slide}"
        return f"{time} {kind} window of {self.length}{slide}"

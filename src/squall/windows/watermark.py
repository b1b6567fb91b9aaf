"""Event-time watermarks over one or more input streams.

The watermark is the minimum, over the input streams, of the latest timestamp seen on each,
minus the allowed lag (Storm's ``WaterMarkEventGenerator``). Until every expected input stream
has delivered a tuple there is no watermark: a silent stream holds event time back rather than
let its tuples be declared late. A tuple with a timestamp below the last watermark is late.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from squall.windows.spec import WindowConfigError


class WatermarkGenerator:
    """Tracks per-stream progress; ``compute()`` yields a new watermark when it advanced."""

    def __init__(self, lag_ms: int = 0, input_streams: Iterable[Hashable] = ()) -> None:
        if isinstance(lag_ms, bool) or not isinstance(lag_ms, int) or lag_ms < 0:
            raise WindowConfigError(f"lag must be whole milliseconds >= 0; got {lag_ms!r}")
        self.lag_ms = lag_ms
        self.expected = frozenset(input_streams)
        self._latest: dict[Hashable, int] = {}
        self._watermark: int | None = None

    @property
    def watermark(self) -> int | None:
        """The current watermark (ms): the minimum over input streams, minus the lag."""
        return self._watermark

    def track(self, stream: Hashable, ts: int) -> bool:
        """Record a tuple's timestamp; False when the tuple is late (behind the watermark)."""
        if ts > self._latest.get(stream, -1):
            self._latest[stream] = ts
        return self._watermark is None or ts >= self._watermark

    def waiting_for(self) -> frozenset[Hashable]:
        """Expected input streams that have not delivered a tuple yet."""
        return self.expected - self._latest.keys()

    def progress(self) -> tuple[dict[Hashable, int], int | None]:
        """(latest timestamp per stream, watermark): what :meth:`resume` goes on from.

        A checkpoint of the state these streams feed keeps it, to resume in another process.
        """
        return dict(self._latest), self._watermark

    def resume(self, latest: dict[Hashable, int], watermark: int | None) -> None:
        """Go on from a :meth:`progress` taken earlier (a restart from a checkpoint).

        Tuples behind ``watermark`` are late again, as they were before the restart.
        """
        self._latest = dict(latest)
        self._watermark = watermark

    def compute(self) -> int | None:
        """The new watermark, or None when it did not advance (or some input is still silent)."""
        if not self._latest or self.waiting_for():
            return None
        candidate = min(self._latest.values()) - self.lag_ms
        if candidate < 0 or (self._watermark is not None and candidate <= self._watermark):
            return None
        self._watermark = candidate
        return candidate

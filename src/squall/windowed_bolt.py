"""``WindowedBolt``: Storm's windowed bolts for streamparse.

Subclass it, give it a window and implement ``process_window``::

    class Counter(WindowedBolt):
        window = WindowSpec.sliding(Duration.seconds(10), Duration.seconds(2))
        outputs = [Stream(fields=["count", "start", "end"])]

        def process_window(self, window):
            self.emit([len(window.current), window.start, window.end])

What Storm's ``WindowedBoltExecutor`` does, the base class does:

* tuples are buffered, not acked; each is acked once it has left every window it belongs to;
* emits made in ``process_window`` are anchored to all the tuples of the window, so a failure
  downstream replays them (at-least-once across windows);
* event time (``timestamp_field``): a watermark is computed on every tick tuple over all input
  streams; a tuple behind it is emitted on the late stream (anchored, then acked), never dropped;
* ticks are configured from the window: a class-level ``window`` puts
  ``topology.tick.tuple.freq.secs`` into the class ``config`` (streamparse copies it into the
  spec when the topology passes none); a window built from the Storm config in
  ``window_spec(conf)`` needs ``WindowSpec.storm_config()`` in the spec's config, and
  ``initialize`` says so if it is missing.

Subclasses that override ``initialize`` must call ``super().initialize(conf, context)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar

from pystorm.component import Tuple
from streamparse import Bolt, Stream

from squall.windows.manager import Window, WindowManager, check_timestamp
from squall.windows.spec import (
    TICK_FREQ_KEY,
    WindowCapacityError,
    WindowConfigError,
    WindowInputError,
    WindowSpec,
)
from squall.windows.watermark import WatermarkGenerator

LATE_FIELDS: tuple[str, ...] = ("source", "stream", "task", "values", "ts", "watermark")


def late_stream(name: str = "late") -> Stream:
    """The declaration of a late-tuple stream: where, what and how late each late tuple was."""
    return Stream(fields=list(LATE_FIELDS), name=name)


class WindowedBolt(Bolt):
    """A bolt that processes windows of tuples; implement :meth:`process_window`."""

    # The window, or None when ``window_spec(conf)`` builds it from the Storm config.
    window: ClassVar[WindowSpec | None] = None
    # Field names of the input tuples, used to find a ``timestamp_field`` given by name when
    # the tuples carry no names (Storm and the embedded runner pass namedtuples when the
    # context has ``source->stream->fields``; this is the fallback).
    input_fields: ClassVar[Sequence[str] | None] = None

    auto_ack = False  # acked on leaving the last window, not after process()
    auto_anchor = True  # emits anchor to ``_current_tups``: the window's tuples in process_window

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("window")
        if spec is None:
            return
        if not isinstance(spec, WindowSpec):
            raise WindowConfigError(
                f"{cls.__name__}.window must be a WindowSpec (WindowSpec.sliding/tumbling); "
                f"got {spec!r}"
            )
        cls.config = {**spec.storm_config(), **(cls.config or {})}
        if spec.event_time and not any(
            getattr(s, "name", "default") == spec.late_stream for s in cls.outputs or []
        ):
            cls.outputs = [*(cls.outputs or []), late_stream(spec.late_stream)]

    # -- what subclasses implement ---------------------------------------------------------

    def window_spec(self, conf: Mapping[str, Any]) -> WindowSpec:
        """The window; override to build it from the Storm config (called in initialize)."""
        if self.window is None:
            raise WindowConfigError(
                f"{type(self).__name__} has no window: set the class attribute `window` or "
                f"override window_spec(conf)"
            )
        return self.window

    def process_window(self, window: Window[Tuple]) -> None:
        """Called for each window that falls due; emits here are anchored to its tuples."""
        raise NotImplementedError(f"{type(self).__name__} must implement process_window(window)")

    def add_to_windows(self, tup: Tuple, ts: int) -> None:
        """Buffer a tuple that is not late, at event time ``ts`` (ms).

        Override to filter or sample the input (an approximate mode under overload): a tuple
        the override does not add never leaves a window, so the override must ack it. A
        ``WindowCapacityError`` or ``WindowInputError`` raised here fails the tuple.
        """
        self.windows.add(tup, ts)

    def now(self) -> float:
        """Processing time in epoch seconds; tests replace ``clock`` with a manual one."""
        return self.clock()

    clock: Callable[[], float] = staticmethod(time.time)

    # -- lifecycle -------------------------------------------------------------------------

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        """Build the window manager and watermark from ``window_spec`` (checked against the conf)."""
        name = context.get("componentid", type(self).__name__) if context else type(self).__name__
        self._where = f"windowed bolt {name!r} ({type(self).__name__})"
        spec = self.window_spec(storm_conf or {})
        if not isinstance(spec, WindowSpec):
            raise WindowConfigError(
                f"{self._where}: window_spec() returned {spec!r}, not a WindowSpec"
            )
        spec.check_against(storm_conf or {}, self._where)
        declared = (context or {}).get("stream->outputfields")
        if spec.event_time and declared is not None and spec.late_stream not in declared:
            raise WindowConfigError(
                f"{self._where}: late tuples go to stream {spec.late_stream!r}, which is not "
                f"declared; declared streams: {sorted(declared)}. Add "
                f"late_stream({spec.late_stream!r}) to its outputs"
            )
        freq = (storm_conf or {}).get(TICK_FREQ_KEY)
        needed = spec.tick_freq_secs()
        if needed is not None and isinstance(freq, (int, float)) and freq > needed:
            self.logger.warning(
                "%s: %s=%s is slower than the %s s this window needs; windows will be "
                "evaluated up to %s s late",
                self._where,
                TICK_FREQ_KEY,
                freq,
                needed,
                freq,
            )
        self.spec = spec
        self.windows: WindowManager[Tuple] = WindowManager(spec.length, spec.slide, spec.max_events)
        self.watermarks = WatermarkGenerator(spec.lag_ms, _input_streams(context or {}))
        self.rejected = 0  # tuples failed because the buffer was full or their timestamp bad

    # -- pystorm hooks ---------------------------------------------------------------------

    def _check_initialized(self) -> None:
        if not hasattr(self, "windows"):
            raise WindowConfigError(
                f"{type(self).__name__}.initialize did not run WindowedBolt.initialize; "
                f"call super().initialize(conf, context) from it"
            )

    def process(self, tup: Tuple) -> None:
        """Add a tuple to the windows (late ones go to the ``late`` stream)."""
        self._check_initialized()
        spec = self.spec
        try:
            if spec.event_time:
                ts = self.extract_timestamp(tup)
                # Tracked even if the buffer then refuses the tuple: the source did reach ts,
                # and event time must move on for a full buffer to drain.
                if not self.watermarks.track((tup.component, tup.stream), ts):
                    self._route_late(tup, ts)
                    return
            else:
                ts = self._now_ms()
            self.add_to_windows(tup, ts)
        except (WindowCapacityError, WindowInputError) as exc:
            # Fail rather than crash: the spout replays it later (or reports it given up).
            self.rejected += 1
            self.logger.error("%s: failing tuple %s: %s", self._where, tup.id, exc)
            self.fail(tup)
            return
        if not spec.event_time:
            self._advance(ts)

    def process_tick(self, tup: Tuple) -> None:
        """Evaluate every window the watermark (or processing time) has passed."""
        self._check_initialized()
        if self.spec.event_time:
            watermark = self.watermarks.compute()
            if watermark is not None:
                self._advance(watermark)
        else:
            self._advance(self._now_ms())

    def _run(self) -> None:
        # pystorm's Bolt._run acks tick tuples only when auto_ack is on; ack them here too.
        tup = self.read_tuple()
        self._current_tups = [tup]
        if self.is_heartbeat(tup):
            self.send_message({"command": "sync"})
        elif self.is_tick(tup):
            self.process_tick(tup)
            self.ack(tup)
        else:
            self.process(tup)
        self._current_tups = []

    # -- helpers ---------------------------------------------------------------------------

    def extract_timestamp(self, tup: Tuple) -> int:
        """The event time of a tuple (epoch ms) from ``timestamp_field``; override if nested."""
        field = self.spec.timestamp_field
        values = tup.values
        where = f"{self._where}, tuple {tup.id} from {tup.component}/{tup.stream}"
        if isinstance(field, int):
            if field >= len(values):
                raise WindowInputError(
                    f"{where}: timestamp_field position {field} is out of range for "
                    f"{len(values)} values {list(values)!r}"
                )
            return check_timestamp(values[field], f"{where}, value {field}")
        assert isinstance(field, str)
        names = getattr(values, "_fields", None) or self.input_fields
        if names is None or field not in names:
            raise WindowInputError(
                f"{where}: no field {field!r} in the tuple (fields: {list(names or [])}); "
                f"set input_fields on the bolt or give timestamp_field as a position"
            )
        index = list(names).index(field)
        if index >= len(values):
            raise WindowInputError(
                f"{where}: the tuple has no value for field {field!r}: {values!r}"
            )
        return check_timestamp(values[index], f"{where}, field {field!r}")

    def _now_ms(self) -> int:
        # Processing time never runs backwards (a wall-clock step back must not make
        # tuples late): it holds at the last watermark until the clock catches up.
        now = round(self.now() * 1000)
        last = self.windows.watermark
        return now if last is None or now >= last else last

    def _route_late(self, tup: Tuple, ts: int) -> None:
        values = list(tup.values)
        self.emit(
            [tup.component, tup.stream, tup.task, values, ts, self.watermarks.watermark],
            stream=self.spec.late_stream,
            anchors=[tup],
        )
        self.ack(tup)

    def _advance(self, watermark: int) -> None:
        outer = self._current_tups
        due = self.windows.advance(watermark)
        try:
            for i, window in enumerate(due):
                self._current_tups = list(window.current)
                try:
                    self.process_window(window)
                except Exception:
                    # The manager has moved past these windows: fail their tuples so the
                    # spouts replay them, or they would be acked unprocessed on eviction.
                    self._fail_windows(due[i:], outer)
                    raise
        finally:
            self._current_tups = outer
        for tup in self.windows.take_evicted():
            self.ack(tup)

    def _fail_windows(self, windows: Sequence[Window[Tuple]], current: list[Tuple]) -> None:
        # pystorm itself fails the tuple being processed (auto_fail): do not fail it twice
        failed: set[Any] = (
            {t.id for t in current} if self.auto_fail and len(current) == 1 else set()
        )
        for window in windows:
            for tup in window.current:
                if tup.id not in failed:
                    failed.add(tup.id)
                    self.fail(tup)


def _input_streams(context: Mapping[str, Any]) -> set[Hashable]:
    """(source, stream) pairs this bolt subscribes to, from the Storm/runner context."""
    sources = context.get("source->stream->grouping") or context.get("source->stream->fields") or {}
    return {(source, stream) for source, streams in sources.items() for stream in streams}

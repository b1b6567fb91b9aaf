"""A self-timed real-time context for a spout that no runtime times: under Storm.

The embedded runner times every tuple tree and keeps one overload state per worker; under
Storm (``sparse run``, ``sparse submit``) nothing does, and :func:`realtime_of` gives an inert
context. :func:`attach` gives a spout instead a :class:`SelfTimedContext` that measures from
what the spout itself sees:

- **Latency and misses.** The spout says ``released(tup_id, release_s)`` when it emits a root
  and ``done(tup_id, ok)`` when Storm calls its ``ack`` (the whole tree is acked: Storm's
  complete latency, but from the job's release, not from the emit) or ``fail``. Latency = ack
  time - release; a miss = latency > D. Counted per stream (``component.stream``) in a
  :class:`~squall.realtime.metrics.Metrics`, with the jobs shed by ``discard``.
- **Overload, per spout task** (Storm tells a spout nothing of its worker's load). Every
  ``squall.overload.check.secs`` the context looks at the trees that finished since the last
  look: overload is entered when some were late (acked after their deadline, or failed past it)
  *and* the topology is falling behind: their mean latency grew over the previous look's, or
  the trees in flight reach 90% of ``max.spout.pending``. Late trees with a steady latency are
  a deadline the topology cannot meet at any load, which shedding does not help. Once in,
  any late tree keeps it in; it is left after ``squall.overload.hold.secs`` without one
  (hysteresis: no flapping between entering on a trend and leaving on a steady miss rate);
  ``squall.overload.force`` holds it from the start. ``squall.overload.*.utilization`` do not
  apply: a spout cannot see its worker's busy share.
- **Policies at the spout.** ``discard(stream, key)`` works as embedded: in overload, a firm
  stream declaring ``discard`` skips a job within its (m,k) bound per key; a hard stream never.
  A stream declaring ``rate`` gets a throttle: in overload the spout asks ``turn(stream)`` on
  each ``next_tuple`` and produces new jobs only when it says True, on a share of the calls
  halved at each pressed look down to 1/10, back to all of them when overload ends (the source
  keeps the rest: Kafka as lag). ``imprecise`` is a bolt's policy, and a bolt under Storm has no
  overload signal: its context stays inert, it runs its full work.
- **What a Storm user sees.** Every ``log_every_s`` (10 s) one line per declared stream through
  the spout's logger (pystorm sends it to the worker log): ``realtime routine.default: p99 12.3
  ms, misses 4/1000 (0.4%), shed 3 (discard 3)``, counted since the task started; a line when
  overload is entered or left; a warning the first time a hard stream misses in overload.

Pure: the standard library and ``squall.realtime`` (and ``squall.settings`` to read the keys).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from squall.errors import ConfigError
from squall.realtime.context import ATTRIBUTE, Overload, RealtimeContext
from squall.realtime.deadlines import PREFIX, Deadlines, StreamDeadline
from squall.realtime.metrics import Metrics, StreamMetrics
from squall.settings import Schema, Setting, boolean, duration, integer, optional

LOG_EVERY_S = 10.0  # summary lines in the worker log
FULL_SHARE = 0.9  # trees in flight at this share of max.spout.pending: the topology is full
RATE_FLOOR = 0.1  # the least share of next_tuple calls a ``rate`` stream is given

# The keys this module reads, with the embedded runner's meaning and defaults (RUN_SCHEMA in
# squall.engine.run_settings declares them; the engine is a layer above, so not imported).
_SCHEMA = Schema(
    "the self-timed real-time context",
    None,
    (
        Setting("squall.overload.check.secs", duration(0.001), 0.25),
        Setting("squall.overload.hold.secs", duration(0), 2.0),
        Setting("squall.overload.force", boolean, False),
        Setting("topology.max.spout.pending", optional(integer(1)), None),
    ),
)

log = logging.getLogger(__name__)


class _Untimed:
    """What :func:`attach` gives where a runtime times the trees: every hook does nothing."""

    def released(self, tup_id: Hashable, release_s: float | None, stream: str = "default") -> None:
        pass

    def done(self, tup_id: Hashable, ok: bool) -> None:
        pass

    def turn(self, stream: str = "default") -> bool:
        return True


UNTIMED = _Untimed()


class SelfTimedContext(RealtimeContext):
    """A spout's real-time context that measures its trees itself (see the module docstring)."""

    def __init__(
        self,
        component: str,
        deadlines: Deadlines,
        *,
        check_s: float = 0.25,
        hold_s: float = 2.0,
        force: bool = False,
        max_pending: int | None = None,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
        log_every_s: float = LOG_EVERY_S,
    ) -> None:
        super().__init__(component, deadlines, Metrics(), Overload())
        self.metrics = self._metrics
        self.overload = self._overload
        self.check_s, self.hold_s, self.force = check_s, hold_s, force
        self.max_pending = max_pending
        self.clock = clock
        self.logger = logger or log
        self.log_every_s = log_every_s
        self.streams: dict[str, tuple[StreamDeadline, StreamMetrics]] = {
            d.stream: (d, self._metrics.stream(self.name(d.stream)))
            for d in deadlines
            if d.component == component
        }
        self._rate = {s for s, (d, _) in self.streams.items() if "rate" in d.policies}
        self.rate_factor = 1.0
        self._credit = dict.fromkeys(self._rate, 0.0)
        # tup_id -> (release, absolute deadline, its stream's metrics), until acked or failed
        self.pending: dict[Hashable, tuple[float, float, StreamMetrics]] = {}
        # what finished since the last look: trees, their latency sum, the late ones
        self._done = 0
        self._latency_sum = 0.0
        self._late = 0
        self._last_mean: float | None = None
        self._calm_since: float | None = None
        self._alarmed: set[str] = set()
        self.episodes = 0
        if force:
            self._overload.active, self._overload.reason = True, "squall.overload.force"
        now = clock()
        self._next_check = now + check_s
        self._next_log = now + log_every_s

    @classmethod
    def from_conf(
        cls, component: str, conf: Mapping[str, Any], stream_names: Iterable[str], **kwargs: Any
    ) -> SelfTimedContext:
        """The context of ``component`` whose output streams are ``stream_names``, from the
        Storm config: its own ``squall.realtime.<component>.*`` keys (checked against its
        streams) and the ``squall.overload.*`` keys that apply. ``kwargs`` win over the conf."""
        own = f"{PREFIX}{component}."
        mine = {k: v for k, v in conf.items() if isinstance(k, str) and k.startswith(own)}
        deadlines = Deadlines.from_conf(mine, declared={(component, s) for s in stream_names})
        v = _SCHEMA.read(conf)
        settings: dict[str, Any] = {
            "check_s": v["squall.overload.check.secs"],
            "hold_s": v["squall.overload.hold.secs"],
            "force": v["squall.overload.force"],
            "max_pending": v["topology.max.spout.pending"],
        }
        return cls(component, deadlines, **{**settings, **kwargs})

    # ------------------------------------------------------------------ the spout's hooks
    def released(self, tup_id: Hashable, release_s: float | None, stream: str = "default") -> None:
        """The spout emits root ``tup_id`` on ``stream``, released at ``release_s`` (epoch
        seconds; None: now). A replay is released again with its original time."""
        now = self.clock()
        entry = self.streams.get(stream)
        if entry is not None:
            release = now if release_s is None else release_s
            self.pending[tup_id] = (release, release + entry[0].deadline_s, entry[1])
        self.poll(now)

    def done(self, tup_id: Hashable, ok: bool) -> None:
        """Storm called the spout's ``ack`` (``ok``) or ``fail`` for root ``tup_id``."""
        now = self.clock()
        entry = self.pending.pop(tup_id, None)
        if entry is not None:
            release, deadline, metrics = entry
            if ok:
                metrics.complete(release, deadline, now)
                self._done += 1
                self._latency_sum += now - release
            if now > deadline:  # a failure past its deadline is late too, for overload
                self._late += 1
        self.poll(now)

    def turn(self, stream: str = "default") -> bool:
        """Whether the spout produces new jobs of ``stream`` on this ``next_tuple`` call: always,
        unless overloaded and ``stream`` declares ``rate``; then on ``rate_factor`` of calls."""
        self.poll()
        if not self._overload.active or stream not in self._rate:
            return True
        credit = self._credit[stream] + self.rate_factor
        if credit < 1.0 - 1e-9:  # ten sums of 0.1 make 0.999...: one call in ten, not eleven
            self._credit[stream] = credit
            return False
        self._credit[stream] = credit - 1.0
        return True

    def keep_weight(self, stream: str, key: Hashable) -> int:
        """As :meth:`RealtimeContext.keep_weight` (and so ``discard``), on this context's own,
        up-to-date overload state."""
        self.poll()
        return super().keep_weight(stream, key)

    # ------------------------------------------------------------------ state
    def poll(self, now: float | None = None) -> None:
        """Look at the overload state and write the summary lines when they are due."""
        if now is None:
            now = self.clock()
        if now >= self._next_check:
            self._check(now)
            self._next_check = now + self.check_s
        if now >= self._next_log:
            self.log_summary()
            self._next_log = now + self.log_every_s

    def summary(self) -> list[str]:
        """One line per declared stream: ``realtime <component>.<stream>: p99 ..., misses ...``."""
        lines = []
        for stream in sorted(self.streams):
            name = self.name(stream)
            lines.append(f"realtime {name}: {self._metrics.summary_line(name)}")
        return lines

    def log_summary(self) -> None:
        state = f"; overloaded ({self._overload.reason})" if self._overload.active else ""
        for line in self.summary():
            self.logger.info("%s%s", line, state)

    def _check(self, now: float) -> None:
        late, done = self._late, self._done
        mean = self._latency_sum / done if done else None
        growing = mean is not None and self._last_mean is not None and mean > self._last_mean
        full = self.max_pending is not None and len(self.pending) >= FULL_SHARE * self.max_pending
        if mean is not None:
            self._last_mean = mean
        self._done, self._latency_sum, self._late = 0, 0.0, 0
        ov = self._overload
        # entered on late trees of a topology falling behind; held by any late tree
        if late and (growing or full or ov.active):
            self._calm_since = None
            if not ov.active:
                ov.active = True
                self.episodes += 1
                why = "latency growing" if growing else f"{len(self.pending)} trees in flight"
                ov.reason = f"{late} late tree(s), {why}"
                self.logger.info("realtime %s: overload entered: %s", self.component, ov.reason)
            if self._rate:
                self.rate_factor = max(RATE_FLOOR, self.rate_factor * 0.5)
        elif ov.active and not self.force:
            if self._calm_since is None:
                self._calm_since = now
            if now - self._calm_since >= self.hold_s:
                ov.active, ov.reason = False, ""
                self._calm_since = None
                self.rate_factor = 1.0
                self.logger.info("realtime %s: overload left", self.component)
        if ov.active and late:
            self._alarm()

    def _alarm(self) -> None:
        for stream, (d, metrics) in self.streams.items():
            if d.criticality != "hard" or not metrics.misses or stream in self._alarmed:
                continue
            self._alarmed.add(stream)
            self.logger.warning(
                "realtime OVERLOAD ALARM: hard stream %s misses its %g ms deadline in overload "
                "(%d of %d late so far); add workers, lower the rate, or relax the deadline",
                self.name(stream),
                d.deadline_s * 1000,
                metrics.misses,
                metrics.completed,
            )


def attach(
    component: Any,
    storm_conf: Mapping[str, Any],
    stream_names: Iterable[str] = ("default",),
    **kwargs: Any,
) -> SelfTimedContext | _Untimed:
    """Give spout ``component`` a self-timed context when it runs where no runtime times it.

    Call it at the end of the spout's ``initialize``. Under the embedded runner
    (``squall.embedded``), or when the conf declares no deadline on the spout's streams, it
    sets nothing and returns hooks that do nothing (the runner sets ``realtime`` itself after
    ``initialize``). Otherwise it sets ``component.realtime`` to a :class:`SelfTimedContext`
    (logging through ``component.logger``, which pystorm sends to the worker log) and returns
    it. ``kwargs`` go to the context (``max_pending``, ``clock``...), over the conf's values.
    A bad declaration raises :class:`~squall.realtime.deadlines.DeadlineError` naming the key.
    """
    if storm_conf.get("squall.embedded"):
        return UNTIMED
    name = getattr(component, "component_name", None)
    if not name:
        context = getattr(component, "context", None)
        name = context.get("componentid") if isinstance(context, dict) else None
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"{type(component).__name__}: no component id to key its deadlines by "
            f"({PREFIX}<component>.<stream>.*); attach after Storm's handshake, in initialize"
        )
    kwargs.setdefault("logger", getattr(component, "logger", None))
    ctx = SelfTimedContext.from_conf(name, storm_conf, stream_names, **kwargs)
    if not ctx.streams:
        return UNTIMED
    setattr(component, ATTRIBUTE, ctx)
    ctx.logger.info(
        "realtime %s: self-timed (no embedded runtime): %s",
        name,
        ", ".join(
            f"{ctx.name(s)} {d.criticality} {d.deadline_s * 1000:g} ms"
            for s, (d, _) in sorted(ctx.streams.items())
        ),
    )
    return ctx

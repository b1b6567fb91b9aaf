"""What a component sees of the real-time runtime: overload, (m,k) discards, precision, shedding.

The embedded runner gives every component instance a ``realtime`` attribute, a
:class:`RealtimeContext` for that component; :func:`realtime_of` returns it, or an inert context
(never overloaded, never discards, exact) for a component running where no runtime sets one
(under Storm, or built by hand in a unit test). Components call ``realtime_of(self)`` rather
than reading the attribute, so they work unchanged in both places.

Streams are named as in the deadline declarations: a component's own output stream, e.g. the
spout ``routine``'s ``default`` stream (``squall.realtime.routine.default.*``).

- ``discard(stream, key)``: a spout asks this once per job it is about to emit, with the job's
  key (the patient id): True means skip it now — the runner is in overload, the stream declares
  ``discard``, and the stream's (m,k) bound allows one more discard for that key. The job is
  counted as shed; the caller must not emit it and must treat it as done (ack, commit its
  offset): it is shed, never failed or replayed. Every call is a job of that key for the
  (m,k) bound, discarded or not, so ask for every job, in order.
- ``keep_weight(stream, key)``: the same decision as a number: 0 = discard; otherwise how many
  jobs of ``key`` the kept one stands for (itself and the ones discarded since the key's last
  kept job). Carried with the job, it lets a count downstream estimate what the discarded jobs
  would have added (``health_core.trend_panes``), instead of silently undercounting. A kept
  job that the runner then drops unrun (hopeless at dispatch: see
  ``squall.engine.realtime_runtime``) hands its weight on to its key's next kept job
  (``hand_on``), so that a count downstream weighs those readings too.
- ``degraded(stream)``: True while the runner is in overload and the stream declares
  ``imprecise``: the component runs its mandatory part only, or an approximate mode, and says
  so with ``set_precision``.
- ``shed(stream, policy, n)``: count jobs shed some other way, never silently.

Release time: a spout that knows when a job was released (a Kafka record's timestamp, the time
a synthetic reading was due by its schedule) calls ``set_release(self, epoch_s)`` right before
the ``emit`` of that job's root; the tree's absolute deadline is then that time plus its
stream's D. Without it, a root is released when it is emitted, which hides a spout's own
backlog. Under Storm the attribute is set and ignored.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from squall.realtime.deadlines import Deadlines, StreamDeadline
from squall.realtime.metrics import Metrics
from squall.realtime.mk_firm import MKFirm

ATTRIBUTE = "realtime"  # the instance attribute the runner sets
RELEASE_ATTRIBUTE = "release_time"  # epoch seconds of the next root a spout emits; read once


def set_release(spout: object, epoch_s: float) -> None:
    """The release time, in epoch seconds, of the next root ``spout`` emits (read once)."""
    setattr(spout, RELEASE_ATTRIBUTE, epoch_s)


class Overload:
    """A worker's overload state, shared by the contexts of its components (the worker sets it)."""

    __slots__ = ("active", "reason")

    def __init__(self) -> None:
        self.active = False
        self.reason = ""


class RealtimeContext:
    """The real-time runtime as one component sees it."""

    def __init__(
        self, component: str, deadlines: Deadlines, metrics: Metrics, overload: Overload
    ) -> None:
        self.component = component
        self._deadlines = deadlines
        self._metrics = metrics
        self._overload = overload
        self._mk: dict[str, MKFirm[Any] | None] = {}
        # stream -> key -> jobs discarded since the key's last kept one (keep_weight)
        self._skipped: dict[str, dict[Hashable, int]] = {}
        # (stream, key, weight) of the job keep_weight last kept, until the runner takes it for
        # the root the spout emits next (``take_claim``): that tree may be dropped unrun
        self._claim: tuple[str, Hashable, int] | None = None

    @property
    def overloaded(self) -> bool:
        """True while the worker running this component is in overload."""
        return self._overload.active

    def deadline(self, stream: str = "default") -> StreamDeadline | None:
        """The declaration of this component's ``stream``; None: best effort."""
        return self._deadlines.get(self.component, stream)

    def discard(self, stream: str, key: Hashable) -> bool:
        """Whether to skip this job of ``key`` on ``stream`` now (see the module docstring)."""
        return self.keep_weight(stream, key) == 0

    def keep_weight(self, stream: str, key: Hashable) -> int:
        """0: skip this job of ``key`` now; else the jobs of ``key`` it stands for, itself
        included (see the module docstring)."""
        mk = self._mk.get(stream, _UNSET)
        if mk is _UNSET:
            mk = self._mk[stream] = self._controller(stream)
            self._skipped.setdefault(stream, {})
        if mk is None:
            return 1
        skipped = self._skipped[stream]
        if mk.decide(key, self._overload.active):
            self._metrics.stream(self.name(stream)).add_shed("discard")
            skipped[key] = skipped.get(key, 0) + 1
            return 0
        weight = 1 + skipped.pop(key, 0) if skipped else 1
        self._claim = (stream, key, weight)
        return weight

    def take_claim(self) -> tuple[str, Hashable, int] | None:
        """The runner's, at each root the spout emits: ``(stream, key, weight)`` of the job
        ``keep_weight`` kept just before it, or None (a replay, a stream without (m,k))."""
        claim, self._claim = self._claim, None
        return claim

    def hand_on(self, stream: str, key: Hashable, weight: int) -> None:
        """A kept job of ``key`` was dropped unrun: its ``weight`` goes to the key's next kept
        job, as if this one had been discarded at the spout (its shed is counted elsewhere)."""
        if weight < 1:
            raise ValueError(f"hand_on({stream!r}, {key!r}, {weight!r}): weight must be >= 1")
        skipped = self._skipped.setdefault(stream, {})
        skipped[key] = skipped.get(key, 0) + weight

    def degraded(self, stream: str = "default") -> bool:
        """True while overloaded and ``stream`` declares ``imprecise``: run the mandatory part."""
        if not self._overload.active:
            return False
        d = self._deadlines.get(self.component, stream)
        return d is not None and "imprecise" in d.policies

    def set_precision(self, stream: str, precision: float) -> None:
        """The precision of ``stream``'s results from now on (1 = exact), for the metrics."""
        if not 0.0 < precision <= 1.0:
            raise ValueError(
                f"precision of {self.name(stream)}: {precision!r}; valid: 0 < precision <= 1"
            )
        self._metrics.stream(self.name(stream)).precision = precision

    def shed(self, stream: str, policy: str, n: int = 1) -> None:
        """Count ``n`` jobs of ``stream`` shed by ``policy`` (late, imprecise, discard, rate)."""
        self._metrics.stream(self.name(stream)).add_shed(policy, n)

    def name(self, stream: str) -> str:
        """The metrics name of this component's ``stream``: ``component.stream``."""
        return f"{self.component}.{stream}"

    def _controller(self, stream: str) -> MKFirm[Any] | None:
        d = self._deadlines.get(self.component, stream)
        if d is None or "discard" not in d.policies or d.mk is None:
            return None
        return MKFirm(*d.mk)


_UNSET: Any = object()
INERT = RealtimeContext("", Deadlines(), Metrics(), Overload())


def realtime_of(component: object) -> RealtimeContext:
    """``component``'s real-time context, or an inert one where no runtime gave it one."""
    ctx = getattr(component, ATTRIBUTE, None)
    return ctx if isinstance(ctx, RealtimeContext) else INERT

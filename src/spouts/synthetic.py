"""SyntheticHealthSpout: the course's N producers, simulated in-process, emitting raw payloads.

Output ``["payload"]``: one JSON text per tuple, in either wire form (or deliberately
malformed), exactly what a producer would write to Kafka, so ParseBolt sees the same input from
this spout and from KafkaHealthSpout. ``WardSyntheticSpout`` (the ward's, whose routine
readings may be discarded in overload) adds ``stands_for``: how many readings of its patient
the reading stands for, 1 or more when the ones before it were discarded (below).

Reliable: every tuple carries a string id ``"p<producer>-<seq>"`` (strings survive Storm's JSON
round trip and stay hashable). A failed id is replayed, with its original payload, before any
new reading, up to ``producers.max_replays`` times; after that it is logged as given up and
counted in ``given_up`` rather than retried forever. Memory is bounded: at most
``topology.max.spout.pending`` ids are kept, and no new reading is produced while that many are
in flight.

Real time (issue 11). Each root is released at the time its reading was due by the schedule
(``set_release``), a replay at its original due time: a spout that falls behind shows as late
trees, not as a backlog nobody sees. Before emitting a new reading the spout asks the runtime
whether to discard it (``realtime_of(self).discard``), keyed by the reading's patient: a
discarded reading is never emitted, never pending and never replayed; it is counted in ``shed``
(and by the runtime). The key is known without parsing the payload: discarding happens as early
as it can. The runtime says no unless the stream declares ``discard``, the worker is
overloaded and the patient's (m,k) bound allows it; so a critical (hard) reading never is. A
kept reading after d discarded ones of its patient carries ``stands_for`` = d + 1
(``keep_weight``): the trend counts weigh its alerts by it, an estimate of the discarded
readings' alerts rather than a silent undercount (``health_core.trend_panes``).

Under Storm no runtime times the trees: ``initialize`` attaches a self-timed context
(``squall.realtime.standalone``) that this spout tells of each root's release (at emit) and of
its end (``ack``/``fail``): it counts latency and misses, keeps the spout's overload state for
``discard`` and ``rate``, and logs a summary line per stream to the worker log. Under the
embedded runner these hooks do nothing.

Classes (the ward topology): ``health.producers.reading.class`` set in a spout's own config
makes it send that class only (``health_core.synthetic.class_load``: its own producers and
patients, its share of the load). Its component id must be the class's name: that is how
ParseBolt tags each reading with its class and how its deadlines are keyed
(``squall.realtime.<class>.default.*``).

Settings come from the Storm config (``health.producers.*``, ``health.ward.*``), never from
config.yaml.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from streamparse import Stream

from health_core.config import HealthConfig, HealthConfigError, storm_key
from health_core.parse import epoch_ms
from health_core.synthetic import SyntheticSource, class_load
from squall.realtime.context import realtime_of, set_release
from squall.realtime.standalone import attach
from squall.storm.batched_spout import BatchedSpout

log = logging.getLogger(__name__)
# New readings one next_tuple call looks at: it emits one of them at most, discards the rest.
READINGS_PER_CALL = 256


class SyntheticHealthSpout(BatchedSpout):
    outputs = [Stream(fields=["payload"], name="default")]
    weighs = False  # emit stands_for (WardSyntheticSpout)

    # Epoch ms for the schedule and self-describing ``ts``; a test may replace it.
    clock = staticmethod(epoch_ms)

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        config = HealthConfig.from_storm_conf(storm_conf)
        self.settings, patients = class_load(config.producers, config.ward)
        self.reading_class = self.settings.reading_class
        component = context.get("componentid") if isinstance(context, dict) else None
        if self.reading_class is not None and component != self.reading_class:
            key = storm_key("producers", "reading_class")
            raise HealthConfigError(
                f"{key} = {self.reading_class!r} for spout {component!r}: a spout sending one "
                f"class must have that class's name as its component id (ParseBolt tags its "
                f"readings by it, and its deadlines are squall.realtime.<class>.default.*); "
                f"name the spout {self.reading_class!r}, or leave {key} unset"
            )
        self.max_pending = int(
            storm_conf.get("topology.max.spout.pending") or config.storm.max_spout_pending
        )
        self.source = SyntheticSource(self.settings, start_ms=self.clock(), patients=patients)
        # tup_id -> (payload, release time in epoch seconds, stands_for), until acked or
        # given up
        self.pending: dict[str, tuple[str, float, int]] = {}
        self.replays: dict[str, int] = {}  # tup_id -> replays so far
        self.to_replay: deque[str] = deque()
        self.acked = 0
        self.given_up = 0
        self.shed = 0  # new readings discarded in overload, never emitted
        # Under Storm: a self-timed context (released/done/turn); embedded: hooks that do nothing.
        self.timer = attach(
            self, storm_conf, ("default",), max_pending=self.max_pending, clock=self._clock_s
        )

    def _clock_s(self) -> float:
        return self.clock() / 1000

    def next_tuple(self) -> None:
        if self.to_replay:
            tup_id = self.to_replay.popleft()
            payload, release_s, stands_for = self.pending[tup_id]
            set_release(self, release_s)  # a replay answers to its reading's original deadline
            self.timer.released(tup_id, release_s)
            self.emit([payload, stands_for] if self.weighs else [payload], tup_id=tup_id)
            return
        if len(self.pending) >= self.max_pending:
            return  # back-pressure of our own: bounded memory even without max.spout.pending
        if not self.timer.turn("default"):
            return  # under Storm, the rate policy in overload: the readings stay due, for later
        realtime = realtime_of(self)
        now_ms = self.clock()
        # A discarded reading costs no emit: go on to the next one due, a bounded number of
        # times (unpaced, everything is due, and (m,k) = (k,k) may discard every reading).
        for _ in range(READINGS_PER_CALL):
            record = self.source.next_due(now_ms)
            if record is None:
                return
            stands_for = realtime.keep_weight("default", record.patient)
            if not stands_for:
                self.shed += 1
                continue
            release_s = record.due_ms / 1000
            payload = record.payload
            self.pending[record.tup_id] = (payload, release_s, stands_for)
            set_release(self, release_s)
            self.timer.released(record.tup_id, release_s)
            self.emit([payload, stands_for] if self.weighs else [payload], tup_id=record.tup_id)
            return

    def ack(self, tup_id: Any) -> None:
        self.timer.done(str(tup_id), True)
        if self.pending.pop(str(tup_id), None) is not None:
            self.replays.pop(str(tup_id), None)
            self.acked += 1

    def fail(self, tup_id: Any) -> None:
        tup_id = str(tup_id)
        self.timer.done(tup_id, False)
        if tup_id not in self.pending:
            return  # already given up, or not ours
        count = self.replays.get(tup_id, 0)
        if count >= self.settings.max_replays:
            del self.pending[tup_id]
            self.replays.pop(tup_id, None)
            self.given_up += 1
            log.error("giving up on tuple %s after %d replays", tup_id, count)
            return
        self.replays[tup_id] = count + 1
        self.to_replay.append(tup_id)

    @property
    def finished(self) -> bool:
        """True when the bounded source is exhausted and nothing is in flight."""
        return self.source.exhausted and not self.pending


class WardSyntheticSpout(SyntheticHealthSpout):
    """The ward's spout: ``["payload", "stands_for"]`` (see the module docstring)."""

    outputs = [Stream(fields=["payload", "stands_for"], name="default")]
    weighs = True

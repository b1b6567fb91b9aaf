"""SyntheticHealthSpout: the course's N producers, simulated in-process, emitting raw payloads.

Output ``["payload"]``: one JSON text per tuple, in either wire form (or deliberately
malformed), exactly what a producer would write to Kafka, so ParseBolt sees the same input from
this spout and from KafkaHealthSpout.

Reliable: every tuple carries a string id ``"p<producer>-<seq>"`` (strings survive Storm's JSON
round trip and stay hashable). A failed id is replayed, with its original payload, before any
new reading, up to ``producers.max_replays`` times; after that it is logged as given up and
counted in ``given_up`` rather than retried forever. Memory is bounded: at most
``topology.max.spout.pending`` ids are kept, and no new reading is produced while that many are
in flight.

Settings come from the Storm config (``health.producers.*``), never from config.yaml.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from streamparse import Spout, Stream

from health_core.config import HealthConfig
from health_core.parse import epoch_ms
from health_core.synthetic import SyntheticSource

log = logging.getLogger(__name__)


class SyntheticHealthSpout(Spout):
    outputs = [Stream(fields=["payload"], name="default")]

    # Epoch ms for the schedule and self-describing ``ts``; a test may replace it.
    clock = staticmethod(epoch_ms)

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        config = HealthConfig.from_storm_conf(storm_conf)
        self.settings = config.producers
        self.max_pending = int(
            storm_conf.get("topology.max.spout.pending") or config.storm.max_spout_pending
        )
        self.source = SyntheticSource(self.settings, start_ms=self.clock())
        self.pending: dict[str, str] = {}  # tup_id -> payload, until acked or given up
        self.replays: dict[str, int] = {}  # tup_id -> replays so far
        self.to_replay: deque[str] = deque()
        self.acked = 0
        self.given_up = 0

    def next_tuple(self) -> None:
        if self.to_replay:
            tup_id = self.to_replay.popleft()
            self.emit([self.pending[tup_id]], tup_id=tup_id)
            return
        if len(self.pending) >= self.max_pending:
            return  # back-pressure of our own: bounded memory even without max.spout.pending
        record = self.source.next_due(self.clock())
        if record is None:
            return
        self.pending[record.tup_id] = record.payload
        self.emit([record.payload], tup_id=record.tup_id)

    def ack(self, tup_id: Any) -> None:
        if self.pending.pop(str(tup_id), None) is not None:
            self.replays.pop(str(tup_id), None)
            self.acked += 1

    def fail(self, tup_id: Any) -> None:
        tup_id = str(tup_id)
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

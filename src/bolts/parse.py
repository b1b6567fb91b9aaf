"""ParseBolt: raw payload -> typed reading, or a dead-letter record on the ``invalid`` stream.

Input: any stream whose first field is the raw payload (str or bytes holding JSON), e.g. the
``payload`` field of SyntheticHealthSpout; of further fields only an int last one is read
(``stands_for``, below). KafkaParseBolt reads KafkaHealthSpout's further fields.

Outputs:

* ``default``: ``["reading_id", "ts", "reading"]`` — ``reading`` is ``Reading.to_dict()``
  (id, age, height_cm, weight_kg, ts epoch ms, form); ``ts`` is the arrival time for the
  course form (KafkaParseBolt: the Kafka record's timestamp). A reading from a ward spout also gets ``"class"``: ``"critical"`` or
  ``"routine"``, the name of the spout that emitted it (the ward names each class's spout after
  its class, see spouts/synthetic.py). Producers write no class: it says where a reading came
  from, not what it holds, so the wire format stays the course's. Other readings get no
  ``class`` key (health.py's are unchanged). A reading standing for others of its patient
  that were discarded in overload (an int > 1 as the input tuple's last value, the spouts'
  ``stands_for``) gets ``"stands_for"``: the trend counts weigh its alerts by it.
* ``invalid``: ``["raw", "reason", "ts"]`` — the payload as text (bounded, see
  ``health_core.parse.raw_preview``), a readable reason, and the arrival time in epoch ms.

Every input tuple is acked exactly once and produces exactly one output tuple: a malformed
payload is data, not a failure, so replaying it would only produce the same answer again.
"""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from health_core.config import READING_CLASSES, HealthConfig
from health_core.parse import Reading, epoch_ms, parse_payload, raw_preview
from health_core.report import INVALID_FIELDS


class ParseBolt(Bolt):
    outputs = [
        Stream(fields=["reading_id", "ts", "reading"], name="default"),
        Stream(fields=list(INVALID_FIELDS), name="invalid"),
    ]

    # Arrival time source (epoch ms); a test may replace it to control course-form timestamps.
    clock = staticmethod(epoch_ms)

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        settings = HealthConfig.from_storm_conf(storm_conf).parse
        self.max_payload_bytes = settings.max_payload_bytes
        self.preview_chars = settings.invalid_preview_chars

    def event_ms(self, tup: Any) -> int | None:
        """The event time of a course-form reading, if the input says (else the arrival)."""
        return None

    def stands_for(self, tup: Any) -> Any:
        """The readings of its patient this one stands for (see the module docstring)."""
        return tup.values[-1]

    def process(self, tup: Any) -> None:
        now_ms = self.clock()
        payload = tup.values[0] if tup.values else None
        try:
            result = parse_payload(
                payload, now_ms, self.max_payload_bytes, event_ms=self.event_ms(tup)
            )
        except (
            Exception
        ) as exc:  # parse_payload is total; this guards a bug from killing the worker
            self.emit(
                [raw_preview(payload, self.preview_chars), f"parser error: {exc!r}", now_ms],
                stream="invalid",
            )
            return
        if isinstance(result, Reading):
            reading = result.to_dict()
            if tup.component in READING_CLASSES:
                reading["class"] = tup.component
            stands_for = self.stands_for(tup)
            if type(stands_for) is int and stands_for > 1:
                reading["stands_for"] = stands_for
            self.emit([result.id, result.ts, reading])
        else:
            self.emit(
                [raw_preview(payload, self.preview_chars), result.reason, now_ms],
                stream="invalid",
            )

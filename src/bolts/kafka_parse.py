"""KafkaParseBolt: ParseBolt for KafkaHealthSpout's tuples, which say where a record came from.

Input: ``["payload", "source", "timestamp_ms"]`` (KafkaHealthSpout) or ``["payload", "source",
"timestamp_ms", "stands_for"]`` (WardKafkaSpout); ``source`` is "topic:partition:offset".

* A course-form reading, which carries no time, takes the record's Kafka ``timestamp_ms`` as
  its event time ``ts``: unlike the arrival time it is the same on every delivery, so a replayed
  reading's alerts fall in the same trend panes as the first delivery's and are counted once
  (``health_core.trend_panes``). A timestamp that is not epoch milliseconds makes the reading
  invalid, with the value in the reason; a tuple without one (two values) falls back to the
  arrival time, as ParseBolt does. Self-describing readings keep their own ``ts``.
* A valid reading gets the coordinates as its ``source`` key: alerts then name their record,
  and the trend bolts count a replayed reading once per window.
* ParseBolt's ``invalid`` stream is ``["raw", "reason", "ts"]``; this subclass appends the
  source, ``["raw", "reason", "ts", "source"]``, so the dead-letter record names the exact
  Kafka record.

Parsing itself is ParseBolt's, unchanged.
"""

from __future__ import annotations

from typing import Any

from streamparse import Stream

from bolts.parse import ParseBolt
from health_core.report import INVALID_FIELDS

_SOURCE, _TIMESTAMP, _STANDS_FOR = 1, 2, 3  # positions in the spout's tuple


class KafkaParseBolt(ParseBolt):
    outputs = [
        ParseBolt.outputs[0],
        Stream(fields=[*INVALID_FIELDS, "source"], name="invalid"),
    ]

    def process(self, tup: Any) -> None:
        self._source = tup.values[_SOURCE] if len(tup.values) > _SOURCE else None
        super().process(tup)

    def event_ms(self, tup: Any) -> int | None:
        return tup.values[_TIMESTAMP] if len(tup.values) > _TIMESTAMP else None

    def stands_for(self, tup: Any) -> Any:
        return tup.values[_STANDS_FOR] if len(tup.values) > _STANDS_FOR else 1

    def emit(self, tup: list[Any], stream: str | None = None, **kwargs: Any) -> Any:
        if stream == "invalid":
            tup = [*tup, self._source]
        elif self._source is not None:
            # The reading names its record too: the trend bolts count a replayed reading once.
            reading_id, ts, reading = tup
            tup = [reading_id, ts, {**reading, "source": self._source}]
        return super().emit(tup, stream=stream, **kwargs)

"""KafkaParseBolt: ParseBolt that keeps where an invalid payload came from.

ParseBolt's ``invalid`` stream is ``["raw", "reason", "ts"]``; fed by KafkaHealthSpout, whose
tuples carry ``source`` ("topic:partition:offset") as a second field, this subclass appends it:
``["raw", "reason", "ts", "source"]``, so the dead-letter record names the exact Kafka record.
A valid reading gets the same coordinates as its ``source`` key: alerts then name their record,
and TrendBolt counts a replayed reading once per window.
Parsing itself is ParseBolt's, unchanged.
"""

from __future__ import annotations

from typing import Any

from streamparse import Stream

from bolts.parse import ParseBolt
from health_core.report import INVALID_FIELDS


class KafkaParseBolt(ParseBolt):
    outputs = [
        ParseBolt.outputs[0],
        Stream(fields=[*INVALID_FIELDS, "source"], name="invalid"),
    ]

    def process(self, tup: Any) -> None:
        self._source = tup.values[1] if len(tup.values) > 1 else None
        super().process(tup)

    def emit(self, tup: list[Any], stream: str | None = None, **kwargs: Any) -> Any:
        if stream == "invalid":
            tup = [*tup, self._source]
        elif self._source is not None:
            # The reading names its record too: TrendBolt counts a replayed reading once.
            reading_id, ts, reading = tup
            tup = [reading_id, ts, {**reading, "source": self._source}]
        return super().emit(tup, stream=stream, **kwargs)

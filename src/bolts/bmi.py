"""BMIBolt: adds ``bmi`` and its WHO ``bmi_class`` to each reading.

Input ``["reading_id", "ts", "reading"]`` (ParseBolt's default stream); output the same fields,
with ``reading`` extended by ``bmi`` (float) and ``bmi_class`` (see ``health_core.bmi``). A reading
without a usable height/weight (only possible when wired to something other than ParseBolt)
goes to the ``invalid`` stream with the reason, like ParseBolt's.
"""

from __future__ import annotations

import json
import time
from typing import Any

from streamparse import Bolt, Stream

from health_core.bmi import bmi, who_class
from health_core.report import INVALID_FIELDS


class BMIBolt(Bolt):
    outputs = [
        Stream(fields=["reading_id", "ts", "reading"], name="default"),
        Stream(fields=list(INVALID_FIELDS), name="invalid"),
    ]

    def process(self, tup: Any) -> None:
        reading_id, ts, reading = tup.values
        try:
            value = bmi(reading["weight_kg"], reading["height_cm"])
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"cannot compute BMI of reading {reading_id!r}: {exc!r}"
            raw = json.dumps(reading, default=str)
            self.emit([raw, reason, time.time_ns() // 1_000_000], stream="invalid")
            return
        self.emit([reading_id, ts, {**reading, "bmi": value, "bmi_class": who_class(value)}])

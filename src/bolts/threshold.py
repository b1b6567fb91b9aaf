"""ThresholdBolt: one alert per rule that fires for a reading.

Rules come from config.yaml's ``rules`` through the Storm config key ``health_core.rules`` (a list of
rule strings, see ``health_core.rules``); defaults ``weight_kg > 80`` and ``bmi > 35``.

Input: ``["reading_id", "ts", "reading"]`` from BMIBolt (``reading`` has ``bmi``).

Output stream ``default`` — the alert tuple, the contract TrendBolt and the sinks rely on:

* ``rule`` (str): the rule's canonical text, e.g. ``"weight_kg > 80"``; group by it;
* ``reading_id`` (int): the reading's ``id``;
* ``ts`` (int): the reading's time in epoch milliseconds (event time for the self-describing
  form, arrival time at ParseBolt for the course form);
* ``reading`` (dict): id, age, height_cm, weight_kg, ts, form, bmi, bmi_class.

A reading that fires no rule produces nothing; one that fires k rules produces k alerts, in
the order of the rules in config.yaml. Alerts are anchored to the reading.

Stream ``trend_only`` (same fields): the alerts of a *catch-up* reading, one the Kafka spout
re-emits after a restart so that restored trend windows count what they had not counted
(``squall.kafka.changelog``; its ``source`` starts with ``CATCHUP_MARK``). Its alerts were
written to the alerts topic on the first delivery, so they go only to the trend feed (wire it
to both streams), with the mark taken off: the trend panes see the record's own source and
count it once.
"""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from health_core.config import HealthConfig
from health_core.report import ALERT_FIELDS
from health_core.rules import firing
from squall.kafka.changelog import CATCHUP_MARK


class ThresholdBolt(Bolt):
    outputs = [
        Stream(fields=list(ALERT_FIELDS), name="default"),
        Stream(fields=list(ALERT_FIELDS), name="trend_only"),
    ]

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self.rules = HealthConfig.from_storm_conf(storm_conf).rules

    def process(self, tup: Any) -> None:
        reading_id, ts, reading = tup.values
        source = reading.get("source") if isinstance(reading, dict) else None
        stream = None
        if isinstance(source, str) and source.startswith(CATCHUP_MARK):
            reading = {**reading, "source": source[len(CATCHUP_MARK) :]}
            stream = "trend_only"
        for rule in firing(self.rules, reading):
            self.emit([rule.name, reading_id, ts, reading], stream=stream)

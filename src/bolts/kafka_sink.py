"""Kafka sinks of the health topology: alerts, trend windows and dead letters, one topic each.

Each acks its input only after the broker acknowledged the write (``squall.kafka.sink``).
Wire them with ``config={"topology.tick.tuple.freq.secs": 1}`` so the last writes of a burst
are acked without waiting for more input.

Topics: ``health.kafka.alerts.topic``, ``health.kafka.trends.topic`` and
``health.kafka.invalid.topic`` (config.yaml's ``kafka`` section).

Record values are JSON objects named by the input stream's fields:

* alerts: ``{"rule", "reading_id", "ts", "reading", "alert_id"}``, key = reading id;
  ``alert_id`` is ``"<topic>:<partition>:<offset>/<rule>"`` of the reading's record (the same
  on every replay, so a consumer can drop duplicates by it), or null for a reading that did not
  come from Kafka;
* trends: the trend tuple's fields, key = rule when present;
* dead letters: ``{"raw", "reason", "ts", "source": {"topic", "partition", "offset"} | null,
  "stage": <component>}``, key = the source "topic:partition:offset" when known.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from health_core.config import HealthConfig
from squall.kafka.sink import KafkaSinkBolt


def _json(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), default=str).encode()


class _HealthKafkaSink(KafkaSinkBolt):
    def bootstrap_servers(self, conf: Mapping[str, Any]) -> list[str]:
        return list(HealthConfig.from_storm_conf(conf).kafka.bootstrap_servers)


class AlertsKafkaSink(_HealthKafkaSink):
    def sink_topic(self, conf: Mapping[str, Any]) -> str:
        return HealthConfig.from_storm_conf(conf).kafka.alerts_topic

    def to_record(self, tup: Any, record: dict[str, Any]) -> tuple[bytes | None, bytes]:
        key = record.get("reading_id")
        reading = record.get("reading")
        source = reading.get("source") if isinstance(reading, dict) else None
        # at-least-once delivers an alert again after a replay: the same id both times
        record["alert_id"] = f"{source}/{record.get('rule')}" if isinstance(source, str) else None
        return (None if key is None else str(key).encode()), _json(record)


class TrendsKafkaSink(_HealthKafkaSink):
    def sink_topic(self, conf: Mapping[str, Any]) -> str:
        return HealthConfig.from_storm_conf(conf).kafka.trends_topic

    def to_record(self, tup: Any, record: dict[str, Any]) -> tuple[bytes | None, bytes]:
        key = record.get("rule")
        return (None if key is None else str(key).encode()), _json(record)


def source_object(source: Any) -> dict[str, Any] | None:
    """``"readings:2:17"`` -> ``{"topic": "readings", "partition": 2, "offset": 17}``."""
    if not isinstance(source, str):
        return None
    parts = source.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return {"text": source}
    return {"topic": parts[0], "partition": int(parts[1]), "offset": int(parts[2])}


class DeadLetterKafkaSink(_HealthKafkaSink):
    def sink_topic(self, conf: Mapping[str, Any]) -> str:
        return HealthConfig.from_storm_conf(conf).kafka.invalid_topic

    def to_record(self, tup: Any, record: dict[str, Any]) -> tuple[bytes | None, bytes]:
        source = record.pop("source", None)
        out = {
            "raw": record.pop("raw", None),
            "reason": record.pop("reason", None),
            "ts": record.pop("ts", None),
            "source": source_object(source),
            "stage": tup.component,
            **record,
        }
        return (source.encode() if isinstance(source, str) else None), _json(out)

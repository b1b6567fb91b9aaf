"""KafkaHealthSpout: the health topology's readings from Kafka, reliably (at-least-once).

Emits ``["payload", "source"]``: the record's value as text, untouched (ParseBolt parses both
wire forms and routes malformed ones to its ``invalid`` stream), and ``"topic:partition:offset"``
so dead-letter records can name where a bad payload came from. The tuple id is that same
string. Consumer group, commits, replays, dead-lettering and rebalances: see
``squall.kafka.spout``.

Settings: ``health.kafka.bootstrap.servers``, ``.readings.topic``, ``.group.id`` and
``.invalid.topic`` (the dead-letter topic) from config.yaml; ``squall.kafka.spout.*`` tuning
(``squall.kafka.settings``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamparse import Stream

from health_core.config import HealthConfig
from squall.kafka.spout import KafkaSpoutSettings, ReliableKafkaSpout


class KafkaHealthSpout(ReliableKafkaSpout):
    outputs = [Stream(fields=["payload", "source"], name="default")]

    def settings_from_conf(self, conf: Mapping[str, Any]) -> KafkaSpoutSettings:
        kafka = HealthConfig.from_storm_conf(conf).kafka
        return KafkaSpoutSettings(
            bootstrap_servers=tuple(kafka.bootstrap_servers),
            topics=(kafka.readings_topic,),
            group_id=kafka.group_id,
            dead_letter_topic=kafka.invalid_topic,
            **KafkaSpoutSettings.tuning(conf),
        )

    def to_values(
        self, topic: str, partition: int, offset: int, value: str, stands_for: int = 1
    ) -> list[Any]:
        return [value, f"{topic}:{partition}:{offset}"]


class WardKafkaSpout(KafkaHealthSpout):
    """The ward's Kafka spout: ``["payload", "source", "stands_for"]``, ``stands_for`` as in
    WardSyntheticSpout (ParseBolt reads it as the tuple's last value)."""

    outputs = [Stream(fields=["payload", "source", "stands_for"], name="default")]

    def to_values(
        self, topic: str, partition: int, offset: int, value: str, stands_for: int = 1
    ) -> list[Any]:
        return [value, f"{topic}:{partition}:{offset}", stands_for]

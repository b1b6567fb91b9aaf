"""KafkaHealthSpout: the health topology's readings from Kafka, reliably (at-least-once).

Emits ``["payload", "source", "timestamp_ms"]``: the record's value as text, untouched
(ParseBolt parses both wire forms and routes malformed ones to its ``invalid`` stream),
``"topic:partition:offset"`` so dead-letter records can name where a bad payload came from (the
tuple id is that same string), and the record's Kafka timestamp (epoch ms, None if it has none):
KafkaParseBolt makes it the event time of a course-form reading, which carries no time of its
own. Unlike the arrival time, it is the same on every delivery of the record, so a replay falls
in the same trend window as the first delivery (``health_core.trend_panes``). Consumer group, commits, replays, dead-lettering and rebalances: see
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
from squall.kafka.errors import KafkaConfigError
from squall.kafka.settings import KafkaSpoutSettings
from squall.kafka.spout import ReliableKafkaSpout


class KafkaHealthSpout(ReliableKafkaSpout):
    outputs = [Stream(fields=["payload", "source", "timestamp_ms"], name="default")]

    def settings_from_conf(self, conf: Mapping[str, Any]) -> KafkaSpoutSettings:
        kafka = HealthConfig.from_storm_conf(conf).kafka
        return KafkaSpoutSettings(
            bootstrap_servers=tuple(kafka.bootstrap_servers),
            topics=(kafka.readings_topic,),
            group_id=kafka.group_id,
            dead_letter_topic=kafka.invalid_topic,
            **KafkaSpoutSettings.tuning(conf),
        )

    def catch_up_changelog(self, conf: Mapping[str, Any]) -> str | None:
        # the trend windows' checkpoints (bolts.trend.PaneTrendBolt), when they are kept
        return HealthConfig.from_storm_conf(conf).kafka.trends_changelog_topic

    def to_values(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: str,
        stands_for: int = 1,
        timestamp_ms: int | None = None,
    ) -> list[Any]:
        return [value, f"{topic}:{partition}:{offset}", timestamp_ms]


class WardKafkaSpout(KafkaHealthSpout):
    """The ward's Kafka spout: ``["payload", "source", "timestamp_ms", "stands_for"]``,
    ``stands_for`` as in WardSyntheticSpout (KafkaParseBolt reads it as the fourth value)."""

    outputs = [Stream(fields=["payload", "source", "timestamp_ms", "stands_for"], name="default")]

    def catch_up_changelog(self, conf: Mapping[str, Any]) -> str | None:
        topic = super().catch_up_changelog(conf)
        if topic is not None:
            # Two spouts, two groups, and no trend_only wiring: a catch-up here would count
            # wrong, so it is refused rather than half done.
            raise KafkaConfigError(
                f"health.kafka.trends.changelog.topic={topic!r}: the ward topology does not "
                f"keep trend checkpoints (its two spouts read with two consumer groups); set "
                f"it to null (kafka.trends_changelog_topic in config.yaml) for the ward"
            )
        return None

    def to_values(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: str,
        stands_for: int = 1,
        timestamp_ms: int | None = None,
    ) -> list[Any]:
        return [value, f"{topic}:{partition}:{offset}", timestamp_ms, stands_for]

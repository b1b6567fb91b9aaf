"""Topic retention from config.yaml (issue 17, item 4): `squall kafka start --retention-from`
and ``squall.kafka.retention``; the broker's answer read with kafka-python's own admin."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from squall.kafka.admin import ensure_topics
from squall.kafka.errors import KafkaConfigError
from squall.kafka.retention import retention_from_file, retention_of_section, set_retention

ROOT = Path(__file__).parents[2]


def test_config_yaml_gives_every_health_topic_a_retention() -> None:
    kafka = yaml.safe_load((ROOT / "config.yaml").read_text())["kafka"]
    expected = {
        kafka["readings_topic"]: 168 * 3_600_000,
        kafka["critical_readings_topic"]: 168 * 3_600_000,
        kafka["alerts_topic"]: 720 * 3_600_000,
        kafka["invalid_topic"]: 168 * 3_600_000,
        kafka["trends_topic"]: 720 * 3_600_000,
    }
    assert retention_from_file(ROOT / "config.yaml") == expected


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"alerts_topic": "a", "alert_retention_hours": 5}, "kafka.alert_retention_hours"),
        ({"alerts_topic": "a", "alerts_retention_hours": 0}, "whole number of hours >= 1; got 0"),
        ({"alerts_topic": "a", "alerts_retention_hours": "7d"}, "got '7d'"),
    ],
)
def test_a_wrong_retention_is_refused_naming_it(section: dict, named: str) -> None:
    with pytest.raises(KafkaConfigError, match=named.replace(".", r"\.").replace("'", "'")):
        retention_of_section(section, "x.yaml")


def test_a_topic_without_a_retention_keeps_the_brokers_default() -> None:
    assert retention_of_section({"alerts_topic": "a", "group_id": "g"}, "x.yaml") == {}


def _retention_ms(bootstrap: str, topic: str) -> int:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        answer = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
        )
    finally:
        admin.close()
    return int(answer["topic"][topic]["retention.ms"]["value"])


@pytest.mark.kafka
def test_retention_is_set_on_the_broker_and_only_retention(kafka_bootstrap: str) -> None:
    ensure_topics(kafka_bootstrap, {"ret.readings": 1, "ret.alerts": 1})
    assert _retention_ms(kafka_bootstrap, "ret.alerts") == 7 * 24 * 3_600_000  # Kafka's default
    set_retention(kafka_bootstrap, {"ret.readings": 3 * 3_600_000})
    assert _retention_ms(kafka_bootstrap, "ret.readings") == 3 * 3_600_000
    assert _retention_ms(kafka_bootstrap, "ret.alerts") == 7 * 24 * 3_600_000  # untouched
    with pytest.raises(KafkaConfigError, match="no topic 'ret.missing'"):
        set_retention(kafka_bootstrap, {"ret.missing": 3_600_000})

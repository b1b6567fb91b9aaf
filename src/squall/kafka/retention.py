"""How long the broker keeps each topic's records (Kafka's ``retention.ms``), set from a
settings file: health readings should not outlive their use.

The file is a YAML mapping with a ``kafka`` section (the project's config.yaml). Each
``<role>_topic: NAME`` there with a sibling ``<role>_retention_hours: H`` gives topic NAME a
retention of H hours; a topic without one keeps the broker's default (7 days). squall reads the
file as plain YAML: what the keys mean to the app is the app's (``health_core.config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from squall.kafka.errors import KafkaConfigError
from squall.kafka.security import PLAIN, ClientSecurity

HOUR_MS = 3_600_000


def retention_from_file(path: Path) -> dict[str, int]:
    """Topic name -> retention in ms, from ``path``'s ``kafka`` section."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KafkaConfigError(f"cannot read the retention settings in {path}: {exc}") from None
    section = doc.get("kafka") if isinstance(doc, Mapping) else None
    if not isinstance(section, Mapping):
        raise KafkaConfigError(f"{path} has no 'kafka' section to take topic retention from")
    return retention_of_section(section, str(path))


def retention_of_section(section: Mapping[str, Any], where: str) -> dict[str, int]:
    """Topic name -> retention in ms for each ``<role>_topic`` with a ``<role>_retention_hours``."""
    orphans = sorted(
        k
        for k in section
        if isinstance(k, str)
        and k.endswith("_retention_hours")
        and k[: -len("_retention_hours")] + "_topic" not in section
    )
    if orphans:  # a misspelt role would otherwise leave its topic's data kept forever
        raise KafkaConfigError(
            f"kafka.{orphans[0]} in {where} names no topic: there is no "
            f"kafka.{orphans[0][: -len('_retention_hours')]}_topic"
        )
    out: dict[str, int] = {}
    for key, topic in section.items():
        if not (isinstance(key, str) and key.endswith("_topic")) or topic is None:
            continue
        hours_key = key[: -len("_topic")] + "_retention_hours"
        if hours_key not in section:
            continue
        hours = section[hours_key]
        if type(hours) is not int or hours < 1:
            raise KafkaConfigError(
                f"kafka.{hours_key} in {where} must be a whole number of hours >= 1; got {hours!r}"
            )
        out[str(topic)] = hours * HOUR_MS
    return out


def set_retention(
    bootstrap: str, retention_ms: Mapping[str, int], security: ClientSecurity = PLAIN
) -> dict[str, int]:
    """Set ``retention.ms`` on each existing topic of ``retention_ms`` (only that key: the
    topic's other settings stay); return what was set. A missing topic is an error naming it."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    from squall.kafka.admin import list_topics

    existing = list_topics(bootstrap, security)
    missing = sorted(t for t in retention_ms if t not in existing)
    if missing:
        raise KafkaConfigError(
            f"no topic {', '.join(map(repr, missing))} on {bootstrap} to set a retention on; "
            "create it first (squall kafka start --topics NAME[:PARTITIONS],...)"
        )
    if not retention_ms:
        return {}
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="squall-admin", **security.kafka_kwargs()
    )
    try:
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": str(ms)})
            for topic, ms in retention_ms.items()
        ]
        admin.alter_configs(resources, incremental=True)
    finally:
        admin.close()
    return dict(retention_ms)


def topic_retention(
    bootstrap: str, topics: list[str], security: ClientSecurity = PLAIN
) -> dict[str, int]:
    """Each topic's ``retention.ms`` as the broker reports it."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="squall-admin", **security.kafka_kwargs()
    )
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t, configs=None) for t in topics],
            config_filter="all",
        )
    finally:
        admin.close()
    return {t: int(described["topic"][t]["retention.ms"]["value"]) for t in topics}

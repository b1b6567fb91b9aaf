"""Apache Kafka for squall: a project-provisioned broker, producers, a reliable spout, sinks.

Public names: ``ReliableKafkaSpout`` (at-least-once, commits only fully acked offsets) with its
``KafkaSpoutSettings``, and ``KafkaSinkBolt``. The broker lives in ``squall.kafka.provision``
(jars), ``squall.kafka.broker`` (instances) and ``squall.kafka.admin`` (topics).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ReliableKafkaSpout", "KafkaSpoutSettings", "KafkaSinkBolt"]

# imported on first use: `import squall.kafka` loads neither kafka-python nor streamparse
_LAZY = {
    "ReliableKafkaSpout": "squall.kafka.spout",
    "KafkaSpoutSettings": "squall.kafka.settings",
    "KafkaSinkBolt": "squall.kafka.sink",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'squall.kafka' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

"""A real Apache Kafka broker per test session, provisioned and started by the tests themselves.

The broker is the project's own (``squall.kafka.broker``): jars from Maven Central in
``.runtime/kafka/lib`` (assembled on first use), a KRaft single node on 127.0.0.1 and free ports,
data and logs in ``.runtime/kafka/instances/pytest-<pid>/``; stopped by its pid at the end.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

from squall.kafka.broker import Broker
from tests.kafka.kit import remove_orphans


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    remove_orphans("pytest-")
    broker = Broker(f"pytest-{os.getpid()}", heap="512m")
    broker.remove()  # a leftover of a crashed session with the same pid
    broker.start(out=sys.stderr)
    try:
        yield broker
    finally:
        broker.stop()
        broker.remove()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A fresh topic name per test (uuid-suffixed), so tests never see each other's records."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["kafka-python", "confluent"])
def client(request: pytest.FixtureRequest) -> str:
    """The Kafka client library under the spout, the sinks and `squall produce`
    (``squall.kafka.client``): a fault test that asks for it runs once on each backend."""
    return str(request.param)

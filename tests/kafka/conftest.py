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
from pathlib import Path

import pytest

from squall.kafka.broker import Broker
from squall.kafka.provision import instance_dir


def _remove_orphans() -> None:
    """Stop (by recorded pid) and delete brokers of test sessions that were killed."""
    instances = instance_dir("x").parent
    for home in instances.glob("pytest-*") if instances.is_dir() else []:
        owner = home.name.removeprefix("pytest-")
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            Broker(home.name).remove()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    _remove_orphans()
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

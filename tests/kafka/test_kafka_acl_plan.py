"""A secured broker's ACLs are exactly the plan it was last started with (issue 17, item 1).

``squall kafka start --secure --acl-readings ward.readings`` narrows the producer to the ward's
topics; a later start without ``--acl-*`` (``make kafka-start``, a restart) keeps that plan
instead of adding the default grants back on top, and a start with other ``--acl-*`` removes
what the earlier plan granted and the new one does not. The oracle is the broker: its ACLs
are listed with kafka-python's admin client directly, compared with bindings written out
here, and a producer is refused or not by the broker itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePatternFilter,
    ResourceType,
)

from squall.kafka.admin import ensure_topics
from squall.kafka.broker import Broker
from squall.kafka.broker_security import AccessPlan
from tests.kafka.kit import remove_orphans

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SQUALL = [sys.executable, "-m", "squall.cli"]
DEFAULT_CHANGELOG = "health.trends.changelog"


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    remove_orphans("secacl-")
    b = Broker(f"secacl-{os.getpid()}")
    b.remove()
    try:
        yield b
    finally:
        b.remove()


def acls_of(b: Broker) -> set[tuple[str, str, str, str, str]]:
    """(user, resource type, pattern, name, operation) of the producer's and topology's ALLOW
    ACLs, as the broker lists them."""
    state = b.state()
    assert state is not None
    client = KafkaAdminClient(
        bootstrap_servers=state.bootstrap, client_id="test-acls", **b.security().kafka_kwargs()
    )
    rows = set()
    try:
        for user in ("producer", "topology"):
            anything = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
            found, _ = client.describe_acls(
                ACLFilter(f"User:{user}", None, ACLOperation.ANY, ACLPermissionType.ANY, anything)
            )
            for acl in found:
                assert acl.permission_type == ACLPermissionType.ALLOW and acl.host == "*", acl
                p = acl.resource_pattern
                rows.add(
                    (
                        user,
                        p.resource_type.name,
                        p.pattern_type.name,
                        p.resource_name,
                        acl.operation.name,
                    )
                )
    finally:
        client.close()
    return rows


def expected(readings: list[str], outputs: list[str], group: str) -> set[tuple[str, ...]]:
    """The grants docs/security.md's table promises, written out independently."""
    rows: set[tuple[str, ...]] = set()
    for r in readings:
        rows |= {("producer", "TOPIC", "PREFIXED", r, op) for op in ("WRITE", "DESCRIBE")}
        rows |= {("topology", "TOPIC", "PREFIXED", r, op) for op in ("READ", "DESCRIBE")}
    for o in outputs:
        rows |= {("topology", "TOPIC", "PREFIXED", o, op) for op in ("WRITE", "DESCRIBE")}
    rows.add(("topology", "GROUP", "PREFIXED", group, "READ"))
    ops = ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")
    rows |= {("topology", "TOPIC", "LITERAL", DEFAULT_CHANGELOG, op) for op in ops}
    return rows


def produce_as_producer(b: Broker, topic: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SQUALL_KAFKA_INSTANCE": b.name}
    return subprocess.run(
        [*SQUALL, "produce", "--topic", topic, "--producers", "1", "--count", "5", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_acls_follow_the_last_plan_and_a_narrower_plan_really_narrows(broker: Broker) -> None:
    ward = AccessPlan(readings=("ward.readings",), outputs=("ward.alerts",), group="ward")
    state = broker.start(secure=True, access=ward)
    want_ward = expected(["ward.readings"], ["ward.alerts"], "ward")
    assert acls_of(broker) == want_ward

    # a start without a plan (the broker running: its ACLs are made again) keeps the ward's
    broker.start()
    assert acls_of(broker) == want_ward

    tag = uuid.uuid4().hex[:6]
    ward_topic, default_topic = f"ward.readings-{tag}", f"health.readings-{tag}"
    ensure_topics(state.bootstrap, {ward_topic: 1, default_topic: 1}, broker.security())
    ok = produce_as_producer(broker, ward_topic)
    assert ok.returncode == 0, ok.stderr
    refused = produce_as_producer(broker, default_topic)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr

    # back to the default plan: the ward's grants are gone, not kept beside the new ones
    broker.start(access=AccessPlan())
    assert acls_of(broker) == expected(
        ["health.readings"], ["health.alerts", "health.invalid", "health.trends"], "squall-health"
    )
    assert produce_as_producer(broker, default_topic).returncode == 0
    again = produce_as_producer(broker, ward_topic)
    assert again.returncode == 2, again.stdout + again.stderr

    # and that plan, too, survives a restart of the broker
    assert broker.stop()
    broker.start()
    assert acls_of(broker) == expected(
        ["health.readings"], ["health.alerts", "health.invalid", "health.trends"], "squall-health"
    )


def test_a_refused_changelog_client_is_one_line_not_a_bootstrap_timeout(
    broker: Broker, tmp_path: Path
) -> None:
    """The trend windows' changelog clients with a wrong password: the run stops at the trend
    bolt's start with the broker's refusal in one line (was: kafka-python's disconnects, then
    ``KafkaTimeoutError: Unable to bootstrap`` -- nothing saying it was the password)."""
    state = broker.start()
    tag = uuid.uuid4().hex[:6]
    readings = f"health.readings-{tag}"
    ensure_topics(state.bootstrap, {readings: 1}, broker.security())
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    options = {
        "health.kafka.bootstrap.servers": state.bootstrap,
        "health.kafka.readings.topic": readings,
        "health.kafka.group.id": f"squall-health-{tag}",
        "health.kafka.trends.changelog.topic": DEFAULT_CHANGELOG,
        "health.sinks.console": "false",
        "squall.kafka.security.protocol": "SASL_SSL",
        "squall.kafka.security.ca.file": str(broker.secrets.dir / "ca.pem"),
        "squall.kafka.security.username": "topology",
        "squall.kafka.security.password.file": str(wrong),
    }
    argv = [*SQUALL, "run", "topologies/health_kafka.py", "--seconds", "20", "--quiet"]
    for key, value in options.items():
        argv += ["-o", f"{key}={value}"]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=180, cwd=Path(__file__).parents[2]
    )
    err = done.stdout + done.stderr
    assert done.returncode != 0, err[-3000:]
    assert "Traceback" not in err and "Unable to bootstrap" not in err, err[-3000:]
    line = next((x for x in err.splitlines() if "component 'trend'" in x), None)
    assert line is not None, err[-3000:]
    assert "failed to initialize: KafkaRefused: Kafka at" in line, line
    assert "refused user 'topology' (SCRAM-SHA-512): wrong password" in line, line

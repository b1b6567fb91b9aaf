"""Topics of a running broker, through kafka-python's admin client and consumer.

The broker is assembled from jars only (:mod:`squall.kafka.provision`), without Kafka's shell
tools (``kafka-topics.sh`` and friends), so squall creates, grows, lists, reads back and deletes
topics here: for ``squall kafka start --topics``, ``squall kafka status|read`` and the tests.
kafka-python is imported inside each function, so importing this module stays cheap. Each
takes the client's ``security`` (:mod:`squall.kafka.security`; PLAINTEXT by default).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping

from squall.kafka.errors import KafkaConfigError, KafkaRuntimeError
from squall.kafka.security import PLAIN, ClientSecurity


def describe_cluster(bootstrap: str, security: ClientSecurity = PLAIN) -> dict[str, object]:
    """The cluster's metadata (brokers, controller, cluster id); raises until it serves it."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=5000,
        client_id="squall-admin",
        **security.kafka_kwargs(),
    )
    try:
        return dict(admin.describe_cluster())
    finally:
        admin.close()


def require_broker(bootstrap: str, timeout_s: float = 3.0) -> None:
    """Nothing to do when something accepts connections at one of ``bootstrap``'s addresses
    (``HOST:PORT[,HOST:PORT...]``); else one error naming them and what to do, before a client
    spends its timeouts retrying (kafka-python's own error is a traceback after 30 s)."""
    reasons = []
    for address in (a.strip() for a in bootstrap.split(",")):
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise KafkaConfigError(
                f"--bootstrap {bootstrap!r}: {address!r} is not HOST:PORT (e.g. 127.0.0.1:9092)"
            )
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return
        except OSError as exc:
            reasons.append(f"{address}: {exc.strerror or exc}")
    raise KafkaRuntimeError(
        f"no broker answers at {bootstrap} ({'; '.join(reasons)}): start one with "
        "`squall kafka start`, or give --bootstrap HOST:PORT of a running broker"
    )


def list_topics(bootstrap: str, security: ClientSecurity = PLAIN) -> dict[str, int]:
    """Topic name -> partition count (internal topics left out; with ACLs, those the user
    may describe)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, client_id="squall-admin", **security.kafka_kwargs()
    )
    try:
        topics = consumer.topics()
        return {
            topic: len(consumer.partitions_for_topic(topic) or ())
            for topic in sorted(topics)
            if not topic.startswith("__")
        }
    finally:
        consumer.close()


def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    security: ClientSecurity = PLAIN,
    timeout_s: float = 30.0,
) -> None:
    """Create each missing topic with its partition count; grow existing ones that have fewer.

    An existing topic with more partitions than asked stays as it is (Kafka cannot shrink).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewPartitions
    from kafka.errors import TopicAlreadyExistsError

    for name, partitions in topics.items():
        if not isinstance(partitions, int) or partitions < 1:
            raise KafkaRuntimeError(
                f"topic {name!r}: partitions must be a positive integer, got {partitions!r}"
            )
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        client_id="squall-admin",
        **security.kafka_kwargs(),
    )
    try:
        existing = list_topics(bootstrap, security)
        missing = {name: n for name, n in topics.items() if name not in existing}
        if missing:
            try:
                admin.create_topics(
                    {
                        name: {"num_partitions": n, "replication_factor": 1}
                        for name, n in missing.items()
                    },
                    wait_for_metadata=True,
                )
            except TopicAlreadyExistsError:
                pass  # created concurrently by another client: fine
        grow = {name: n for name, n in topics.items() if name in existing and existing[name] < n}
        if grow:
            admin.create_partitions(
                {name: NewPartitions(total_count=n) for name, n in grow.items()}
            )
    finally:
        admin.close()
    _wait_topics_visible(bootstrap, topics, timeout_s, security)


def _wait_topics_visible(
    bootstrap: str, topics: Mapping[str, int], timeout_s: float, security: ClientSecurity
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = list_topics(bootstrap, security)
        if all(seen.get(name, 0) >= n for name, n in topics.items()):
            return
        if time.monotonic() > deadline:
            raise KafkaRuntimeError(
                f"topics {dict(topics)} not all visible on {bootstrap} after {timeout_s:.0f}s; "
                f"the broker reports {seen}"
            )
        time.sleep(0.2)


def read_topic(
    bootstrap: str, topic: str, limit: int | None = None, security: ClientSecurity = PLAIN
) -> list[bytes]:
    """The values of ``topic`` from the beginning up to its end as of now (at most ``limit``)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **security.kafka_kwargs()
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            visible = sorted(list_topics(bootstrap, security))
            if security.secured:
                raise KafkaRuntimeError(
                    f"user {security.username!r} sees no topic {topic!r} on {bootstrap}: it "
                    f"does not exist, or no ACL lets this user DESCRIBE it (this user sees "
                    f"{visible}); read it as a user that may (docs/security.md)"
                )
            raise KafkaRuntimeError(f"no topic {topic!r} on {bootstrap}; it has {visible}")
        parts = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts)
        values: list[bytes] = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in batch)
            if limit is not None and len(values) >= limit:
                return values[:limit]
        return values
    finally:
        consumer.close()


def delete_topics(bootstrap: str, names: list[str], security: ClientSecurity = PLAIN) -> None:
    """Delete the topics ``names`` (the broker removes their data in the background)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="squall-admin", **security.kafka_kwargs()
    )
    try:
        admin.delete_topics(names)
    finally:
        admin.close()


def parse_topics(spec: str) -> dict[str, int]:
    """``"readings:4,alerts:2,dead-letter"`` -> ``{"readings": 4, "alerts": 2, "dead-letter": 1}``."""
    topics: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition(":")
        if not name:
            raise KafkaRuntimeError(
                f"--topics: empty topic name in {spec!r}; use name[:partitions],..."
            )
        if count:
            try:
                partitions = int(count)
            except ValueError:
                partitions = 0
            if partitions < 1:
                raise KafkaRuntimeError(
                    f"--topics: partitions of {name!r} must be a positive integer, got {count!r}"
                )
        else:
            partitions = 1
        topics[name] = partitions
    return topics

"""A Kafka client the cluster tests run inside a test host (the machine has no route to them).

``python kafka_client.py COMMAND BOOTSTRAP [ARGS]`` prints one JSON document on stdout:

  cluster                    {"brokers": [ids of the unfenced brokers]}
  create TOPIC PARTITIONS [KEY=VALUE...]  {"created": TOPIC}  (replication factor 3,
                             min.insync.replicas 2, and these topic configs)
  topic TOPIC                [{"partition", "leader", "replicas", "isr"}, ...]
  ends TOPIC                 {"records": sum of the partitions' end offsets}
  read TOPIC                 [[key, timestamp_ms], ...]  every record up to the end offsets
  values TOPIC               [[key, value], ...]  the same records' values, as text
  committed TOPIC GROUP      {"committed": n, "end": m}  the group's progress over the topic
  offsets TOPIC GROUP        {"committed": {partition: offset}, "end": {partition: offset}}
  records TOPIC              [[partition, offset, key, value, timestamp_ms], ...]  every record

It reads only what Kafka holds (keys and broker-side timestamps): the tests' oracle never goes
through the project's own parse/BMI/rule code.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic


def admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)


def cluster(bootstrap: str) -> Any:
    client = admin(bootstrap)
    try:
        described = client.describe_cluster()
        # DescribeCluster lists fenced brokers too (a dead one until its session times out)
        brokers = sorted(b["broker_id"] for b in described["brokers"] if not b.get("is_fenced"))
        return {"brokers": brokers}
    finally:
        client.close()


def create(bootstrap: str, topic: str, partitions: str, *configs: str) -> Any:
    client = admin(bootstrap)
    try:
        topic_configs = {"min.insync.replicas": "2", **dict(c.split("=", 1) for c in configs)}
        new = NewTopic(topic, int(partitions), 3, topic_configs=topic_configs)
        client.create_topics([new], timeout_ms=30_000)
    finally:
        client.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # every partition has a leader before anyone writes
        parts = describe(bootstrap, topic)
        if len(parts) == int(partitions) and all(p["leader"] >= 0 for p in parts):
            return {"created": topic}
        time.sleep(0.2)
    raise SystemExit(f"topic {topic!r} has no leader for every partition after 30 s: {parts}")


def describe(bootstrap: str, topic: str) -> Any:
    client = admin(bootstrap)
    try:
        (found,) = client.describe_topics([topic])
        return sorted(
            (
                {
                    "partition": p["partition_index"],
                    "leader": p["leader_id"],
                    "replicas": sorted(p["replica_nodes"]),
                    "isr": sorted(p["isr_nodes"]),
                }
                for p in found["partitions"]
            ),
            key=lambda p: p["partition"],
        )
    finally:
        client.close()


def ends(bootstrap: str, topic: str) -> Any:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return {"records": sum(consumer.end_offsets(parts).values())}
    finally:
        consumer.close()


def read(bootstrap: str, topic: str, values: bool = False) -> Any:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(parts)
        records = []
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                for r in batch:
                    key = r.key.decode() if r.key is not None else None
                    records.append([key, r.value.decode() if values else r.timestamp])
        return records
    finally:
        consumer.close()


def read_values(bootstrap: str, topic: str) -> Any:
    return read(bootstrap, topic, values=True)


def committed(bootstrap: str, topic: str, group: str) -> Any:
    """Read with an OffsetFetch (``committed``); this consumer never joins the group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        end = consumer.end_offsets(parts)
        done = sum(min(consumer.committed(tp) or 0, end[tp]) for tp in parts)
        return {"committed": done, "end": sum(end.values())}
    finally:
        consumer.close(autocommit=False)


def offsets(bootstrap: str, topic: str, group: str) -> Any:
    """The group's committed offset and the end offset of each partition (OffsetFetch)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        end = consumer.end_offsets(parts)
        return {
            "committed": {tp.partition: consumer.committed(tp) or 0 for tp in parts},
            "end": {tp.partition: end[tp] for tp in parts},
        }
    finally:
        consumer.close(autocommit=False)


def records(bootstrap: str, topic: str) -> Any:
    """Every record up to the end offsets with its coordinates, value (text) and timestamp."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(parts)
        out = []
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                for r in batch:
                    key = r.key.decode() if r.key is not None else None
                    value = r.value.decode("utf-8", errors="replace") if r.value else ""
                    out.append([r.partition, r.offset, key, value, r.timestamp])
        return out
    finally:
        consumer.close()


COMMANDS = {
    "cluster": cluster,
    "create": create,
    "topic": describe,
    "ends": ends,
    "read": read,
    "values": read_values,
    "committed": committed,
    "offsets": offsets,
    "records": records,
}

if __name__ == "__main__":
    command, *args = sys.argv[1:]
    json.dump(COMMANDS[command](*args), sys.stdout)

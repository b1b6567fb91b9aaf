"""The 3-broker Kafka on test hosts, as the cluster tests drive it: brokers k1-k3, a client
host for the producers and the read-back, and an "app" host for the topology."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.kafka.quorum import Quorum
from squall.netns import TestHosts
from tests.polling import eventually

__test__ = False

BROKERS = ("k1", "k2", "k3")
CLIENT = "client"
APP = "app"  # the health topology's own host
CLIENT_SCRIPT = Path(__file__).with_name("kafka_client.py")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class KafkaCluster:
    hosts: TestHosts
    quorum: Quorum

    @property
    def bootstrap(self) -> str:
        return self.quorum.bootstrap

    def client(self, command: str, *args: str, bootstrap: str | None = None) -> Any:
        """Run one kafka_client.py command on the client host; its JSON answer."""
        argv = [sys.executable, str(CLIENT_SCRIPT), command, bootstrap or self.bootstrap, *args]
        proc = self.hosts.popen(CLIENT, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(
                f"kafka_client {command} {args} hung; stderr: {err.decode()[-2000:]}"
            ) from None
        if proc.returncode != 0:
            raise AssertionError(
                f"kafka_client {command} {args} exited {proc.returncode}: {err.decode()[-2000:]}"
            )
        return json.loads(out)

    def try_client(self, command: str, *args: str, bootstrap: str | None = None) -> Any:
        """Like ``client``, None on failure (for polling while brokers come and go)."""
        try:
            return self.client(command, *args, bootstrap=bootstrap)
        except (AssertionError, ValueError):
            return None

    def brokers(self) -> list[int]:
        answer = self.try_client("cluster")
        return answer["brokers"] if answer else []

    def wait_brokers(self, count: int, timeout_s: float = 120) -> None:
        eventually(
            lambda: len(self.brokers()) == count, f"{count} brokers in the metadata", timeout_s
        )

    def wait_fully_replicated(self, topic: str, timeout_s: float = 120) -> list[dict[str, Any]]:
        """Every partition's ISR holds all 3 replicas again."""

        def full() -> list[dict[str, Any]] | None:
            parts = self.try_client("topic", topic)
            if parts and all(len(p["isr"]) == len(BROKERS) for p in parts):
                return list(parts)
            return None

        return eventually(full, f"all replicas of {topic} in sync", timeout_s)

    def heal(self) -> None:
        """Every broker running and in the metadata (a test before may have killed one)."""
        for name in BROKERS:
            if not self.quorum.running(name):
                self.quorum.start(name)
        self.wait_brokers(len(BROKERS))

    def produce(self, topic: str, producers: int, rate: float, count: int, id_base: int) -> Any:
        """The course's producers (`squall produce`) on the client host, acks=all; unique ids
        ``id_base + p * 1e9 + n`` so the acknowledged set is known from the counts."""
        argv = [sys.executable, "-m", "squall.cli", "produce", "--bootstrap", self.bootstrap]
        argv += ["--topic", topic, "--producers", str(producers), "--rate", str(rate)]
        argv += ["--count", str(count), "--unique-ids", "--id-base", str(id_base), "--quiet"]
        return self.hosts.popen(
            CLIENT, argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


def expected_ids(producers: int, count: int, id_base: int) -> set[str]:
    """The ids `squall produce --unique-ids` gives (src/squall/kafka/producer.py), as keys."""
    return {str(id_base + p * 1_000_000_000 + n) for p in range(producers) for n in range(count)}


@dataclass(frozen=True)
class Delivery:
    acknowledged: int
    lost: set[str]
    duplicates: int
    unexpected: set[str]
    before: int  # records stamped before the fault began
    after: int  # records stamped after the fault was over

    def line(self) -> str:
        return (
            f"acknowledged {self.acknowledged}, lost {len(self.lost)}, duplicates "
            f"{self.duplicates}, unexpected {len(self.unexpected)}; written before the fault "
            f"{self.before}, after it {self.after}"
        )


def delivery(
    records: list[list[Any]], acknowledged: set[str], fault_start: float, fault_end: float
) -> Delivery:
    """Compare what Kafka holds with what the producers had acknowledged."""
    keys = Counter(key for key, _ in records)
    return Delivery(
        acknowledged=len(acknowledged),
        lost=acknowledged - set(keys),
        duplicates=sum(n - 1 for n in keys.values()),
        unexpected=set(keys) - acknowledged,
        before=sum(1 for _, ts in records if ts < fault_start * 1000),
        after=sum(1 for _, ts in records if ts > fault_end * 1000),
    )


def finish(proc: subprocess.Popen[str], timeout_s: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, err

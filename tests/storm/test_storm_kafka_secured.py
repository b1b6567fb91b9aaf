"""Issue 17 (item 2, under Storm): topologies/health_kafka.py, `sparse submit`ted to a real
Storm cluster, works against a secured broker (TLS + SCRAM-SHA-512 + ACLs) as the `topology`
user whose password is only a file on the supervisor host; and no password leaks into Storm.

The broker is this module's own secured instance (`squall kafka start --secure`, 127.0.0.1,
free ports; stopped by `squall kafka stop --remove`, and by pid with its folder whatever
happens). The cluster is the session's single-node StormCluster (tests/storm/conftest.py).

Besides the topology with the right password file, a twin (``health_kafka_refused``, the same
file under another name) is submitted with a wrong one: its Kafka components must log the
one-line refusal naming the user and keep running in the same worker (no crash loop).

The delivery oracle is tests/kafka/oracle.py (none of the project's code), reading the topics
as `admin` with a plain kafka-python consumer. The passwords (admin, producer, topology, the
broker's keystore) are then looked for in every file of the cluster's folder (logs, worker
logs, data; while the topologies run and after), the confs Nimbus serves over Thrift
(getTopologyConf, each component's conf), the broker's logs and every command's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from squall.kafka.broker import Broker
from squall.storm.cluster import StormCluster
from squall.storm.nimbus import nimbus_client
from tests.kafka.kit import read_topic, remove_orphans
from tests.kafka.oracle import alerts_of, rules, valid_reading
from tests.polling import eventually

from .kit import health_project, run, storm_env, topology_id

pytestmark = [pytest.mark.storm, pytest.mark.kafka, pytest.mark.slow, pytest.mark.isolated]

ROOT = Path(__file__).parents[2]
SQUALL = [sys.executable, "-m", "squall.cli"]
USERS = ("admin", "producer", "topology", "keystore")  # keystore: the broker's store password
TOPICS = "health.readings:4,health.alerts:2,health.invalid,health.trends"
READINGS, ALERTS, INVALID = "health.readings", "health.alerts", "health.invalid"
PASSWORD_FILE = "squall.kafka.security.password.file"
CHANGELOG = "health.trends.changelog"
GROUP = "squall-health"  # config.yaml's kafka.group_id: the prefix the topology's ACL names
GOOD, REFUSED = "health_kafka", "health_kafka_refused"
KAFKA_COMPONENTS = ("kafka", "alerts", "dead_letter", "trends")
PRODUCERS, PER_PRODUCER = 2, 500
MALFORMED = (b"not json", b'{"id": 1, "age": 30}', b"", b"\xff\xfe not utf-8")


@dataclass
class Secured:
    """The broker instance, and every command's output (grepped for passwords at the end)."""

    instance: str
    outputs: list[str] = field(default_factory=list)

    @property
    def broker(self) -> Broker:
        return Broker(self.instance)

    @property
    def secrets(self) -> Path:
        return self.broker.secrets.dir

    def password(self, user: str) -> str:
        return (self.secrets / f"{user}.password").read_text().strip()

    def kafka_kwargs(self, user: str) -> dict[str, Any]:
        """kafka-python's arguments for ``user``, spelled out here (not squall's code)."""
        return {
            "bootstrap_servers": self.broker.bootstrap,
            "security_protocol": "SASL_SSL",
            "ssl_cafile": str(self.secrets / "ca.pem"),
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": self.password(user),
        }

    def run(
        self, cmd: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        out = run(cmd, cwd, env or dict(os.environ), timeout_s=600)
        self.outputs.append(out.stdout)
        return out


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    remove_orphans("storm-sec-")
    setup = Secured(f"storm-sec-{os.getpid()}")
    setup.broker.remove()  # a leftover of a crashed session with the same pid
    try:
        out = setup.run(
            [
                *SQUALL,
                "kafka",
                "start",
                "--instance",
                setup.instance,
                "--secure",
                "--topics",
                TOPICS,
            ]
        )
        assert out.returncode == 0 and "secured: SASL_SSL" in out.stdout, out.stdout[-3000:]
        yield setup
        out = setup.run([*SQUALL, "kafka", "stop", "--instance", setup.instance, "--remove"])
        assert "kafka stopped (pid" in out.stdout, out.stdout
        assert not setup.broker.home.exists()
    finally:
        Broker(setup.instance).remove()


def storm_project(target: Path, cluster: StormCluster) -> Path:
    """A copy of this project whose "local" env is the test cluster, with the refused twin."""
    state = cluster.state()
    assert state is not None
    project = health_project(target, state.ports.nimbus, state.ports.ui)
    shutil.copy(project / "topologies" / f"{GOOD}.py", project / "topologies" / f"{REFUSED}.py")
    return project


def records(secured: Secured, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its current end, read as admin."""
    return read_topic(**secured.kafka_kwargs("admin"), topic=topic)


def committed_all(secured: Secured) -> bool:
    """The topology's group has committed the whole readings topic (asked as admin)."""
    consumer = KafkaConsumer(
        group_id=GROUP, enable_auto_commit=False, **secured.kafka_kwargs("admin")
    )
    try:
        parts = [
            TopicPartition(READINGS, p) for p in sorted(consumer.partitions_for_topic(READINGS))
        ]
        ends = consumer.end_offsets(parts)
        done = sum(min(consumer.committed(tp) or 0, ends[tp]) for tp in parts)
        return done >= sum(ends.values()) > 0
    finally:
        consumer.close(autocommit=False)


def produce_malformed(secured: Secured) -> None:
    """Payloads the topology must dead-letter, written as the producer user."""
    producer = KafkaProducer(acks="all", **secured.kafka_kwargs("producer"))
    futures = [
        producer.send(READINGS, payload, partition=i % 4) for i, payload in enumerate(MALFORMED)
    ]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    producer.close()


def nimbus_conf(cluster: StormCluster, topo_id: str) -> tuple[dict[str, Any], str]:
    """The topology's conf as Nimbus gives it to anyone who asks (decoded), and a text of it
    and of every component's conf, as sent and decoded (Storm's JSON writes "/" as "\\/")."""
    state = cluster.state()
    assert state is not None
    with nimbus_client("127.0.0.1", state.ports.nimbus) as nimbus:
        raw = [nimbus.getTopologyConf(topo_id)]
        topology = nimbus.getTopology(topo_id)
        for components in (topology.spouts, topology.bolts):
            raw += [c.common.json_conf for c in components.values() if c.common.json_conf]
    decoded = [json.loads(text) for text in raw]
    text = "\n".join(raw + [json.dumps(conf) for conf in decoded])
    return decoded[0], text


def worker_of(cluster: StormCluster, topo_id: str) -> int | None:
    pids = [w.pid for w in cluster.worker_processes() if topo_id in w.cmdline()]
    return pids[0] if len(pids) == 1 else None


def worker_log(cluster: StormCluster, topo_id: str) -> str:
    logs = sorted((cluster.folder / "logs" / "workers-artifacts" / topo_id).glob("*/worker.log"))
    return "\n".join(p.read_text(errors="replace") for p in logs)


def refusals(log: str) -> dict[str, list[str]]:
    """The components' "refused by Kafka" lines in a worker log, by component."""
    found: dict[str, list[str]] = {}
    for line in log.splitlines():
        match = re.search(r"ShellLog pid:\d+, name:(\w+) .*refused by Kafka", line)
        if match:
            found.setdefault(match.group(1), []).append(line)
    return found


def ui_port(cluster: StormCluster) -> int:
    state = cluster.state()
    assert state is not None
    return state.ports.ui


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (path -> content); one that goes while walking is skipped."""
    found = {}
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file():
                found[str(path)] = path.read_bytes()
    return found


def said_by(log: str, lines: int = 60) -> str:
    """What the Python components logged through Storm, and Storm's warnings and errors."""
    text = [
        line
        for line in log.splitlines()
        if ("ShellLog" in line and "logging enabled" not in line)
        or " WARN " in line
        or " ERROR " in line
    ]
    return "\n".join(text[-lines:]) or "(nothing logged)"


def test_secured_health_topology_on_storm_delivers_and_leaks_no_password(
    secured: Secured, storm_cluster: StormCluster, tmp_path: Path
) -> None:
    bootstrap, secrets = secured.broker.bootstrap, secured.secrets
    project = storm_project(tmp_path / "project", storm_cluster)
    env = storm_env(storm_cluster.home)
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-topology-password\n")

    producer_env = {**os.environ, "PRODUCER_PASSWORD": secured.password("producer")}
    out = secured.run(
        [*SQUALL, "produce", "--bootstrap", bootstrap, "--topic", READINGS,
         "--producers", str(PRODUCERS), "--count", str(PER_PRODUCER), "--unique-ids", "--quiet",
         "--ca-file", str(secrets / "ca.pem"), "--username", "producer",
         "--password-env", "PRODUCER_PASSWORD"],
        env=producer_env,
    )  # fmt: skip
    sent = f"{PRODUCERS * PER_PRODUCER:,}"
    assert f"acknowledged by the broker: {sent} of {sent} sent (0 failed)" in out.stdout, out.stdout
    produce_malformed(secured)

    def submit(name: str, password_file: Path, *extra: str) -> str:
        out = secured.run(
            ["sparse", "submit", "-e", "local", "-n", name,
             "-o", f"health.kafka.bootstrap.servers={bootstrap}",
             "-o", "health.sinks.console=false",
             "-o", "squall.kafka.security.protocol=SASL_SSL",
             "-o", f"squall.kafka.security.ca.file={secrets / 'ca.pem'}",
             "-o", "squall.kafka.security.username=topology",
             "-o", f"squall.kafka.security.password.file={password_file}", *extra],
            project, env,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout[-5000:]
        topo_id = topology_id(ui_port(storm_cluster), name)
        assert topo_id is not None, f"{name} is not on the cluster after sparse submit"
        return topo_id

    refused_id = good_id = None
    try:
        refused_id = submit(REFUSED, wrong)
        refused_worker = eventually(
            lambda: worker_of(storm_cluster, refused_id), f"{REFUSED}'s worker", timeout_s=180
        )
        try:
            eventually(
                lambda: (
                    set(refusals(worker_log(storm_cluster, refused_id))) >= set(KAFKA_COMPONENTS)
                ),
                "a refusal from each Kafka component of the refused topology",
                timeout_s=180,
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n{said_by(worker_log(storm_cluster, refused_id))}"
            ) from None
        good_id = submit(
            GOOD,
            secrets / "topology.password",
            "-o",
            f"health.kafka.trends.changelog.topic={CHANGELOG}",
        )
        try:
            eventually(
                lambda: committed_all(secured), "every reading committed under Storm", timeout_s=300
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{said_by(worker_log(storm_cluster, good_id))}") from None
        # the refused twin ran all along in the worker it started in: no crash loop
        assert worker_of(storm_cluster, refused_id) == refused_worker
        refused_conf, refused_conf_text = nimbus_conf(storm_cluster, refused_id)
        good_conf, good_conf_text = nimbus_conf(storm_cluster, good_id)
        # while both run: the Supervisor's and Nimbus's copies of their confs are still there
        running_files = files_under(storm_cluster.folder)
    finally:
        for name, topo in ((GOOD, good_id), (REFUSED, refused_id)):
            if topo is not None:
                secured.run(
                    ["sparse", "kill", "-e", "local", "-n", name, "--wait", "1"], project, env
                )

    # Delivery: every alert the readings imply, every malformed record dead-lettered, nothing else
    config_rules = rules()
    expected_alerts: set[tuple[str, int]] = set()
    expected_dead: set[str] = set()
    readings = records(secured, READINGS)
    for record in readings:
        reading = valid_reading(record.value)
        if reading is None:
            expected_dead.add(f"{record.topic}:{record.partition}:{record.offset}")
        else:
            expected_alerts |= {
                (rule, int(reading["id"])) for rule in alerts_of(reading, config_rules)
            }
    alerts = {
        (d["rule"], d["reading_id"])
        for d in (json.loads(r.value) for r in records(secured, ALERTS))
    }
    dead: Counter[str] = Counter()
    for record in records(secured, INVALID):
        source = json.loads(record.value).get("source") or {}
        dead[f"{source.get('topic')}:{source.get('partition')}:{source.get('offset')}"] += 1
    assert len(readings) == PRODUCERS * PER_PRODUCER + len(MALFORMED)
    assert len(expected_dead) == len(MALFORMED) and expected_alerts
    assert not expected_alerts - alerts, f"missing alerts {sorted(expected_alerts - alerts)[:5]}"
    assert not alerts - expected_alerts, f"unexpected alerts {sorted(alerts - expected_alerts)[:5]}"
    assert set(dead) == expected_dead, f"dead letters {dict(dead)}, expected {expected_dead}"
    # the trend bolt's checkpoints went to the changelog topic, as the topology user
    assert records(secured, CHANGELOG)

    # The refused twin: one line per Kafka component naming the user, no traceback
    refused_log = worker_log(storm_cluster, refused_id)
    said = refusals(refused_log)
    for component in KAFKA_COMPONENTS:
        assert len(said[component]) == 1, said
        assert "refused user 'topology' (SCRAM-SHA-512): wrong password" in said[component][0]
    assert "Traceback" not in refused_log
    good_log = worker_log(storm_cluster, good_id)
    assert good_log and "Traceback" not in good_log and not refusals(good_log)

    # The confs Nimbus serves were found and read: they name the password files, hold no
    # password key (and, below, no password)
    assert good_conf[PASSWORD_FILE] == str(secrets / "topology.password")
    assert refused_conf[PASSWORD_FILE] == str(wrong)
    assert good_conf["squall.kafka.security.username"] == "topology"
    assert "squall.kafka.security.password" not in good_conf
    # No password anywhere: Storm's logs and data (daemons, workers, ZooKeeper; while the
    # topologies ran and after), the confs Nimbus serves, the broker's logs, every command's output
    files = files_under(storm_cluster.folder) | files_under(secured.broker.logs_dir)
    assert [p for p in running_files if p.endswith("stormconf.ser")]
    assert [p for p in files if p.endswith("/nimbus.log")]
    assert [p for p in files if p.endswith("/worker.log")]
    texts = {f"{path} (while running)": data for path, data in running_files.items()} | files
    texts |= {
        "nimbus conf (good)": good_conf_text.encode(),
        "nimbus conf (refused)": refused_conf_text.encode(),
    }
    texts |= {f"output {i}": text.encode() for i, text in enumerate(secured.outputs)}
    assert len(secured.outputs) >= 5
    for user in USERS:
        password = secured.password(user).encode()
        leaks = [where for where, text in texts.items() if password in text]
        assert not leaks, f"the {user} password is in {leaks}"

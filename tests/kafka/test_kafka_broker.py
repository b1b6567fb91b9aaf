"""The project-provisioned broker: ready, topics with partitions, stop by pid, restart on its ports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaProducer

from squall.kafka import admin, provision
from squall.kafka.broker import Broker, new_cluster_id
from squall.kafka.errors import KafkaRuntimeError
from squall.services import project_root

pytestmark = pytest.mark.kafka


def test_session_broker_is_ready_on_loopback(kafka_broker: Broker) -> None:
    state = kafka_broker.state()
    assert state is not None
    assert state.bootstrap.startswith("127.0.0.1:")
    assert kafka_broker.is_running()
    # Data and logs stay inside the project's git-ignored .runtime folder.
    assert kafka_broker.home.is_relative_to(project_root() / ".runtime")
    assert (kafka_broker.logs_dir / "server.log").is_file()
    info = admin.describe_cluster(state.bootstrap)
    assert [b["host"] for b in info["brokers"]] == ["127.0.0.1"]


def test_topics_are_created_with_their_partitions(kafka_bootstrap: str, topic_name: str) -> None:
    admin.ensure_topics(kafka_bootstrap, {topic_name: 3, topic_name + "-b": 1})
    topics = admin.list_topics(kafka_bootstrap)
    assert topics[topic_name] == 3
    assert topics[topic_name + "-b"] == 1
    # Asking again is a no-op; asking for more partitions grows the topic.
    admin.ensure_topics(kafka_bootstrap, {topic_name: 5})
    assert admin.list_topics(kafka_bootstrap)[topic_name] == 5


def test_parse_topics_names_the_bad_value() -> None:
    assert admin.parse_topics("readings:4, alerts,dead-letter:1") == {
        "readings": 4,
        "alerts": 1,
        "dead-letter": 1,
    }
    with pytest.raises(KafkaRuntimeError, match=r"partitions of 'readings' .* got 'x'"):
        admin.parse_topics("readings:x")
    with pytest.raises(KafkaRuntimeError, match="got '0'"):
        admin.parse_topics("readings:0")


def test_cluster_ids_never_look_like_an_option() -> None:
    # StorageTool failed on an id starting with '-' (seen once in a test run: 1 start in 64).
    ids = [new_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_provision_is_a_fast_no_op_when_done() -> None:
    assert provision.is_provisioned()
    lib = provision.provision(out=None)
    assert lib == provision.lib_dir()
    assert provision.kafka_version().startswith("4.")


def test_second_instance_stops_by_pid_and_restarts_with_its_data(tmp_path: Path) -> None:
    """A stopped instance restarts on the same port with its records (what clients rely on)."""
    broker = Broker(f"test-restart-{tmp_path.name}")
    broker.remove()
    try:
        first = broker.start(topics={"kept": 2})
        producer = KafkaProducer(bootstrap_servers=first.bootstrap, acks="all")
        producer.send("kept", b"before-restart", partition=1).get(timeout=30)
        producer.close()

        assert broker.stop() is True
        assert not broker.pid_alive()
        assert broker.stop() is False  # stopping a stopped broker is harmless

        second = broker.start()
        assert (second.port, second.controller_port) == (first.port, first.controller_port)
        assert second.pid != first.pid
        values = admin.read_topic(second.bootstrap, "kept")
        assert values == [b"before-restart"]
    finally:
        broker.remove()
    assert not broker.home.exists()


def test_cli_start_status_stop(tmp_path: Path) -> None:
    name = f"test-cli-{tmp_path.name}"
    squall = [sys.executable, "-m", "squall.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*squall, *args], capture_output=True, text=True, timeout=180)

    try:
        started = run("kafka", "start", "--instance", name, "--topics", "readings:4,alerts")
        assert started.returncode == 0, started.stderr
        assert "started: 127.0.0.1:" in started.stdout
        assert "alerts:1, readings:4" in started.stdout

        status = run("kafka", "status", "--instance", name)
        assert status.returncode == 0, status.stderr
        assert "topic readings: 4 partition(s)" in status.stdout

        again = run("kafka", "start", "--instance", name)
        assert "already running" in again.stdout

        stopped = run("kafka", "stop", "--instance", name, "--remove")
        assert stopped.returncode == 0, stopped.stderr
        assert "kafka stopped (pid" in stopped.stdout
        after = run("kafka", "status", "--instance", name)
        assert after.returncode == 3
        assert "stopped" in after.stdout
    finally:
        Broker(name).remove()

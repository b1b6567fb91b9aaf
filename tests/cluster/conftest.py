"""Fixtures for tests across test hosts in network namespaces (root only, docs/cluster.md)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from squall.kafka.provision import provision as provision_kafka
from squall.kafka.quorum import Quorum
from squall.netns import TestHosts, available
from squall.storm.hosts_cluster import HostsCluster
from squall.storm.provision import provision
from tests.cluster.kafka_cluster import APP, BROKERS, CLIENT, KafkaCluster
from tests.cluster.storm_kit import SUPERVISORS, StormKafka

STORM_HOSTS = ("nimbus", *SUPERVISORS)


def _require_namespaces() -> None:
    why_not = available()
    if why_not is not None:  # a failure, not a skip: the project's machine runs tests as root
        pytest.fail(f"the cluster tests need network namespaces: {why_not}")
    TestHosts.remove_leftovers()  # hosts of a test run killed before its clean-up


def _tag(suffix: str) -> str:
    # A tag of its own per fixture: the default (from the pid) is the Storm fixture's, and a
    # session may run several modules' fixtures (one after the other).
    return format(os.getpid() % 0xFFFF, "x") + suffix


@contextmanager
def _storm_on(hosts: TestHosts, name: str) -> Iterator[HostsCluster]:
    """HostsCluster on hosts nimbus/super1/super2 (already up), stopped by pid afterwards."""
    home = provision(progress=lambda message: print(message, flush=True))
    folder = home.path / "clusters" / f"{name}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    cluster = HostsCluster(hosts, folder, home, "nimbus", SUPERVISORS)
    try:
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:  # also when the stop itself is interrupted (Ctrl-C)
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _brokers_on(hosts: TestHosts, home: Path) -> Iterator[KafkaCluster]:
    """The three brokers started on k1-k3 (already up), not yet waited for; stopped by pid."""
    provision_kafka(quiet=True)
    quorum = Quorum(hosts, BROKERS, home)
    try:
        quorum.format()
        for name in BROKERS:
            quorum.start(name)
        yield KafkaCluster(hosts, quorum)
    finally:
        quorum.stop_all()  # by pid; hosts.running() then kills whatever is left


def _wait_brokers(cluster: KafkaCluster) -> None:
    try:
        cluster.wait_brokers(len(BROKERS), timeout_s=150)
    except AssertionError:
        for name in BROKERS:
            print(cluster.quorum.log_tail(name), file=sys.stderr)
        raise


# ------------------------------------------------------------------ Storm across hosts


@pytest.fixture(scope="module")
def storm_hosts() -> Iterator[HostsCluster]:
    """Storm on three test hosts: ZooKeeper, Nimbus and the UI's REST API on "nimbus", a
    Supervisor (2 slots) on each of "super1" and "super2"; every process stopped by pid and the
    namespaces removed afterwards, also when start-up fails. Per module: a fault test may leave
    it a host short."""
    _require_namespaces()
    with TestHosts(STORM_HOSTS).running() as hosts, _storm_on(hosts, "hosts") as cluster:
        yield cluster


# ------------------------------------------------------------------ Kafka: 3 brokers on k1-k3


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three KRaft brokers (broker+controller each, static voters) on hosts k1-k3, a "client"
    and an "app" host, up and serving metadata with all three; brokers stopped by pid and the
    namespaces removed at the end, also when start-up or a test failed."""
    _require_namespaces()
    hosts = TestHosts([*BROKERS, CLIENT, APP], tag=_tag("k"))
    home = tmp_path_factory.mktemp("kafka-quorum")
    with hosts.running(), _brokers_on(hosts, home) as cluster:
        _wait_brokers(cluster)
        yield cluster


# ------------------------------------------------------------------ both, on one bridge


@pytest.fixture(scope="module")
def storm_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StormKafka]:
    """Storm (nimbus, super1, super2) and the three brokers (k1-k3) on one set of test hosts,
    with a "client" host: one bridge, so the workers reach the brokers at their addresses as
    hosts of one network would. The brokers start first and are waited for after Storm is up
    (their start-ups overlap). Everything stopped by pid, the namespaces removed afterwards."""
    _require_namespaces()
    hosts = TestHosts([*STORM_HOSTS, *BROKERS, CLIENT], tag=_tag("s"))
    home = tmp_path_factory.mktemp("kafka-quorum")
    with ExitStack() as stack:
        stack.enter_context(hosts.running())
        kafka = stack.enter_context(_brokers_on(hosts, home))
        storm = stack.enter_context(_storm_on(hosts, "hosts-kafka"))
        _wait_brokers(kafka)
        yield StormKafka(storm, kafka)

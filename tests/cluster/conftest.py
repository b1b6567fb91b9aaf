"""Fixtures for tests across test hosts in network namespaces (root only, docs/cluster.md)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from squall.netns import TestHosts
from squall.storm.hosts_cluster import HostsCluster
from squall.storm.provision import provision

# ------------------------------------------------------------------ Storm across hosts

STORM_HOSTS = ("nimbus", "super1", "super2")


@pytest.fixture(scope="module")
def storm_hosts() -> Iterator[HostsCluster]:
    """Storm on three test hosts: ZooKeeper, Nimbus and the UI's REST API on "nimbus", a
    Supervisor (2 slots) on each of "super1" and "super2"; every process stopped by pid and the
    namespaces removed afterwards, also when start-up fails. Per module: a fault test may leave
    it a host short."""
    TestHosts.remove_leftovers()  # hosts of a test run killed before its clean-up
    home = provision(progress=lambda message: print(message, flush=True))
    folder = home.path / "clusters" / f"hosts-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    hosts = TestHosts(STORM_HOSTS)
    with hosts.running():
        cluster = HostsCluster(hosts, folder, home, "nimbus", ("super1", "super2"))
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ Kafka: 3 brokers on k1-k3


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Three KRaft brokers (broker+controller each, static voters) on hosts k1-k3, a "client"
    and an "app" host, up and serving metadata with all three; brokers stopped by pid and the
    namespaces removed at the end, also when start-up or a test failed."""
    import sys

    from squall.kafka.provision import provision as provision_kafka
    from squall.kafka.quorum import Quorum
    from squall.netns import available
    from tests.cluster.kafka_cluster import APP, BROKERS, CLIENT, KafkaCluster

    why_not = available()
    if why_not is not None:  # a failure, not a skip: the project's machine runs tests as root
        pytest.fail(f"the cluster tests need network namespaces: {why_not}")
    TestHosts.remove_leftovers()  # hosts of a test run killed before its clean-up
    provision_kafka(quiet=True)
    # a tag of its own: the default (from the pid) is the Storm fixture's in the same session
    hosts = TestHosts([*BROKERS, CLIENT, APP], tag=format(os.getpid() % 0xFFFF, "x") + "k")
    home = tmp_path_factory.mktemp("kafka-quorum")
    with hosts.running():
        quorum = Quorum(hosts, BROKERS, home)
        try:
            quorum.format()
            for name in BROKERS:
                quorum.start(name)
            cluster = KafkaCluster(hosts, quorum)
            try:
                cluster.wait_brokers(len(BROKERS), timeout_s=150)
            except AssertionError:
                for name in BROKERS:
                    print(quorum.log_tail(name), file=sys.stderr)
                raise
            yield cluster
        finally:
            quorum.stop_all()  # by pid; hosts.running() then kills whatever is left

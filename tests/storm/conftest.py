"""Real Apache Storm for the tests: provisioned into .runtime/storm on first use (Maven Central,
idempotent), and one single-node cluster per session on 127.0.0.1 and free ports, in a pytest
temp folder, stopped by pid at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.storm.cluster import StormCluster
from squall.storm.home import StormHome
from squall.storm.provision import provision


@pytest.fixture(scope="session")
def storm_home() -> StormHome:
    return provision(progress=lambda message: print(message, flush=True))


@pytest.fixture(scope="session")
def storm_cluster(
    storm_home: StormHome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StormCluster]:
    cluster = StormCluster(tmp_path_factory.mktemp("storm-cluster"), storm_home)
    cluster.start(nimbus_port=0, ui_port=0, progress=lambda message: print(message, flush=True))
    try:
        yield cluster
    finally:
        cluster.stop(progress=lambda message: print(message, flush=True))


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """Where a test copies the project it runs sparse in."""
    return tmp_path / "project"

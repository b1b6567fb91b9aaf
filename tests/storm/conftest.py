"""Real Apache Storm for the tests: provisioned into .runtime/storm on first use (Maven Central,
idempotent), and one single-node cluster per session on 127.0.0.1 and free ports, in
``.runtime/storm/clusters/pytest-<pid>/`` (not a pytest temp folder: a concurrent pytest run
prunes old ones), stopped by pid and removed at the end."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.storm.cluster import StormCluster
from squall.storm.home import StormHome
from squall.storm.provision import provision
from tests.polling import eventually
from tests.ui.browser import browser  # noqa: F401  (the fixture, for the Storm page's test)

from .kit import FIXTURE_PROJECT, Sparse, copy_project, run, topology_id, ui_get


def _say(message: str) -> None:
    print(message, flush=True)


@pytest.fixture
def root_log_handlers_kept() -> Iterator[None]:
    """For components set up as Storm would (pystorm's _setup_component adds a StormHandler to
    the root logger): the root logger's handlers as they were, afterwards."""
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    root.handlers[:] = before


@pytest.fixture(scope="session")
def storm_home() -> StormHome:
    return provision(progress=_say)


@pytest.fixture(scope="session")
def storm_cluster(storm_home: StormHome) -> Iterator[StormCluster]:
    folder = storm_home.path / "clusters" / f"pytest-{os.getpid()}"
    cluster = StormCluster(folder, storm_home)
    cluster.stop(progress=_say)  # a leftover of a crashed session with the same pid
    cluster.start(nimbus_port=0, ui_port=0, progress=_say)
    try:
        yield cluster
    finally:
        cluster.stop(progress=_say)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """Where a test copies the project it runs sparse in."""
    return tmp_path / "project"


@pytest.fixture
def sparse(storm_cluster: StormCluster, project_copy: Path) -> Iterator[Sparse]:
    state = storm_cluster.state()
    assert state is not None
    tool = Sparse(
        storm_cluster,
        copy_project(
            FIXTURE_PROJECT, project_copy, nimbus_port=state.ports.nimbus, ui_port=state.ports.ui
        ),
    )
    yield tool
    # Leave the cluster empty for the next test whatever happened (a topology may be gone already).
    for name in ("squares", "crashing", "rejecting"):
        if topology_id(tool.ui_port, name):
            run(
                ["sparse", "kill", "-e", "local", "-n", name, "--wait", "1"], tool.project, tool.env
            )
    eventually(
        lambda: not ui_get(tool.ui_port, "/api/v1/topology/summary")["topologies"],
        "an empty cluster",
    )

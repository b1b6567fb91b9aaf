"""`storm version` and `sparse run` (Storm's local mode) on the project-provisioned Storm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from squall.storm.home import STORM_VERSION, StormHome

from .kit import FIXTURE_PROJECT, copy_project, read_jsonl, run, storm_env

pytestmark = [pytest.mark.storm, pytest.mark.slow]


def test_storm_version_matches_project_clj(storm_home: StormHome) -> None:
    # sparse run refuses to start unless both agree.
    out = run(["storm", "version"], Path.cwd(), storm_env(storm_home), timeout_s=60)
    assert out.returncode == 0, out.stdout
    assert re.search(r"^Storm (\S+)$", out.stdout, re.MULTILINE).group(1) == STORM_VERSION
    project_clj = (Path(__file__).parents[2] / "project.clj").read_text()
    assert f'[org.apache.storm/storm-core "{STORM_VERSION}"]' in project_clj


def test_sparse_run_runs_the_topology_in_local_mode_for_t_seconds(
    storm_home: StormHome, project_copy: Path
) -> None:
    project = copy_project(FIXTURE_PROJECT, project_copy)
    output = project / "out.jsonl"
    count = 30
    out = run(
        [
            "sparse",
            "run",
            "-e",
            "local",
            "-n",
            "squares",
            "-t",
            "12",
            "-o",
            f"fixture.output={output}",
            "-o",
            f"fixture.count={count}",
        ],
        project,
        storm_env(storm_home),
    )
    assert out.returncode == 0, out.stdout[-5000:]
    # Local mode, not a submission to some cluster: LocalCluster ran it for the -t seconds.
    assert "RUNNING LOCAL CLUSTER for 12 seconds" in out.stdout
    records = read_jsonl(output)
    assert sorted(r["n"] for r in records) == list(range(count))
    assert all(r["square"] == r["n"] ** 2 for r in records)
    # par=2: two Python processes shared the work.
    assert len({r["pid"] for r in records}) == 2

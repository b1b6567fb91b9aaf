"""The ward under Storm (`sparse run`): its spouts time their own trees and write a summary line
per stream to the worker log (squall.realtime.standalone), where a Storm user reads p99 and
misses. In local mode the worker log is `sparse run`'s console."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from squall.storm.home import StormHome

from .kit import run, storm_env

pytestmark = [pytest.mark.storm, pytest.mark.slow]
ROOT = Path(__file__).parents[2]
SUMMARY = re.compile(
    r"realtime (critical|routine)\.default: p99 (?:[\d.]+ ms|n/a), misses (\d+)/(\d+) \("
)


def test_sparse_run_ward_logs_each_streams_p99_and_misses(
    storm_home: StormHome, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("src", "topologies"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("config.json", "project.clj", "config.yaml"):
        shutil.copy(ROOT / name, project / name)
    # 25 s of config.yaml's gentle rate: two 10 s summaries per spout at least.
    out = run(
        ["sparse", "run", "-e", "local", "-n", "health_ward", "-t", "25"],
        project,
        storm_env(storm_home),
    )
    assert out.returncode == 0, out.stdout[-5000:]
    assert "realtime critical: self-timed (no embedded runtime): critical.default hard 50 ms" in (
        out.stdout
    ), out.stdout[-5000:]
    assert "realtime routine: self-timed (no embedded runtime): routine.default firm 1000 ms" in (
        out.stdout
    )
    completed: dict[str, int] = {}
    for match in SUMMARY.finditer(out.stdout):
        stream, misses, n = match.group(1), int(match.group(2)), int(match.group(3))
        assert misses <= n
        completed[stream] = max(completed.get(stream, 0), n)
    # both classes' trees were timed from release to ack, and the counts reached the log
    assert set(completed) == {"critical", "routine"}, out.stdout[-5000:]
    assert completed["critical"] > 0 and completed["routine"] > 0, completed

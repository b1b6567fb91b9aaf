"""WindowedBolt inside real Apache Storm (sparse run, local mode, multilang ShellBolts) gives
the windows and acks the embedded runner gives for the same topology, and the ones the window
definitions predict."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from squall.storm.home import StormHome
from squall.storm.provision import provision
from tests.storm.kit import copy_project, run, storm_env

pytestmark = [pytest.mark.storm, pytest.mark.slow]

PROJECT = Path(__file__).parent / "storm_project"
COUNT = 40
T = 1_700_000_000_000


@pytest.fixture(scope="module")
def home() -> StormHome:
    return provision(progress=lambda message: print(message, flush=True))


def windows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        if row["kind"] == "count":
            row["end"] = None  # processing time: differs from run to run
    return sorted(rows, key=lambda r: (r["kind"], r["current"]))


def expected() -> list[dict]:
    rows = []
    # last 5 of every 3: [0 1 2], [1..5], [4..8], ... until the 39th tuple (no 42nd)
    for trigger in range(3, COUNT + 1, 3):
        current = list(range(max(0, trigger - 5), trigger))
        previous = list(range(max(0, trigger - 8), trigger - 3)) if trigger > 3 else []
        rows.append(
            {
                "kind": "count",
                "start": None,
                "end": None,
                "current": current,
                "new": [n for n in current if n not in previous],
                "expired": [n for n in previous if n not in current],
            }
        )
    # ts = T + 100 n, tumbling 1 s, watermark = T + 3900 - 200: windows ending T .. T + 3000
    bounds = [(T - 1000, T, [0])] + [
        (T + k * 1000 - 1000, T + k * 1000, list(range(10 * k - 9, 10 * k + 1))) for k in (1, 2, 3)
    ]
    previous = []
    for start, end, current in bounds:
        rows.append(
            {
                "kind": "event",
                "start": start,
                "end": end,
                "current": current,
                "new": current,
                "expired": previous,
            }
        )
        previous = current
    return sorted(rows, key=lambda r: (r["kind"], r["current"]))


def test_storm_and_the_runner_agree(home: StormHome, tmp_path: Path) -> None:
    options = ["-o", f"fixture.count={COUNT}"]
    storm = copy_project(PROJECT, tmp_path / "storm")
    out = run(
        [
            "sparse",
            "run",
            "-e",
            "local",
            "-n",
            "windowed",
            "-t",
            "15",
            *options,
            "-o",
            f"fixture.output={storm / 'out.jsonl'}",
            "-o",
            f"fixture.acks={storm / 'acks.txt'}",
        ],
        storm,
        storm_env(home),
    )
    assert out.returncode == 0, out.stdout[-5000:]
    assert "Halting process" not in out.stdout.split("Shutting down")[0], out.stdout[-5000:]

    runner = copy_project(PROJECT, tmp_path / "runner")
    env = {**os.environ, "PYTHONPATH": str(runner / "src")}
    out = run(
        [
            sys.executable,
            "-m",
            "squall.cli",
            "run",
            "topologies/windowed.py",
            "--seconds",
            "6",
            "--quiet",
            *options,
            "-o",
            f"fixture.output={runner / 'out.jsonl'}",
            "-o",
            f"fixture.acks={runner / 'acks.txt'}",
        ],
        runner,
        env,
        timeout_s=120,
    )
    assert out.returncode == 0, out.stdout[-5000:]

    assert windows(storm / "out.jsonl") == expected()
    assert windows(runner / "out.jsonl") == expected()
    # a tuple is acked once both bolts let it go: the count bolt keeps 37.. for its next
    # window (tuples 37-41), the event bolt keeps ts > T + 3000 (31..): trees 0..30 complete
    storm_acks = sorted(int(x) for x in (storm / "acks.txt").read_text().split())
    runner_acks = sorted(int(x) for x in (runner / "acks.txt").read_text().split())
    assert storm_acks == runner_acks == list(range(31))

"""Fused Python bolts under a real Storm (``sparse run``, local mode): a receiver of a fused
chain's streams sees each tuple's own component, stream and fields, in both multilang formats.
The health topology's run with fusion is in test_storm_local; squall.storm.fusion's wiring and
FusedBolt's protocol are tested without a JVM in test_fusion."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from squall.storm.home import StormHome

from .kit import FIXTURE_PROJECT, read_jsonl, run, storm_env

pytestmark = [pytest.mark.storm, pytest.mark.slow]
ROOT = Path(__file__).parents[2]
FIXTURE = Path(__file__).parent / "fused_fixture"
COUNT = 30


def _expected() -> list[dict]:
    """What the recorder must write, worked out from the fixture's rules (not its code)."""
    lines = []
    for n in range(COUNT):
        if n % 2:
            lines.append(
                {
                    "component": "split",
                    "stream": "odd",
                    "fields": ["n", "reason"],
                    "values": [n, "odd"],
                }
            )
        else:
            lines.append(
                {
                    "component": "add",
                    "stream": "default",
                    "fields": ["n", "half", "total"],
                    "values": [n, n // 2, n + n // 2],
                }
            )
    return lines


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_a_fused_chains_receiver_sees_the_members_own_names(
    storm_home: StormHome, tmp_path: Path, serializer: str
) -> None:
    # squall's project (its src/ holds squall, its project.clj the JVM serializers) with the
    # fixture's topology and components added.
    project = tmp_path / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(FIXTURE / "src" / "fused_fixture", project / "src" / "fused_fixture")
    spouts = FIXTURE_PROJECT / "src" / "fixture_spouts"
    shutil.copytree(
        spouts, project / "src" / "fixture_spouts", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(FIXTURE / "topologies", project / "topologies")
    shutil.copy(ROOT / "project.clj", project / "project.clj")
    sparse_config = json.loads((ROOT / "config.json").read_text())
    sparse_config["serializer"] = serializer
    (project / "config.json").write_text(json.dumps(sparse_config, indent=2))
    out_file = tmp_path / "names.jsonl"

    sparse_run = "sparse run -e local -n fused_names -t 15".split()
    out = run(
        [*sparse_run, "-o", f"fixture.output={out_file}", "-o", f"fixture.count={COUNT}"],
        project,
        storm_env(storm_home),
    )

    assert out.returncode == 0, out.stdout[-5000:]
    flux_path = out.stdout.split("--sleep 15 ")[1].split()[0]
    flux = yaml.safe_load(Path(flux_path).read_text())
    bolts = {b["id"]: b["constructorArgs"][0][1] for b in flux["bolts"]}
    assert set(bolts) == {"add", "names"}, bolts  # split runs inside add's component
    assert bolts["add"].endswith("squall.storm.fused_bolt.FusedBolt")
    got = sorted(read_jsonl(out_file), key=lambda line: line["values"][0])
    assert got == _expected()

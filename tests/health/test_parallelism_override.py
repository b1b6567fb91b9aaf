"""``-o health.parallelism.*`` cannot change a topology's shape, so ``squall run`` refuses one
that differs from what the topology file was defined with, instead of silently running the
file's parallelism (found: two tests asked for one parse task this way and ran two)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from health_core.config import HealthConfigError
from squall.loading import load_topology, run_conf

ROOT = Path(__file__).resolve().parents[2]
FILE_PARSE = yaml.safe_load((ROOT / "config.yaml").read_text())["parallelism"]["parse"]


def test_an_override_of_a_parallelism_is_refused_naming_where_to_set_it() -> None:
    topology = load_topology(str(ROOT / "topologies" / "health.py"))
    other = FILE_PARSE + 1
    expected = (
        f"-o health.parallelism.parse={other}: health.parallelism.parse shapes the topology "
        "when it is defined (parallelism.parse in config.yaml, or in the file "
        f"$SQUALL_HEALTH_CONFIG names; {FILE_PARSE} for this topology), and an override "
        "cannot change the shape; set it there instead"
    )
    with pytest.raises(HealthConfigError, match=re.escape(expected)):
        run_conf(topology, {"health.parallelism.parse": other}, ROOT / "config.json")
    # the value it was defined with is no change: accepted, as are ordinary overrides
    conf = run_conf(
        topology,
        {"health.parallelism.parse": FILE_PARSE, "health.producers.count": 3},
        ROOT / "config.json",
    )
    assert conf["health.producers.count"] == 3


def test_the_file_named_by_the_environment_sets_the_shape(tmp_path: Path) -> None:
    text = (ROOT / "config.yaml").read_text()
    assert f"\nparallelism:\n  parse: {FILE_PARSE}\n" in text
    mine = tmp_path / "one-parse.yaml"
    mine.write_text(text.replace(f"  parse: {FILE_PARSE}\n", "  parse: 1\n", 1))
    # the shape as the runner sees it: the parse spec's parallelism, in a fresh interpreter
    # (the topology file reads its config once, when imported)
    probe = (
        "from squall.loading import load_topology; "
        "t = load_topology('topologies/health.py'); "
        "print([s.par for s in t.specs if s.name == 'parse'][0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"SQUALL_HEALTH_CONFIG": str(mine), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"

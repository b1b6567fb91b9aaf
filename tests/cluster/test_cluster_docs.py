"""docs/cluster.md: the one shell command it shows is `make test-cluster`, and that target
exists and runs the cluster tests (the tests it describes are the ones marked `cluster`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.doc_commands import sh_commands

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cluster.md"


def test_the_page_shows_exactly_make_test_cluster() -> None:
    assert sh_commands(PAGE, ("",)) == ["make test-cluster"]


def test_make_test_cluster_runs_the_cluster_tests() -> None:
    # --no-print-directory: under `make test` this make is nested and would print
    # "Entering/Leaving directory" around the commands
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "test-cluster"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == ".venv/bin/pytest -m cluster tests/cluster"


def test_the_tests_the_page_names_exist() -> None:
    text = PAGE.read_text()
    sources = [path.read_text() for path in (ROOT / "tests" / "cluster").glob("test_*.py")]
    named = re.findall(r"`(test_\w+)`", text)
    assert len(named) >= 5, named
    for name in named:
        assert any(f"def {name}(" in source for source in sources), (
            f"docs/cluster.md names {name}, which does not exist in tests/cluster"
        )

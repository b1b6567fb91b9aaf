"""`sparse` run the project's way (``eval "$(.venv/bin/squall storm env)"``, as docs/storm.md and
mk/storm.mk do) prints none of its dependencies' known warnings, and still every other warning
and error. Offline and without Storm: `sparse list -h` imports all of sparse (and paramiko)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from squall.storm.sparse_env import SPARSE_WARNING_FILTERS, sparse_environment, with_warning_filters

ROOT = Path(__file__).resolve().parents[2]
SQUALL_ENV = 'eval "$(.venv/bin/squall storm env)"'
TRIPLEDES = "TripleDES has been moved"


def the_projects_way(command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in a shell after the line docs/storm.md and mk/storm.mk run first."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run(
        ["sh", "-c", f"{SQUALL_ENV} && {command}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_and_the_docs_run_sparse_that_way() -> None:
    # --no-print-directory: under `make test` this make is nested and would print
    # "make[1]: Entering directory ..." first
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "sparse-kill"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert dry_run.stdout.startswith(f"{SQUALL_ENV} && .venv/bin/sparse kill ")
    assert f"\n{SQUALL_ENV}\n" in (ROOT / "docs" / "storm.md").read_text()


def test_sparse_prints_no_tripledes_warning() -> None:
    bare = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "sparse"), "list", "-h"],
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if TRIPLEDES not in bare.stderr:
        pytest.skip("paramiko no longer warns about TripleDES: drop its filter in sparse_env.py")
    quiet = the_projects_way("sparse list -h")
    assert quiet.returncode == 0, quiet.stderr
    assert "usage: sparse list" in quiet.stdout
    assert quiet.stderr == ""


def test_a_real_error_still_shows() -> None:
    bad = the_projects_way("sparse list --no-such-option")
    assert bad.returncode == 2
    assert bad.stderr.endswith("sparse: error: unrecognized arguments: --no-such-option\n")
    assert TRIPLEDES not in bad.stderr


def test_only_the_known_pkg_resources_warning_is_ignored() -> None:
    # What `sparse stats` runs (streamparse/cli/stats.py), next to warnings nobody filtered.
    script = (
        "import warnings; from pkg_resources import parse_version; "
        "parse_version('0.9.2-incubating'); parse_version('not-a-version'); "
        "warnings.warn('a warning of our own')"
    )
    out = the_projects_way(f"python -c {script!r}")
    assert out.returncode == 0, out.stderr
    assert "0.9.2-incubating" not in out.stderr
    assert "not-a-version is an invalid version" in out.stderr
    assert "UserWarning: a warning of our own" in out.stderr


def test_a_users_own_filters_are_kept_and_come_first() -> None:
    assert with_warning_filters(None) == ",".join(SPARSE_WARNING_FILTERS)
    assert with_warning_filters("error") == ",".join(("error", *SPARSE_WARNING_FILTERS))
    env = sparse_environment(base={"PATH": "/usr/bin", "PYTHONWARNINGS": "error::ResourceWarning"})
    assert env["PYTHONWARNINGS"].startswith("error::ResourceWarning,ignore:TripleDES")
    assert env["PATH"].endswith(os.pathsep + "/usr/bin")
    assert env["LEIN_ROOT"] == "1"

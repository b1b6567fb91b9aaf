"""Helpers for the Storm tests: run `sparse` and `storm` as a user would, in a copy of a
project, and read observable outcomes (files, Nimbus, the UI's REST API; wait on them with
tests.polling.eventually)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from squall.storm.cluster import StormCluster
from squall.storm.home import StormHome

FIXTURE_PROJECT = Path(__file__).parent / "fixture_project"
ROOT = Path(__file__).parents[2]
# what sparse needs of this project
PROJECT_ENTRIES = ("src", "topologies", "virtualenvs", "config.json", "project.clj", "config.yaml")
# sparse prints these on every call (paramiko, pkg_resources); they only clutter failure output.
NOISE = ("CryptographyDeprecationWarning", "TripleDES", "pkg_resources", "parse_version")


def storm_env(home: StormHome, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user has after following docs/storm.md: Storm's bin/ and the venv's
    bin/ (sparse, streamparse_run) first on PATH, LEIN_ROOT=1 (sparse refuses root without it)."""
    path = os.pathsep.join(
        [str(home.launcher.parent), str(Path(sys.executable).parent), os.environ["PATH"]]
    )
    env = {**os.environ, "PATH": path, "LEIN_ROOT": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("STORM_CONF_DIR", None)
    return {**env, **(extra or {})}


def copy_project(
    source: Path, target: Path, nimbus_port: int | None = None, ui_port: int | None = None
) -> Path:
    """A copy of a sparse project (sparse writes _build/ and _resources/ into it); with
    ``nimbus_port`` (and ``ui_port``), its "local" env points at that cluster."""
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns("__pycache__", "_build", "_resources")
    )
    if nimbus_port is not None:
        config_file = target / "config.json"
        config = json.loads(config_file.read_text())
        config["envs"]["local"]["nimbus"] = f"localhost:{nimbus_port}"
        if ui_port is not None:
            config["envs"]["local"]["ui.port"] = ui_port
        config_file.write_text(json.dumps(config, indent=2))
    return target


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; its output (minus known noise) is in .stdout."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout_s,
    )
    proc.stdout = "\n".join(
        line for line in proc.stdout.splitlines() if not any(n in line for n in NOISE)
    )
    return proc


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ui_get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return json.loads(resp.read())


def ui_get_if_found(port: int, path: str) -> Any:
    """Like ui_get, but None for a 404 (e.g. a component not scheduled yet)."""
    try:
        return ui_get(port, path)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def topology_id(ui_port: int, name: str) -> str | None:
    for topo in ui_get(ui_port, "/api/v1/topology/summary")["topologies"]:
        if topo["name"] == name:
            return str(topo["id"])
    return None


def table_rows(text: str) -> list[dict[str, str]]:
    """The data rows of a table `sparse list` prints (texttable wraps long cells over several
    lines: the pieces of each cell are joined back)."""
    lines = text.splitlines()
    rows: list[dict[str, str]] = []
    header: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.startswith("+="):
            header, current = current, []
        elif line.startswith("+-"):
            if header and current:
                rows.append(dict(zip(header, current, strict=True)))
            current = []
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            current = cells if not current else [a + b for a, b in zip(current, cells, strict=True)]
    return rows


class Sparse:
    """`sparse` in a copy of the fixture project whose "local" env points at the test cluster."""

    def __init__(self, cluster: StormCluster, project: Path) -> None:
        self.cluster = cluster
        self.project = project
        self.env = storm_env(cluster.home)

    def __call__(self, *args: str) -> str:
        out = run(["sparse", *args], self.project, self.env)
        assert out.returncode == 0, f"sparse {' '.join(args)} failed:\n{out.stdout[-5000:]}"
        return out.stdout

    @property
    def ui_port(self) -> int:
        state = self.cluster.state()
        assert state is not None
        return state.ports.ui


# how `ss` writes 127.0.0.1 for an IPv4 socket and for Java's dual-stack IPv6 ones
LOOPBACK = {"127.0.0.1", "[::ffff:127.0.0.1]"}


def listening_sockets(pids: set[int]) -> list[str]:
    """The local addresses (``ADDRESS:PORT``) that ``pids`` listen on, as ``ss`` lists them."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            found.append(line.split()[3])
    return found


def health_project(
    target: Path,
    nimbus_port: int | None = None,
    ui_port: int | None = None,
    **config_changes: dict[str, Any],
) -> Path:
    """A copy of this project (what sparse needs) at ``target``, its "local" env pointing at
    the cluster on ``nimbus_port`` (``copy_project``), with config.yaml sections changed."""
    staging = target.parent / f"{target.name}-staging"
    staging.mkdir(parents=True)
    for name in PROJECT_ENTRIES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, staging / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, staging / name)
    if config_changes:
        config = yaml.safe_load((staging / "config.yaml").read_text())
        for section, values in config_changes.items():
            config[section] = {**config.get(section, {}), **values}
        (staging / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    project = copy_project(staging, target, nimbus_port, ui_port)
    shutil.rmtree(staging)
    return project


def health_records(path: Path) -> tuple[Counter[tuple], Counter[tuple]]:
    """(alerts, invalid records) of a JSON-lines sink file, without wall-clock fields."""
    alerts: Counter[tuple] = Counter()
    invalid: Counter[tuple] = Counter()
    for line in read_jsonl(path):
        if line["component"] == "threshold":
            reading = line["reading"]
            alerts[
                (line["rule"], line["reading_id"], reading["weight_kg"], reading["height_cm"])
            ] += 1
        else:
            invalid[(line["component"], line["stream"], line.get("reason", ""))] += 1
    return alerts, invalid


def embedded_health_records(project: Path, out_dir: Path) -> tuple[Counter[tuple], Counter[tuple]]:
    """``health_records`` of the embedded runner running the HealthTopology of ``project`` (its
    own config.yaml) until idle; both kinds non-empty, so a comparison means something."""
    from squall import run_topology

    spec = importlib.util.spec_from_file_location(
        f"health_topology_{abs(hash(project))}", project / "topologies" / "health.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "embedded.jsonl"
    result = run_topology(
        module.HealthTopology,
        {"health.sinks.console": False, "health.sinks.jsonl.path": str(out)},
        until_idle=True,
    )
    assert result.errors == []
    alerts, invalid = health_records(out)
    assert sum(alerts.values()) > 0 and sum(invalid.values()) > 0
    return alerts, invalid

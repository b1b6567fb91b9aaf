"""`storm version` and `sparse run` (Storm's local mode) on the project-provisioned Storm."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
import yaml

from squall.storm.home import STORM_VERSION, StormHome
from tests.polling import eventually

from .kit import (
    FIXTURE_PROJECT,
    LOOPBACK,
    copy_project,
    embedded_health_records,
    health_records,
    listening_sockets,
    read_jsonl,
    run,
    storm_env,
)

pytestmark = [pytest.mark.storm, pytest.mark.slow]
ROOT = Path(__file__).parents[2]


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


def test_sparse_run_listens_on_loopback_only(storm_home: StormHome, project_copy: Path) -> None:
    """Issue 17: LocalCluster's in-process ZooKeeper binds the wildcard address unless the
    launcher's bind shim (squall.storm.bind_shim) turns it into 127.0.0.1."""
    project = copy_project(FIXTURE_PROJECT, project_copy)
    output = project / "out.jsonl"
    argv = ["sparse", "run", "-e", "local", "-n", "squares", "-t", "30"]
    argv += [
        "-o",
        f"fixture.output={output}",
        "-o",
        "fixture.count=1000",
        "-o",
        "fixture.delay_s=0.02",
    ]
    proc = subprocess.Popen(
        argv,
        cwd=project,
        env=storm_env(storm_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        eventually(lambda: output.is_file() and read_jsonl(output), "the topology to run")
        root = psutil.Process(proc.pid)
        pids = {p.pid for p in (root, *root.children(recursive=True))}
        addresses = listening_sockets(pids)
        assert addresses, "LocalCluster listens (its ZooKeeper): nothing found, wrong pids?"
        assert {a.rsplit(":", 1)[0] for a in addresses} <= LOOPBACK, addresses
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the JVM and its Python children
        proc.wait(timeout=30)


def _flux_file(sparse_output: str) -> Path:
    """The Flux YAML `sparse run` wrote and ran (its path is in the command it prints)."""
    found = re.search(r"org\.apache\.storm\.flux\.Flux .*?(\S+\.yaml)", sparse_output)
    assert found, f"no Flux command in sparse's output: {sparse_output[-2000:]}"
    return Path(found.group(1))


@pytest.mark.parametrize(
    ("serializer", "spout_batch", "chaining"),
    [("json", 1, False), ("json", None, None), ("msgpack", None, None)],
)
def test_sparse_run_health_topology_gives_the_embedded_runners_alerts(
    storm_home: StormHome,
    tmp_path: Path,
    serializer: str,
    spout_batch: int | None,
    chaining: bool | None,
) -> None:
    # HealthTopology (topologies/health.py, synthetic readings) in a copy of the project, under
    # its own name: sparse imports a topology file by its bare module name (`health`), which is
    # why the domain package is called health_core. msgpack: config.json's "serializer" alone
    # (issue 13's product option) wires pystorm and the JVM side (squall.storm.topology).
    # squall.spout.batch: 1 is stock multilang (one next_tuple per `next`); unset, the spout
    # answers a `next` with up to 16 (squall.storm.batched_spout). squall.chaining unset: every
    # bolt runs in one process (squall.storm.fusion: one task each), trend's windows and both
    # sinks included, and the sinks must still see bmi's invalid records as bmi's; false:
    # stock, one process per bolt.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("src", "topologies"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "project.clj", project / "project.clj")
    sparse_config = json.loads((ROOT / "config.json").read_text())
    sparse_config["serializer"] = serializer
    (project / "config.json").write_text(json.dumps(sparse_config, indent=2))
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    # A bounded, unpaced run: 4 producers x 50 seeded readings (the same in both runners).
    config["producers"] |= {"max_readings_per_producer": 50, "rate_per_producer_hz": 0}
    (project / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    storm_out = tmp_path / "storm.jsonl"
    # The console sink writes to the worker log under Storm; only the file is compared.
    out = run(
        [
            "sparse",
            "run",
            "-e",
            "local",
            "-n",
            "health",
            "-t",
            "25",
            "-o",
            f"health.sinks.jsonl.path={storm_out}",
            *(["-o", f"squall.spout.batch={spout_batch}"] if spout_batch else []),
            *(["-o", f"squall.chaining={str(chaining).lower()}"] if chaining is not None else []),
        ],
        project,
        storm_env(storm_home),
    )
    assert out.returncode == 0, out.stdout[-5000:]
    # Which JVM serializer ran: the Flux file sparse wrote holds the topology's config.
    flux = yaml.safe_load(_flux_file(out.stdout).read_text())
    jvm_side = flux["config"].get("topology.multilang.serializer")
    bolts = {b["id"]: b["constructorArgs"][0][1] for b in flux["bolts"]}
    assert all(f"-s {serializer} " in script for script in bolts.values())
    assert flux["config"].get("squall.spout.batch") == spout_batch
    assert "squall.unfused" not in flux  # the launcher settled it before Flux read the file
    if chaining is False:
        assert set(bolts) == {"parse", "bmi", "threshold", "trend", "console", "jsonl"}
        assert bolts["threshold"].endswith("bolts.threshold.ThresholdBolt")
    else:
        assert set(bolts) == {"jsonl"}  # all six bolts in one process, named after the last
        assert bolts["jsonl"].endswith("squall.storm.fused_bolt.FusedBolt")
    # JSON keeps Storm's JsonSerializer unless bolts are fused: then squall's picks per reader
    expected_jvm = {
        "msgpack": "squall.storm.MsgpackSerializer",
        "json": "squall.storm.MultilangSerializer",
    }[serializer]
    assert jvm_side == expected_jvm, flux["config"]

    assert health_records(storm_out) == embedded_health_records(project, tmp_path / "embedded")


def test_sparse_run_refuses_msgpack_on_a_plain_streamparse_topology(
    storm_home: StormHome, project_copy: Path
) -> None:
    # The fixture's topology derives from streamparse's Topology, which does not set the JVM
    # side: without the launcher's check both sides would wait on each other, silently.
    project = copy_project(FIXTURE_PROJECT, project_copy)
    config_file = project / "config.json"
    sparse_config = json.loads(config_file.read_text())
    sparse_config["serializer"] = "msgpack"
    config_file.write_text(json.dumps(sparse_config, indent=2))
    out = run(
        ["sparse", "run", "-e", "local", "-n", "squares", "-t", "5"], project, storm_env(storm_home)
    )
    assert out.returncode != 0
    assert "speaks msgpack" in out.stdout and "squall.storm.topology.Topology" in out.stdout
    assert "RUNNING LOCAL CLUSTER" not in out.stdout  # refused before any JVM started

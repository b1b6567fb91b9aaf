"""`sparse` and the UI's REST API as the cluster tests use them on the Storm test hosts: sparse
runs on the Nimbus host (as on a user's machine that reaches Nimbus), the REST API is asked from
inside it too (the machine itself has no route to the hosts, docs/cluster.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from squall.storm.hosts_cluster import NIMBUS_PORT, UI_PORT, HostsCluster
from tests.cluster.kafka_cluster import KafkaCluster
from tests.storm.kit import NOISE, copy_project, storm_env

__test__ = False

SUPERVISORS = ("super1", "super2")
ROOT = Path(__file__).resolve().parents[2]
# What `sparse submit` needs of this project to ship the health topologies.
PROJECT_ENTRIES = ("src", "topologies", "virtualenvs", "config.json", "project.clj", "config.yaml")
WORKER_MAIN = b"org.apache.storm.daemon.worker.Worker"


@dataclass
class StormKafka:
    """One set of test hosts with both clusters: Storm on nimbus/super1/super2, the three
    brokers on k1-k3, the producers and read-back on "client" (tests/cluster/conftest.py)."""

    storm: HostsCluster
    kafka: KafkaCluster


def point_at(cluster: HostsCluster, project: Path) -> Path:
    """Point ``project``'s "local" env at the Nimbus host, listing the supervisor hosts as
    workers, as for a real cluster."""
    config_file = project / "config.json"
    config = json.loads(config_file.read_text())
    config["envs"]["local"].update(
        {
            "nimbus": f"{cluster.nimbus_address}:{NIMBUS_PORT}",
            "workers": [cluster.hosts[h].address for h in SUPERVISORS],
            "ui.port": UI_PORT,
        }
    )
    config_file.write_text(json.dumps(config, indent=2))
    return project


def project_for(cluster: HostsCluster, source: Path, target: Path) -> Path:
    """A copy of the sparse project ``source`` pointed at the Nimbus host."""
    return point_at(cluster, copy_project(source, target))


def health_project(cluster: HostsCluster, target: Path) -> Path:
    """A copy of this project (what sparse ships: src/, topologies/, config.yaml...) pointed at
    the Nimbus host."""
    target.mkdir(parents=True)
    for name in PROJECT_ENTRIES:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "_build", "_resources")
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy(source, target / name)
    return point_at(cluster, target)


def sparse(cluster: HostsCluster, project: Path, *args: str) -> str:
    """`sparse ARGS` run on the Nimbus host in ``project``; its output (minus known noise)."""
    proc = cluster.hosts.popen(
        "nimbus",
        ["sparse", *args],
        cwd=project,
        env=storm_env(cluster.home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    text = "\n".join(line for line in out.splitlines() if not any(n in line for n in NOISE))
    assert proc.returncode == 0, (
        f"sparse {' '.join(args)} exited {proc.returncode}:\n{text[-5000:]}"
    )
    return text


def topology_id(cluster: HostsCluster, name: str) -> str | None:
    summary = cluster.get("/api/v1/topology/summary")
    if not isinstance(summary, dict):
        return None
    return next((str(t["id"]) for t in summary["topologies"] if t["name"] == name), None)


def executor_hosts(cluster: HostsCluster, topo_id: str, component: str) -> list[str]:
    """The host of each of the component's executors, as Nimbus assigned them (UI REST API)."""
    page = cluster.get(f"/api/v1/topology/{topo_id}/component/{component}")
    return [e["host"] for e in page["executorStats"]] if isinstance(page, dict) else []


def host_named(cluster: HostsCluster, address: str) -> str:
    """The test host's name for ``address``."""
    [name] = [n for n, h in cluster.hosts.hosts.items() if h.address == address]
    return name


def worker_pids(cluster: HostsCluster, host: str) -> set[int]:
    """The pids of the Storm worker JVMs running in ``host`` (read from /proc: the host's
    processes are the machine's, only their network differs)."""
    pids = set()
    for pid in cluster.hosts.pids_in(host):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        if WORKER_MAIN in cmdline:
            pids.add(pid)
    return pids

"""`sparse submit | list | kill` against a real single-node Storm cluster (the session's
``storm_cluster``: ZooKeeper, Nimbus, a Supervisor with 2 slots, the UI's REST API), a worker
killed with SIGKILL, and a topology whose bolt fails every tuple."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from squall.storm.cluster import StormCluster
from squall.storm.nimbus import nimbus_client
from tests.polling import eventually

from .kit import (
    LOOPBACK,
    Sparse,
    embedded_health_records,
    health_project,
    health_records,
    listening_sockets,
    read_jsonl,
    table_rows,
    topology_id,
    ui_get,
    ui_get_if_found,
)

pytestmark = [pytest.mark.storm, pytest.mark.slow]


def _component(topology: dict, key: str, name: str) -> dict:
    """A spout's or bolt's row (key "spouts"/"bolts"); empty before its executors are scheduled."""
    return next((c for c in topology[key] if c[key[:-1] + "Id"] == name), {})


def assert_listening_on_loopback_only(cluster: StormCluster, worker_pid: int) -> None:
    """Issue 17: nothing squall starts listens on the wildcard address (Storm 2.8 has no
    setting for it; the bind shim does it) -- the daemons, the worker and what they started."""
    state = cluster.state()
    assert state is not None
    roots = [psutil.Process(d.pid) for d in state.daemons.values()] + [psutil.Process(worker_pid)]
    pids = {p.pid for root in roots for p in (root, *root.children(recursive=True))}
    addresses = listening_sockets(pids)
    ports = {int(a.rsplit(":", 1)[1]) for a in addresses}
    # ZooKeeper, Nimbus, the Supervisor, the worker's slot, the UI's REST API
    assert {state.ports.zookeeper, state.ports.nimbus, state.ports.supervisor} <= ports
    assert state.ports.ui in ports and ports & set(state.ports.slots), addresses
    host_of = [a.rsplit(":", 1)[0] for a in addresses]
    assert set(host_of) <= LOOPBACK, addresses


def test_submit_list_ui_worker_kill_and_kill(sparse: Sparse, storm_cluster: StormCluster) -> None:
    output = sparse.project / "out.jsonl"
    count = 300
    sparse(
        "submit",
        "-e",
        "local",
        "-n",
        "squares",
        "-o",
        f"fixture.output={output}",
        "-o",
        f"fixture.count={count}",
        "-o",
        "fixture.delay_s=0.04",
    )
    [listed] = table_rows(sparse("list", "-e", "local"))
    assert (listed["name"], listed["status"]) == ("squares", "ACTIVE")

    # Mid-stream: some numbers are written, not all.
    eventually(
        lambda: 50 <= len(read_jsonl(output)) < count, "the stream to be under way", every_s=0.2
    )
    [worker] = storm_cluster.worker_processes()
    assert_listening_on_loopback_only(storm_cluster, worker.pid)
    os.kill(worker.pid, signal.SIGKILL)
    killed_at = len(read_jsonl(output))

    # The Supervisor notices and starts a new worker JVM for the same topology.
    new_workers = eventually(
        lambda: [w for w in storm_cluster.worker_processes() if w.pid != worker.pid],
        "a restarted worker",
    )
    assert len(new_workers) == 1
    # The new worker's spout starts again from 0 (the fixture keeps no state): every number
    # reaches the file again, written by new Python processes.
    old_pids = {r["pid"] for r in read_jsonl(output)[:killed_at]}

    def replayed() -> set[int] | None:
        seen = {r["n"] for r in read_jsonl(output)[killed_at:] if r["pid"] not in old_pids}
        return seen if seen == set(range(count)) else None

    eventually(replayed, "every number again from the restarted worker", timeout_s=180)

    # The UI's REST API shows the components executing.
    topo_id = topology_id(sparse.ui_port, "squares")
    assert topo_id

    def counted() -> dict | None:
        topology = ui_get(sparse.ui_port, f"/api/v1/topology/{topo_id}")
        bolt = _component(topology, "bolts", "record")
        return (
            topology if bolt.get("executed", 0) >= count and bolt.get("acked", 0) >= count else None
        )

    topology = eventually(counted, "the UI to count the record bolt's tuples", timeout_s=60)
    assert topology["status"] == "ACTIVE"
    assert _component(topology, "spouts", "numbers")["acked"] >= count
    assert _component(topology, "bolts", "record")["executors"] == 2

    # streamparse's own views of the UI (they need setuptools<66, see pyproject.toml).
    stats = {
        row.get("boltId") or row.get("spoutId"): row
        for row in table_rows(sparse("stats", "-e", "local", "-n", "squares"))
    }
    assert int(stats["record"]["executed"]) >= count, stats
    assert int(stats["numbers"]["acked"]) >= count, stats
    [slots] = table_rows(sparse("slot_usage", "-e", "local"))
    assert slots["squares"].startswith("1 "), slots  # one worker slot (and its executors)
    # a component's page: per-window totals, then its inputs (the UI serves Storm 2's fields)
    page = table_rows(sparse("stats", "-e", "local", "-n", "squares", "-c", "record"))
    all_time = next(r for r in page if r.get("windowPretty") == "All time")
    assert int(all_time["executed"]) >= count, page
    inputs = [r for r in page if r.get("component") == "numbers"]
    assert inputs and int(inputs[0]["executed"]) >= count, page
    uptimes = table_rows(sparse("worker_uptime", "-e", "local"))
    # one row per executor of the topology's own components: numbers x1, record x2
    assert len({r["Worker ID"] for r in uptimes}) == 3, uptimes
    assert all(r["Uptime"].endswith("s") and r["Log URL"].endswith("worker.log") for r in uptimes)

    sparse("kill", "-e", "local", "-n", "squares", "--wait", "1")
    eventually(
        lambda: "No topologies found" in sparse("list", "-e", "local"),
        "sparse list to show no topology",
    )


def _component_errors(ui_port: int, topo_id: str, component: str) -> list[str] | None:
    found = ui_get_if_found(ui_port, f"/api/v1/topology/{topo_id}/component/{component}")
    return [e["error"] for e in found["componentErrors"]] if found else None


def test_a_bolt_crashing_on_every_tuple_is_reported_and_restarted_not_hung(
    sparse: Sparse, storm_cluster: StormCluster
) -> None:
    sparse(
        "submit",
        "-e",
        "local",
        "-n",
        "crashing",
        "-o",
        "fixture.count=5",
        "-o",
        "fixture.output=/dev/null",
    )
    topo_id = eventually(lambda: topology_id(sparse.ui_port, "crashing"), "the topology in the UI")

    def crash_reported() -> list[str] | None:
        errors = _component_errors(sparse.ui_port, topo_id, "crash") or []
        return errors if any("fixture bolt crashes on every tuple" in e for e in errors) else None

    eventually(crash_reported, "the Python exception among the bolt's errors in the UI")
    topology = ui_get(sparse.ui_port, f"/api/v1/topology/{topo_id}")
    assert topology["status"] == "ACTIVE"
    assert _component(topology, "bolts", "crash")["lastError"]

    # The worker halts with its bolt; the Supervisor starts it again (and the log says why).
    def restarts() -> str | None:
        logs = list(
            (storm_cluster.folder / "logs" / "workers-artifacts").glob(f"{topo_id}/*/worker.log")
        )
        text = "\n".join(log.read_text(errors="replace") for log in logs)
        return text if text.count(f"Launching worker for {topo_id}") >= 2 else None

    log_text = eventually(restarts, "the Supervisor to restart the crashed worker")
    assert "ValueError: fixture bolt crashes on every tuple" in log_text
    assert "ShellBolt died" in log_text


def test_a_bolt_failing_every_tuple_shows_failed_counts(sparse: Sparse) -> None:
    sparse(
        "submit",
        "-e",
        "local",
        "-n",
        "rejecting",
        "-o",
        "fixture.count=5",
        "-o",
        "fixture.output=/dev/null",
    )
    topo_id = eventually(lambda: topology_id(sparse.ui_port, "rejecting"), "the topology in the UI")

    def failures_counted() -> dict | None:
        topology = ui_get(sparse.ui_port, f"/api/v1/topology/{topo_id}")
        spout, bolt = (
            _component(topology, "spouts", "numbers"),
            _component(topology, "bolts", "reject"),
        )
        return topology if spout.get("failed", 0) >= 5 and bolt.get("failed", 0) >= 5 else None

    topology = eventually(failures_counted, "failed tuples counted for the spout and the bolt")
    bolt = _component(topology, "bolts", "reject")
    assert bolt["acked"] == 0
    assert "fixture bolt rejects every tuple" in bolt["lastError"]
    errors = _component_errors(sparse.ui_port, topo_id, "reject")
    assert errors and all("fixture bolt rejects every tuple" in e for e in errors)


def test_submit_with_msgpack_in_config_json_gives_the_embedded_runners_alerts(
    storm_cluster: StormCluster, tmp_path: Path
) -> None:
    # Issue 13's product option on a cluster: sparse submit reads the topology's config before
    # it gives the components `-s msgpack`, so the config names squall.storm.MultilangSerializer
    # (in the jar), which speaks MessagePack to them on the worker; with the two sides apart the
    # topology would stall. HealthTopology, bounded and unpaced, writes the embedded runner's
    # alerts.
    state = storm_cluster.state()
    assert state is not None
    project = health_project(
        tmp_path / "project",
        state.ports.nimbus,
        state.ports.ui,
        producers={"max_readings_per_producer": 50, "rate_per_producer_hz": 0},
    )
    config_file = project / "config.json"
    sparse_config = json.loads(config_file.read_text())
    sparse_config["serializer"] = "msgpack"
    config_file.write_text(json.dumps(sparse_config, indent=2))
    expected = embedded_health_records(project, tmp_path / "embedded")
    storm_out = tmp_path / "storm.jsonl"
    sparse = Sparse(storm_cluster, project)
    sparse("submit", "-e", "local", "-n", "health", "-o", f"health.sinks.jsonl.path={storm_out}")
    try:
        topo_id = eventually(lambda: topology_id(sparse.ui_port, "health"), "the topology's id")
        with nimbus_client("127.0.0.1", state.ports.nimbus) as nimbus:
            conf = json.loads(nimbus.getTopologyConf(topo_id))
        assert conf["topology.multilang.serializer"] == "squall.storm.MultilangSerializer"
        wanted = sum(expected[0].values()) + sum(expected[1].values())
        eventually(
            lambda: storm_out.is_file() and len(read_jsonl(storm_out)) >= wanted,
            "every alert and invalid record from the cluster",
            timeout_s=180,
        )
        assert health_records(storm_out) == expected
    finally:
        sparse("kill", "-e", "local", "-n", "health", "--wait", "1")
        eventually(
            lambda: "No topologies found" in sparse("list", "-e", "local"),
            "sparse list to show no topology",
        )

"""`squall storm view`'s reading of the UI REST API, on answers shaped like our REST server's
(squall.storm.ui; its real answers are tested against a real cluster in
tests/storm/test_storm_view.py): the graph, one sample per executor, the cluster's side, and the
watcher's life (waiting, following, an API gone quiet, the topology killed)."""

from __future__ import annotations

from typing import Any

import pytest

from squall.ui.state import LiveState
from squall.ui.storm_source import (
    UNMEASURED,
    NotFound,
    StormApiError,
    executor_first_task,
    pick_topology,
    snapshot_of,
)
from squall.ui.storm_view import StormWatcher

TOPO_ID = "squares-1-17"


def executor(first: int, last: int, port: int, **counts: Any) -> dict[str, Any]:
    return {"id": f"[{first}-{last}]", "host": "h1", "port": port, **counts}


def answers(executed: int = 10, acked: int = 8) -> dict[str, Any]:
    """Path -> answer for a spout `numbers` (1 executor) and a bolt `record` (2, on 2 workers)."""
    base = f"/api/v1/topology/{TOPO_ID}"
    return {
        "/api/v1/topology/summary": {"topologies": [{"id": TOPO_ID, "name": "squares"}]},
        base: {
            "id": TOPO_ID,
            "name": "squares",
            "status": "ACTIVE",
            "uptime": "1m 2s",
            "uptimeSeconds": 62,
            "spouts": [{"spoutId": "numbers", "acked": acked, "failed": 1}],
            "bolts": [{"boltId": "record"}],
        },
        base + "/visualization": {
            "numbers": {":type": "spout", ":parallelism": 1, ":inputs": []},
            "record": {
                ":type": "bolt",
                ":parallelism": 2,
                ":inputs": [
                    {
                        ":component": "numbers",
                        ":stream": "default",
                        ":grouping": "fields",
                        ":fields": ["n"],
                    }
                ],
            },
        },
        base + "/component/numbers": {
            "componentType": "spout",
            "executorStats": [executor(2, 2, 6700, emitted=20, acked=acked, failed=1)],
            "spoutSummary": [{"window": ":all-time", "acked": acked, "completeLatency": "12.500"}],
        },
        base + "/component/record": {
            "componentType": "bolt",
            "executorStats": [
                executor(3, 3, 6700, executed=executed, acked=acked, executeLatency="2.000"),
                executor(4, 5, 6701, executed=4, acked=4, executeLatency="0.500"),
            ],
            "componentErrors": [{"error": "boom", "errorTime": 100}],
        },
    }


class FakeApi:
    """Answers from a dict; a missing path is a 404, ``down`` makes every GET unreachable."""

    base_url = "http://api.test"
    timeout_s = 1.0

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self.down = False

    def get(self, path: str) -> Any:
        if self.down:
            raise StormApiError(f"{self.base_url}{path}: not reachable (refused)")
        if path not in self.table:
            raise NotFound(f"{self.base_url}{path}: Not Found")
        return self.table[path]

    def topologies(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/topology/summary")["topologies"])

    def topology_path(self, topology_id: str) -> str:
        return f"/api/v1/topology/{topology_id}"


def snapshot(table: dict[str, Any]) -> Any:
    base = f"/api/v1/topology/{TOPO_ID}"
    pages = {n: table[f"{base}/component/{n}"] for n in ("numbers", "record")}
    return snapshot_of(table[base], table[base + "/visualization"], pages)


def test_graph_samples_and_hosts_from_the_rest_answers() -> None:
    snap = snapshot(answers())
    assert snap.graph["edges"] == [
        {
            "source": "numbers",
            "stream": "default",
            "target": "record",
            "grouping": "fields",
            "fields": ["n"],
        }
    ]
    assert {n["name"]: (n["kind"], n["par"], n["tasks"]) for n in snap.graph["nodes"]} == {
        "numbers": ("spout", 1, [2]),
        "record": ("bolt", 2, [3, 4]),
    }
    by_task = {t.task: t for t in snap.tasks}
    assert sorted(by_task) == [2, 3, 4]
    # execute seconds = executed x mean execute latency: 10 x 2 ms, 4 x 0.5 ms
    assert by_task[3].exec_seconds == pytest.approx(0.020)
    assert by_task[4].exec_seconds == pytest.approx(0.002)
    assert by_task[2].is_spout and by_task[2].executed == 0 and by_task[2].emitted == 20
    # the component's one error, counted once (on its first executor)
    assert (by_task[3].errors, by_task[4].errors) == (1, 0)
    # two worker slots: 6700 runs numbers and record's first executor, 6701 the other
    assert snap.workers == 2
    assert [(h["port"], h["components"], h["executors"]) for h in snap.cluster["hosts"]] == [
        (6700, ["numbers", "record"], 2),
        (6701, ["record"], 1),
    ]
    assert snap.cluster["spouts"] == [
        {"name": "numbers", "acked": 8, "failed": 1, "complete_latency_ms": 12.5}
    ]


def test_a_global_grouping_is_named_so() -> None:
    table = answers()
    vis = table[f"/api/v1/topology/{TOPO_ID}/visualization"]
    vis["record"][":inputs"][0][":fields"] = []
    assert snapshot(table).graph["edges"][0]["grouping"] == "global"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("squares", "squares"), (None, "squares"), ("other", None)],
)
def test_pick_topology(name: str | None, expected: str | None) -> None:
    found = pick_topology([{"id": "s-1", "name": "squares"}], name)
    assert (found or {}).get("name") == expected


def test_several_topologies_and_no_name_is_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"2 topologies are running \(a, b\).*--topology"):
        pick_topology([{"name": "b"}, {"name": "a"}], None)


def test_an_executor_id_not_in_storms_form_is_named() -> None:
    assert executor_first_task("[7-9]") == 7
    with pytest.raises(StormApiError, match="'x-y'"):
        executor_first_task("x-y")


def watched(api: FakeApi) -> tuple[StormWatcher, LiveState]:
    state = LiveState("squares", {"nodes": [], "edges": []}, unmeasured=UNMEASURED)
    return StormWatcher(api, state, "squares", interval_s=1.0), state  # type: ignore[arg-type]


def test_the_watcher_waits_follows_reports_a_silent_api_and_sees_the_topology_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("squall.ui.storm_view.time.monotonic", lambda: now[0])
    table = answers(executed=10)
    summary = table["/api/v1/topology/summary"]
    table["/api/v1/topology/summary"] = {"topologies": []}
    api = FakeApi(table)
    watcher, state = watched(api)

    assert watcher.poll_once()
    assert "waiting for topology squares" in state.view()["cluster"]["problem"]

    table["/api/v1/topology/summary"] = summary
    assert watcher.poll_once()
    view = state.view()
    assert view["cluster"]["problem"] is None and view["cluster"]["id"] == TOPO_ID
    record = next(c for c in view["components"] if c["name"] == "record")
    assert record["executed"] == 14
    for column in ("queued", "exec_max_ms"):
        assert record[column] is None  # unknown to Storm's API: not shown as 0
    assert view["in_flight"] is None
    assert [e["message"] for e in view["errors"]] == ["boom"]

    # Storm reports every few seconds: a poll with the same counters publishes nothing, and
    # only the uptime moved: the pages are not sent the state again
    version = state.version
    table[f"/api/v1/topology/{TOPO_ID}"]["uptimeSeconds"] = 63
    now[0] += 1.0
    watcher.poll_once()
    assert state.version == version
    published = [t for t in state.metrics().tasks if t.task == 3]
    assert published[0].executed == 10
    # counters moved 2 s later: rate = 20 more executed / 2 s, over both polls' gap
    table[f"/api/v1/topology/{TOPO_ID}/component/record"]["executorStats"][0]["executed"] = 30
    now[0] += 1.0
    watcher.poll_once()
    assert state.version > version
    record = next(c for c in state.view()["components"] if c["name"] == "record")
    assert record["executed_per_s"] == pytest.approx(10.0)
    # the same error again is not reported twice
    assert len(state.view()["errors"]) == 1

    assert state.view()["cluster"]["uptime_s"] == 63  # sent along with the sample

    api.down = True
    assert watcher.poll_once()
    assert "not reachable" in state.view()["cluster"]["problem"]
    assert not state.view()["finished"]
    api.down = False
    assert watcher.poll_once()  # the same answers as before the outage: the problem goes
    assert state.view()["cluster"]["problem"] is None

    del table[f"/api/v1/topology/{TOPO_ID}"]
    assert not watcher.poll_once()
    final = state.view()
    assert final["finished"] and "left the cluster" in final["summary"]["ended"]


def test_a_restarted_worker_does_not_give_negative_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [50.0]
    monkeypatch.setattr("squall.ui.storm_view.time.monotonic", lambda: now[0])
    table = answers(executed=1000)
    watcher, state = watched(FakeApi(table))
    watcher.poll_once()
    table[f"/api/v1/topology/{TOPO_ID}/component/record"]["executorStats"][0]["executed"] = 5
    now[0] += 2.0
    watcher.poll_once()
    rates = [c["executed_per_s"] for c in state.view()["components"]]
    assert min(rates) >= 0.0


def test_metrics_leave_out_what_the_source_cannot_measure() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from squall.ui.collector import exposition

    watcher, state = watched(FakeApi(answers()))
    watcher.poll_once()
    names = {f.name for f in text_string_to_metric_families(exposition(state).decode())}
    assert "squall_tuples_executed" in names and "squall_execute_latency_seconds" in names
    assert not names & {
        "squall_queued_tuples",
        "squall_execute_latency_seconds_max",
        "squall_in_flight_trees",
    }

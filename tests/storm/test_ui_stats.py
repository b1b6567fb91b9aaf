"""Unit tests of the UI REST API's arithmetic over Nimbus's Thrift structs (no Storm needed)."""

from __future__ import annotations

import socket

import pytest
from streamparse.thrift import (
    BoltStats,
    ErrorInfo,
    ExecutorInfo,
    ExecutorSpecificStats,
    ExecutorStats,
    ExecutorSummary,
    GlobalStreamId,
    SpoutStats,
    TopologyInfo,
)

from squall.storm.cluster import StormCluster
from squall.storm.component_page import component_json
from squall.storm.errors import StormRuntimeError
from squall.storm.home import StormHome
from squall.storm.nimbus import topology_json

ALL = ":all-time"


def spout_executor(
    task: int, emitted: int, acked: int, failed: int, complete_ms: float | None = None
) -> ExecutorSummary:
    stats = ExecutorStats(
        emitted={ALL: {"default": emitted, "__ack_init": emitted}},
        transferred={ALL: {"default": emitted}},
        specific=ExecutorSpecificStats(
            spout=SpoutStats(
                acked={ALL: {"default": acked}},
                failed={ALL: {"default": failed}},
                complete_ms_avg={} if complete_ms is None else {ALL: {"default": complete_ms}},
            )
        ),
        rate=1.0,
    )
    return ExecutorSummary(ExecutorInfo(task, task), "numbers", "localhost", 6700, 10, stats)


def bolt_executor(
    task: int,
    executed: int,
    acked: int,
    failed: int,
    component: str = "record",
    latency_ms: float | None = None,
) -> ExecutorSummary:
    stream = GlobalStreamId("numbers", "default")
    stats = ExecutorStats(
        emitted={ALL: {"__ack_ack": acked}},
        transferred={ALL: {}},
        specific=ExecutorSpecificStats(
            bolt=BoltStats(
                acked={ALL: {stream: acked}},
                failed={ALL: {stream: failed}},
                process_ms_avg={} if latency_ms is None else {ALL: {stream: latency_ms + 1}},
                executed={ALL: {stream: executed}},
                execute_ms_avg={} if latency_ms is None else {ALL: {stream: latency_ms}},
            )
        ),
        rate=1.0,
    )
    return ExecutorSummary(ExecutorInfo(task, task), component, "localhost", 6700, 10, stats)


def info(latencies: bool = False) -> TopologyInfo:
    return TopologyInfo(
        id="squares-1-1",
        name="squares",
        uptime_secs=10,
        status="ACTIVE",
        executors=[
            spout_executor(
                3, emitted=40, acked=38, failed=2, complete_ms=5.0 if latencies else None
            ),
            bolt_executor(
                1, executed=25, acked=24, failed=1, latency_ms=2.0 if latencies else None
            ),
            bolt_executor(
                2, executed=15, acked=14, failed=1, latency_ms=4.0 if latencies else None
            ),
            bolt_executor(4, executed=40, acked=40, failed=0, component="__acker"),
        ],
        errors={
            "record": [
                ErrorInfo("ValueError: old", 100, "localhost", 6700),
                ErrorInfo("ValueError: newest", 200, "localhost", 6700),
            ]
        },
    )


def test_components_sum_their_executors_and_leave_out_system_streams_and_components() -> None:
    topology = topology_json(info())
    assert [s["spoutId"] for s in topology["spouts"]] == ["numbers"]
    assert [b["boltId"] for b in topology["bolts"]] == ["record"]  # no __acker
    [spout], [bolt] = topology["spouts"], topology["bolts"]
    assert (spout["emitted"], spout["acked"], spout["failed"]) == (40, 38, 2)  # not __ack_init
    assert (bolt["executors"], bolt["executed"], bolt["acked"], bolt["failed"]) == (2, 40, 38, 2)
    assert bolt["emitted"] == 0  # __ack_ack is a system stream
    assert bolt["lastError"] == "ValueError: newest"
    assert topology["workersTotal"] == 1


def test_component_errors_newest_first_and_unknown_components() -> None:
    component = component_json(info(), "record")
    assert component is not None
    assert [e["error"] for e in component["componentErrors"]] == [
        "ValueError: newest",
        "ValueError: old",
    ]
    assert component["componentType"] == "bolt"
    assert component_json(info(), "nope") is None


def test_a_bolts_page_has_storm_uis_windows_inputs_and_executors() -> None:
    page = component_json(info(latencies=True), "record")
    assert page is not None
    assert (page["executors"], page["tasks"], page["topologyStatus"]) == (2, 2, "ACTIVE")
    [all_time] = page["boltStats"]  # only the windows the executors report
    assert all_time["windowPretty"] == "All time"
    assert (all_time["executed"], all_time["acked"], all_time["failed"]) == (40, 38, 2)
    # latencies averaged with the counts as weights: (25 x 2 + 15 x 4) / 40 and by acks
    assert all_time["executeLatency"] == "2.750"
    assert all_time["processLatency"] == f"{(24 * 3 + 14 * 5) / 38:.3f}"
    assert page["inputStats"] == [
        {
            "component": "numbers",
            "encodedComponentId": "numbers",
            "stream": "default",
            "executed": 40,
            "executeLatency": "2.750",
            "acked": 38,
            "processLatency": f"{(24 * 3 + 14 * 5) / 38:.3f}",
            "failed": 2,
        }
    ]
    assert page["outputStats"] == []  # __ack_ack is Storm's own stream
    rows = {r["id"]: r for r in page["executorStats"]}
    assert set(rows) == {"[1-1]", "[2-2]"}
    assert (rows["[1-1]"]["executed"], rows["[1-1]"]["executeLatency"]) == (25, "2.000")
    assert rows["[2-2]"]["uptime"] == "10s"
    assert rows["[2-2]"]["workerLogLink"] == "workers-artifacts/squares-1-1/6700/worker.log"


def test_a_spouts_page_ends_with_all_time_and_counts_only_user_streams() -> None:
    page = component_json(info(latencies=True), "numbers")
    assert page is not None and page["componentType"] == "spout"
    last = page["spoutSummary"][-1]  # what `sparse stats -c` shows
    assert (last["windowPretty"], last["emitted"], last["acked"], last["failed"]) == (
        "All time",
        40,
        38,
        2,
    )
    assert last["completeLatency"] == "5.000"
    assert page["outputStats"] == [
        {
            "stream": "default",
            "emitted": 40,
            "transferred": 40,
            "acked": 38,
            "failed": 2,
            "completeLatency": "5.000",
        }
    ]
    assert "boltStats" not in page and "inputStats" not in page


def test_the_ui_names_a_bad_window_and_the_valid_ones() -> None:
    from squall.storm.ui import BadRequest, _window

    assert _window({}) == ALL
    assert _window({"window": ["600"]}) == "600"
    with pytest.raises(BadRequest, match=r"window='7': valid windows are 600, 10800, 86400"):
        _window({"window": ["7"]})


def test_a_taken_port_is_named_before_anything_starts(storm_home: StormHome, tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            StormRuntimeError, match=f"port {port} wanted for the nimbus is already in use"
        ):
            StormCluster(tmp_path / "cluster", storm_home).start(nimbus_port=port, ui_port=0)

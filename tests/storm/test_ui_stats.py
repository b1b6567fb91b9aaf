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
from squall.storm.errors import StormRuntimeError
from squall.storm.home import StormHome
from squall.storm.nimbus import component_json, topology_json

ALL = ":all-time"


def spout_executor(task: int, emitted: int, acked: int, failed: int) -> ExecutorSummary:
    stats = ExecutorStats(
        emitted={ALL: {"default": emitted, "__ack_init": emitted}},
        transferred={ALL: {"default": emitted}},
        specific=ExecutorSpecificStats(
            spout=SpoutStats(
                acked={ALL: {"default": acked}},
                failed={ALL: {"default": failed}},
                complete_ms_avg={},
            )
        ),
        rate=1.0,
    )
    return ExecutorSummary(ExecutorInfo(task, task), "numbers", "localhost", 6700, 10, stats)


def bolt_executor(
    task: int, executed: int, acked: int, failed: int, component: str = "record"
) -> ExecutorSummary:
    stream = GlobalStreamId("numbers", "default")
    stats = ExecutorStats(
        emitted={ALL: {"__ack_ack": acked}},
        transferred={ALL: {}},
        specific=ExecutorSpecificStats(
            bolt=BoltStats(
                acked={ALL: {stream: acked}},
                failed={ALL: {stream: failed}},
                process_ms_avg={},
                executed={ALL: {stream: executed}},
                execute_ms_avg={},
            )
        ),
        rate=1.0,
    )
    return ExecutorSummary(ExecutorInfo(task, task), component, "localhost", 6700, 10, stats)


def info() -> TopologyInfo:
    return TopologyInfo(
        id="squares-1-1",
        name="squares",
        uptime_secs=10,
        status="ACTIVE",
        executors=[
            spout_executor(3, emitted=40, acked=38, failed=2),
            bolt_executor(1, executed=25, acked=24, failed=1),
            bolt_executor(2, executed=15, acked=14, failed=1),
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


def test_a_taken_port_is_named_before_anything_starts(storm_home: StormHome, tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            StormRuntimeError, match=f"port {port} wanted for the nimbus is already in use"
        ):
            StormCluster(tmp_path / "cluster", storm_home).start(nimbus_port=port, ui_port=0)

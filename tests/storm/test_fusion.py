"""Fusing consecutive Python bolts for Storm (squall.storm.fusion) and the process that runs a
fused chain (squall.storm.fused_bolt.FusedBolt, through pystorm's real multilang framing), no
JVM. test_fused_storm and test_storm_local run fused topologies under a real Storm."""

from __future__ import annotations

import io
import json
from io import BytesIO
from typing import Any

import pytest
from streamparse import Bolt, Grouping, Spout, Stream

from squall.errors import ConfigError
from squall.storm import topology
from squall.storm.errors import StormRuntimeError
from squall.storm.fused_bolt import MEMBERS_KEY, FusedBolt
from squall.storm.fusion import fused_spec, fusion_plan, settle_flux
from squall.storm.multilang_check import check_fused_serializer
from squall.windowed_bolt import WindowedBolt
from topologies.health import HealthTopology

# pystorm adds a StormHandler to the root logger of each component it sets up
pytestmark = pytest.mark.usefixtures("root_log_handlers_kept")


class Numbers(Spout):
    outputs = ["n"]


class Split(Bolt):
    """Even n on as [n, n // 2]; odd n to ``odd``; 7 is failed, 13 raises."""

    outputs = [Stream(["n", "half"], "default"), Stream(["n", "reason"], "odd")]

    def process(self, tup: Any) -> None:
        (n,) = tup.values
        if n == 7:
            self.fail(tup)
        elif n == 13:
            raise ValueError("thirteen")
        elif n % 2:
            self.emit([n, "odd"], stream="odd")
        else:
            self.emit([n, n // 2])


class Add(Bolt):
    outputs = [Stream(["n", "half", "total"], "default")]

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self.seen_context = context

    def process(self, tup: Any) -> None:
        self.last_input = tup
        self.emit([tup.values.n, tup.values.half, tup.values.n + tup.values.half])


class Record(Bolt):
    outputs: list[Any] = []


class Windowed(WindowedBolt):
    outputs = ["count"]


class Chain(topology.Topology):
    config: dict[str, Any] = {}
    numbers = Numbers.spec(par=1)
    split = Split.spec(inputs=[numbers], par=2)
    add = Add.spec(inputs=[split], par=2)
    by_key = Record.spec(inputs={add: Grouping.fields("n")}, par=2)  # not one to one
    record = Record.spec(inputs={split["odd"]: Grouping.SHUFFLE, add: Grouping.SHUFFLE}, par=1)
    window = Windowed.spec(inputs=[add], par=2)


class Unchained(topology.Topology):
    config: dict[str, Any] = {"squall.chaining": False}
    numbers = Numbers.spec(par=1)
    split = Split.spec(inputs=[numbers], par=1)
    add = Add.spec(inputs=[split], par=1)


class Uneven(topology.Topology):
    config: dict[str, Any] = {}
    numbers = Numbers.spec(par=1)
    split = Split.spec(inputs=[numbers], par=2)
    add = Add.spec(inputs=[split], par=1)


def test_the_health_topology_fuses_parse_bmi_and_threshold_and_says_why_not_the_rest() -> None:
    plan = fusion_plan(HealthTopology.specs)
    assert [[m.name for m in c.members] for c in plan.chains] == [["parse", "bmi", "threshold"]]
    assert "windows" in plan.reasons["trend"]
    assert "reads 5 streams" in plan.reasons["console"]


class RunnerQueued(topology.Topology):
    config: dict[str, Any] = {"squall.runner.chaining": False}
    numbers = Numbers.spec(par=1)
    split = Split.spec(inputs=[numbers], par=1)
    add = Add.spec(inputs=[split], par=1)


def test_the_runner_s_own_switch_leaves_storm_fused() -> None:
    assert set(RunnerQueued.thrift_topology.bolts) == {"add"}
    assert set(Unchained.thrift_topology.bolts) == {"split", "add"}


def test_bolts_of_different_parallelism_stay_apart() -> None:
    plan = fusion_plan(Uneven.specs)
    assert plan.chains == []
    assert "parallelism 1 differs from 'split''s 2" in plan.reasons["add"]
    assert "not a Python bolt" in plan.reasons["split"]  # its source is the spout


def test_a_chain_stops_at_a_grouping_a_window_or_a_second_input() -> None:
    plan = fusion_plan(Chain.specs)
    assert [[m.name for m in c.members] for c in plan.chains] == [["split", "add"]]
    assert "grouped by more than shuffle" in plan.reasons["by_key"]
    assert "own loop or ticks" in plan.reasons["window"]
    assert "reads 2 streams" in plan.reasons["record"]


def test_storm_gets_the_fused_chain_and_the_embedded_runner_the_bolts() -> None:
    flux = Chain.to_flux_dict("chain")
    assert {b["id"] for b in flux["bolts"]} == {"add", "by_key", "record", "window"}
    streams = {(s["from"], s["to"], s["grouping"]["streamId"]) for s in flux["streams"]}
    assert streams == {
        ("numbers", "add", "default"),
        ("add", "by_key", "default"),
        ("add", "record", "split~odd"),
        ("add", "record", "default"),
        ("add", "window", "default"),
    }
    thrift = Chain.thrift_topology
    assert set(thrift.bolts) == {"add", "by_key", "record", "window"}
    fused = thrift.bolts["add"]
    assert fused.bolt_object.shell.script == "squall.storm.fused_bolt.FusedBolt"
    assert fused.common.parallelism_hint == 2
    assert {k: v.output_fields for k, v in fused.common.streams.items()} == {
        "default": ["n", "half", "total"],
        "split~odd": ["n", "reason"],
    }
    members = json.loads(json.loads(fused.common.json_conf)[MEMBERS_KEY])
    assert [m["name"] for m in members] == ["split", "add"]
    assert members[0]["exported"] == {"odd": "split~odd"}  # its default only feeds add
    # the specs (what squall run hosts) are untouched
    assert [s.name for s in Chain.specs if s.name in ("split", "add")] == ["split", "add"]


def test_chaining_false_in_the_topologys_config_fuses_nothing() -> None:
    assert {b["id"] for b in Unchained.to_flux_dict("u")["bolts"]} == {"split", "add"}
    assert set(Unchained.thrift_topology.bolts) == {"split", "add"}


@pytest.mark.parametrize(
    ("config", "bolts"),
    [({}, {"add", "by_key", "record", "window"}), ({"squall.chaining": True}, None)],
)
def test_the_launcher_keeps_the_fused_form_unless_the_run_says_chaining_false(
    config: dict[str, Any], bolts: set[str] | None
) -> None:
    flux = {**Chain.to_flux_dict("chain"), "config": config}
    assert settle_flux(flux) and "squall.unfused" not in flux
    assert {b["id"] for b in flux["bolts"]} == (bolts or {"add", "by_key", "record", "window"})
    off = {**Chain.to_flux_dict("chain"), "config": {"squall.chaining": False}}
    assert settle_flux(off) and "squall.unfused" not in off
    assert {b["id"] for b in off["bolts"]} == {"split", "add", "by_key", "record", "window"}
    assert not settle_flux(off)  # settled once


@pytest.mark.parametrize(
    ("jvm", "refused"),
    [
        (None, True),
        ("org.apache.storm.multilang.JsonSerializer", True),
        ("squall.storm.MultilangSerializer", False),
        ("squall.storm.MsgpackSerializer", False),
    ],
)
def test_fused_bolts_need_squalls_serializer(jvm: str | None, refused: bool) -> None:
    # Storm's JsonSerializer would show the receivers "split~odd" from "add"
    flux = {**Chain.to_flux_dict("chain"), "config": {"topology.multilang.serializer": jvm}}
    settle_flux(flux)
    if refused:
        with pytest.raises(StormRuntimeError, match=r"f.yaml: component\(s\) \['add'\] run fused"):
            check_fused_serializer(flux, "f.yaml")
    else:
        check_fused_serializer(flux, "f.yaml")


# -- FusedBolt through pystorm's framing ------------------------------------------------------


def _fused_bolt() -> Any:
    chain = fusion_plan(Chain.specs).chains[0]
    conf = {"topology.name": "chain", **json.loads(fused_spec(chain, Chain.specs).config)}
    context = {
        "componentid": "add",
        "taskid": 4,
        "source->stream->fields": {"numbers": {"default": ["n"]}},
    }
    bolt = FusedBolt(input_stream=BytesIO(), output_stream=BytesIO(), rdb_signal=None)
    bolt._setup_component(conf, context)
    bolt.initialize(conf, context)
    return bolt


def _exchange(bolt: Any, *values: int) -> list[list[dict[str, Any]]]:
    """Storm writes one tuple of ``numbers`` per value; per tuple, what the bolt wrote back."""
    serializer = bolt.serializer
    commands = [
        {"id": f"t{n}", "comp": "numbers", "stream": "default", "task": 1, "tuple": [n]}
        for n in values
    ]
    text = "".join(json.dumps(c) + "\nend\n" for c in commands)
    serializer.input_stream = io.TextIOWrapper(BytesIO(text.encode()), encoding="utf-8")
    raw = serializer.output_stream.buffer
    replies = []
    for _ in commands:
        serializer.output_stream.flush()
        start = len(raw.getvalue())
        bolt._run()
        serializer.output_stream.flush()
        written = raw.getvalue()[start:].decode().split("\nend\n")
        replies.append([json.loads(m) for m in written if m.strip()])
    return replies


def test_a_tuple_crosses_the_chain_as_calls_and_leaves_anchored_to_its_input() -> None:
    bolt = _fused_bolt()
    even, odd = _exchange(bolt, 4, 5)
    assert even == [
        {
            "command": "emit",
            "tuple": [4, 2, 6],
            "anchors": ["t4"],
            "stream": "default",
            "need_task_ids": False,
        },
        {"command": "ack", "id": "t4"},
    ]
    assert odd == [
        {
            "command": "emit",
            "tuple": [5, "odd"],
            "anchors": ["t5"],
            "stream": "split~odd",
            "need_task_ids": False,
        },
        {"command": "ack", "id": "t5"},
    ]
    add = bolt.members[1].component
    # add read a tuple of split's, typed by split's fields, as Storm would have given it
    assert (add.last_input.component, add.last_input.stream) == ("split", "default")
    assert add.last_input.values._fields == ("n", "half")
    assert add.seen_context["componentid"] == "add"
    assert add.seen_context["source->stream->fields"] == {"split": {"default": ["n", "half"]}}


def test_a_members_fail_fails_the_input_and_its_exception_ends_the_process_like_an_unfused_bolt() -> (
    None
):
    bolt = _fused_bolt()
    (failed,) = _exchange(bolt, 7)
    assert failed == [{"command": "fail", "id": "t7"}]
    with pytest.raises(ValueError, match="thirteen"):
        _exchange(bolt, 13)  # pystorm's run loop reports it and fails t13 (_current_tups)
    assert [t.id for t in bolt._current_tups] == ["t13"]


def test_a_fused_component_without_its_members_is_a_clear_error() -> None:
    bolt = FusedBolt(input_stream=BytesIO(), output_stream=BytesIO(), rdb_signal=None)
    bolt._setup_component({}, {"componentid": "add", "taskid": 1})
    with pytest.raises(ConfigError, match=r"fused component 'add': squall.fused.members must be"):
        bolt.initialize({MEMBERS_KEY: "[]"}, {"componentid": "add", "taskid": 1})
    with pytest.raises(ConfigError, match=r"cannot load member class 'no.such.Bolt'"):
        members = [
            {"name": "a", "class": "no.such.Bolt", "outputs": {}, "next": None, "exported": {}}
        ] * 2
        bolt.initialize({MEMBERS_KEY: json.dumps(members)}, {"componentid": "add", "taskid": 1})

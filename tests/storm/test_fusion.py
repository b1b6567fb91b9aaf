"""Fusing Python bolts for Storm (squall.storm.fusion) and the process that runs a fused group
(squall.storm.fused_bolt.FusedBolt, through pystorm's real multilang framing), no JVM.
test_fused_storm and test_storm_local run fused topologies under a real Storm."""

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
from topologies.health_kafka import HealthKafkaTopology

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

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self.seen: list[Any] = []

    def process(self, tup: Any) -> None:
        self.seen.append((tup.component, tup.stream, list(tup.values)))


class Holder(Bolt):
    """Holds what it reads until a tick, then acks it all (as a window, or a Kafka sink waiting
    for the broker, lets its tuples go later)."""

    outputs: list[Any] = []
    auto_ack = False

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self.held: list[Any] = []
        self.seen_context = context

    def process(self, tup: Any) -> None:
        self.held.append(tup)

    def process_tick(self, tup: Any) -> None:
        for held in self.held:
            self.ack(held)
        self.held = []


class Windowed(WindowedBolt):
    outputs = ["count"]


class Chain(topology.Topology):
    """Several tasks: a group is a line of shuffled bolts that read one stream each."""

    config: dict[str, Any] = {}
    numbers = Numbers.spec(par=1)
    split = Split.spec(inputs=[numbers], par=2)
    add = Add.spec(inputs=[split], par=2)
    by_key = Record.spec(inputs={add: Grouping.fields("n")}, par=2)  # not one to one
    record = Record.spec(inputs={split["odd"]: Grouping.SHUFFLE, add: Grouping.SHUFFLE}, par=2)
    window = Windowed.spec(inputs=[add], par=1)


class Fan(topology.Topology):
    """One task each: any grouping but direct joins, fan-out and several inputs included."""

    config: dict[str, Any] = {}
    numbers = Numbers.spec(par=1)
    split = Split.spec(inputs=[numbers], par=1)
    add = Add.spec(inputs=[split], par=1)
    record = Record.spec(inputs={split["odd"]: Grouping.SHUFFLE, add: Grouping.fields("n")}, par=1)
    holder = Holder.spec(
        inputs={numbers: Grouping.SHUFFLE, add: Grouping.fields("n")},
        par=1,
        config={"topology.tick.tuple.freq.secs": 2},
    )
    outside = Record.spec(inputs=[add], par=2)  # parallelism differs: stays a component


def split_add(name: str, config: dict[str, Any], split_par: int = 1) -> Any:
    """numbers -> split -> add, one task each but split's, with ``config`` as the topology's."""
    numbers = Numbers.spec(par=1)
    split = Split.spec(inputs=[numbers], par=split_par)
    add = Add.spec(inputs=[split], par=1)
    body = {"config": config, "numbers": numbers, "split": split, "add": add}
    return type(topology.Topology)(name, (topology.Topology,), body)


Unchained = split_add("Unchained", {"squall.chaining": False})
Uneven = split_add("Uneven", {}, split_par=2)
RunnerQueued = split_add("RunnerQueued", {"squall.runner.chaining": False})


def _groups(specs: list[Any]) -> list[list[str]]:
    return [[m.name for m in g.members] for g in fusion_plan(specs).groups]


def test_the_health_topologies_run_their_bolts_in_one_process_each() -> None:
    # every bolt has one task (config.yaml): the windows and the multi-input sinks join too
    assert _groups(HealthTopology.specs) == [
        ["parse", "bmi", "threshold", "trend", "console", "jsonl"]
    ]
    assert fusion_plan(HealthTopology.specs).reasons == {}
    # the Kafka topology asks for chains only (its config): its sinks and trend stay apart
    assert HealthKafkaTopology.config["squall.storm.fusion"] == "chains"
    assert {b["id"] for b in HealthKafkaTopology.to_flux_dict("k")["bolts"]} == {
        "threshold", "alerts", "trend_feed", "trend", "trends", "dead_letter", "console"
    }  # fmt: skip
    chains = fusion_plan(HealthKafkaTopology.specs, "chains")
    assert "windows or ticks" in chains.reasons["trend"]
    assert "windows or ticks" in chains.reasons["alerts"]  # it acks on the broker's ticks


def test_an_unknown_fusion_mode_is_refused_naming_the_valid_ones() -> None:
    odd = split_add("Odd", {"squall.storm.fusion": "all"})
    with pytest.raises(
        ConfigError,
        match=r"topology Odd: squall.storm.fusion must be one of 'groups', 'chains'; got 'all'",
    ):
        odd.to_flux_dict("odd")


def test_the_runner_s_own_switch_leaves_storm_fused() -> None:
    assert set(RunnerQueued.thrift_topology.bolts) == {"add"}
    assert set(Unchained.thrift_topology.bolts) == {"split", "add"}


def test_bolts_of_different_parallelism_stay_apart() -> None:
    plan = fusion_plan(Uneven.specs)
    assert plan.groups == []
    assert "parallelism 1 differs from 'split''s 2" in plan.reasons["add"]
    assert "not a Python bolt" in plan.reasons["split"]  # its source is the spout


def test_with_several_tasks_a_group_stops_at_a_grouping_or_a_second_input() -> None:
    plan = fusion_plan(Chain.specs)
    assert _groups(Chain.specs) == [["split", "add"]]
    assert "grouped by more than shuffle, with 2 tasks" in plan.reasons["by_key"]
    assert "reads 2 streams, with 2 tasks" in plan.reasons["record"]
    assert "parallelism 1 differs from 'add''s 2" in plan.reasons["window"]


def test_with_one_task_a_group_takes_fan_out_fields_groupings_and_ticks() -> None:
    plan = fusion_plan(Fan.specs)
    assert _groups(Fan.specs) == [["split", "add", "record", "holder"]]
    assert "parallelism 2 differs from 'add''s 1" in plan.reasons["outside"]
    flux = Fan.to_flux_dict("fan")
    assert {b["id"] for b in flux["bolts"]} == {"holder", "outside"}
    streams = {(s["from"], s["to"], s["grouping"]["streamId"]) for s in flux["streams"]}
    # the spout feeds split and holder: one subscription, handed to both inside
    assert streams == {("numbers", "holder", "default"), ("holder", "outside", "add~default")}
    config = json.loads(fused_spec(plan.groups[0], Fan.specs, plan).config)
    assert config["topology.tick.tuple.freq.secs"] == 2


def test_a_direct_grouping_a_batching_loop_or_its_own_config_keeps_a_bolt_apart() -> None:
    from streamparse import BatchingBolt

    class Batches(BatchingBolt):
        outputs: list[Any] = []

    class Direct(topology.Topology):
        config: dict[str, Any] = {}
        numbers = Numbers.spec(par=1)
        split = Split.spec(inputs=[numbers], par=1)
        direct = Record.spec(inputs={split: Grouping.DIRECT}, par=1)
        batches = Batches.spec(inputs=[split["odd"]], par=1)
        apart = Record.spec(inputs=[split], par=1, config={"squall.fuse": False})
        configured = Record.spec(inputs=[split], par=1, config={"topology.debug": True})

    plan = fusion_plan(Direct.specs)
    assert plan.groups == []
    assert "grouped direct" in plan.reasons["direct"]
    assert "runs its own loop (batching)" in plan.reasons["batches"]
    assert "its config says squall.fuse: false" in plan.reasons["apart"]
    assert "its own component config (topology.debug)" in plan.reasons["configured"]


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
    # thrift (sparse submit) wires the group like Flux (sparse run)
    fan = Fan.thrift_topology
    assert set(fan.bolts) == {"holder", "outside"}
    assert {(s.componentId, s.streamId) for s in fan.bolts["holder"].common.inputs} == {
        ("numbers", "default")
    }
    assert {(s.componentId, s.streamId) for s in fan.bolts["outside"].common.inputs} == {
        ("holder", "add~default")
    }


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


def _fused_bolt(topology_cls: Any = Chain) -> Any:
    plan = fusion_plan(topology_cls.specs)
    group = plan.groups[0]
    conf = {"topology.name": "t", **json.loads(fused_spec(group, topology_cls.specs, plan).config)}
    context = {
        "componentid": group.name,
        "taskid": 4,
        "source->stream->fields": {"numbers": {"default": ["n"]}},
        # Storm's, of the fused component; each member gets its own
        "source->stream->grouping": {"numbers": {"default": {"shuffle": []}}},
        "stream->outputfields": {},
    }
    bolt = FusedBolt(input_stream=BytesIO(), output_stream=BytesIO(), rdb_signal=None)
    bolt._setup_component(conf, context)
    bolt.initialize(conf, context)
    return bolt


def _member(bolt: Any, name: str) -> Any:
    return next(m.component for m in bolt.members if m.name == name)


def _exchange(bolt: Any, *values: int | str) -> list[list[dict[str, Any]]]:
    """Storm writes one tuple of ``numbers`` per value ("tick": a tick tuple); per tuple, what
    the bolt wrote back."""
    serializer = bolt.serializer
    commands = [
        {"id": "tick", "comp": "__system", "stream": "__tick", "task": -1, "tuple": [2]}
        if n == "tick"
        else {"id": f"t{n}", "comp": "numbers", "stream": "default", "task": 1, "tuple": [n]}
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
    add = _member(bolt, "add")
    # add read a tuple of split's, typed by split's fields, as Storm would have given it
    assert (add.last_input.component, add.last_input.stream) == ("split", "default")
    assert add.last_input.values._fields == ("n", "half")
    assert add.seen_context["componentid"] == "add"
    assert add.seen_context["source->stream->fields"] == {"split": {"default": ["n", "half"]}}


def test_an_input_is_acked_once_every_member_let_go_of_what_came_from_it() -> None:
    bolt = _fused_bolt(Fan)
    four, five, tick = _exchange(bolt, 4, 5, "tick")
    # 4: split -> add -> (record, holder, and `outside` through Storm); holder keeps the
    # spout's tuple and add's, so t4 waits; 5: split's odd -> record; holder keeps t5
    assert four == [
        {
            "command": "emit",
            "tuple": [4, 2, 6],
            "anchors": ["t4"],
            "stream": "add~default",
            "need_task_ids": False,
        }
    ]
    assert five == []
    # the tick lets holder ack what it held: t4 (both its tuples), t5, then the tick itself
    assert tick == [
        {"command": "ack", "id": "t4"},
        {"command": "ack", "id": "t5"},
        {"command": "ack", "id": "tick"},
    ]
    record, holder = _member(bolt, "record"), _member(bolt, "holder")
    assert record.seen == [
        ("add", "default", [4, 2, 6]),
        ("split", "odd", [5, "odd"]),
    ]
    assert _member(bolt, "add").seen_context["stream->outputfields"] == {
        "default": ["n", "half", "total"]
    }
    # a window's watermark follows the streams its context says it reads (windowed_bolt)
    assert holder.seen_context["source->stream->grouping"].keys() == {"numbers", "add"}
    assert holder.seen_context["source->stream->fields"] == {
        "numbers": {"default": ["n"]},
        "add": {"default": ["n", "half", "total"]},
    }
    assert bolt._roots == {} and bolt._open == {} and bolt._inputs == {}


def test_a_members_fail_fails_the_input_at_once_and_a_later_ack_does_not_ack_it() -> None:
    bolt = _fused_bolt(Fan)
    seven, tick = _exchange(bolt, 7, "tick")
    assert seven == [{"command": "fail", "id": "t7"}]  # holder still holds its copy
    assert tick == [{"command": "ack", "id": "tick"}]
    assert bolt._roots == {} and bolt._open == {} and bolt._inputs == {}


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
            {"name": "a", "class": "no.such.Bolt", "outputs": {}, "reads": {}, "exported": {}}
        ] * 2
        bolt.initialize({MEMBERS_KEY: json.dumps(members)}, {"componentid": "add", "taskid": 1})

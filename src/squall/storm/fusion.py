"""Fusing Python bolts into one Storm component (one multilang process per task).

Under Storm every Python bolt is its own subprocess, and every tuple it reads costs a round trip
through the JVM (written to the bolt, its emits and its ack read back). Bolts that only pass
tuples to each other gain nothing from those hops: fused, they run in one process as calls
(``squall.storm.fused_bolt.FusedBolt``), and a reading crosses them with one hop instead of one
per bolt. This is the Storm half of ``squall.chaining`` (the embedded runner chains in its own
worker, ``squall.engine.chaining``); only what Storm is given changes: ``Topology.to_flux_dict``
(``sparse run``) and ``Topology.thrift_topology`` (``sparse submit``).

A *fusable* bolt is a Python bolt started by ``streamparse_run`` whose class runs pystorm's
``Bolt`` loop or squall's ``WindowedBolt`` loop (no batching loop of its own), with no
component config but a tick frequency (``squall.fuse: false`` in it keeps a bolt apart). An
input edge from fusable bolt ``a`` to fusable bolt ``b`` fuses them into one group when both
have the same parallelism and either (``fusion_plan`` records why not):

- both have **one task**: any grouping but direct sends every tuple to that task, so the one
  in ``a``'s process will do, whatever ``b`` reads and from how many streams; or
- the edge is a **chain link**: grouped shuffle, local-or-shuffle or none (any task of ``b``
  would do), ``b`` reads only this stream, and ``b`` is ``a``'s first such bolt (with several
  tasks, a group is a line).

A group's members are hosted by one FusedBolt, whose inputs are the members' inputs from
outside the group. It takes its last member's id, so that member's streams keep their names
and subscribers; another member's stream that a component outside reads is declared as
``<member>~<stream>``, and squall's JVM serializer gives a Python receiver the member's own
component and stream back (``src/squall/storm/jvm/FusedNames.java``), so sinks and bolts see no
difference. Its tick frequency is its members' shortest; a tick reaches every member.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from pystorm.bolt import Bolt as PystormBolt
from streamparse.dsl.bolt import ShellBoltSpec
from streamparse.dsl.stream import Stream
from streamparse.thrift import Bolt as ThriftBolt
from streamparse.thrift import ComponentCommon, GlobalStreamId, StormTopology

from squall.engine.run_settings import RUN_SCHEMA
from squall.storm.fused_bolt import CHAINING_KEY, MEMBERS_KEY, FusedBolt
from squall.storm.multilang_check import FUSED_BOLT_SCRIPT
from squall.windowed_bolt import WindowedBolt

SEPARATOR = "~"  # FusedNames.SEPARATOR on the JVM side
FUSED_BOLT = FUSED_BOLT_SCRIPT
UNFUSED_KEY = "squall.unfused"  # in a fused Flux dict: the unfused bolts and streams
TICK_KEY = "topology.tick.tuple.freq.secs"
FUSE_KEY = "squall.fuse"  # a bolt's own config: false keeps it a Storm component of its own
MODE_KEY = "squall.storm.fusion"  # a topology's own config: "groups" (default) or "chains"
_MODE = RUN_SCHEMA.settings[MODE_KEY]  # its reader and default, as the embedded runner's
_LOOPS = (PystormBolt._run, WindowedBolt._run)  # loops FusedBolt knows how to stand in for


@dataclass
class Member:
    """One bolt of a fused group, as its FusedBolt needs it (JSON in the component config)."""

    name: str
    script: str  # ``module.Class``
    outputs: dict[str, list[str]]  # stream -> fields
    reads: dict[str, dict[str, list[str]]]  # its context's source -> stream -> fields
    exported: dict[str, str] = field(default_factory=dict)  # stream -> fused component's stream

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class": self.script,
            "outputs": self.outputs,
            "reads": self.reads,
            "exported": self.exported,
        }


@dataclass
class Group:
    members: list[Any]  # streamparse specs, in the topology's order

    @property
    def name(self) -> str:
        return str(self.members[-1].name)

    @property
    def names(self) -> set[str]:
        return {m.name for m in self.members}


@dataclass
class FusionPlan:
    groups: list[Group]
    reasons: dict[str, str]  # bolt -> why it joins no group

    def group_of(self, name: str) -> Group | None:
        for group in self.groups:
            if name in group.names:
                return group
        return None


def fusion_mode(config: dict[str, Any], where: str) -> str:
    """The topology config's ``squall.storm.fusion``: ``groups`` (the default) or ``chains``."""
    value = config.get(MODE_KEY)
    return str(_MODE.default if value is None else _MODE.reader(value, f"{where}: {MODE_KEY}"))


def _fusable(spec: Any, mode: str = "groups") -> str | None:
    if not isinstance(spec, ShellBoltSpec):
        return "it is not a Python bolt"
    cls: Any = spec.component_cls
    if not (isinstance(cls, type) and issubclass(cls, PystormBolt)):
        return "it is not a pystorm Bolt"
    loop, tick = getattr(cls, "_run", None), getattr(cls, "process_tick", None)
    if loop not in _LOOPS:
        return f"{cls.__name__} runs its own loop (batching)"
    config = _component_config(spec)
    if mode == "chains" and (loop is not PystormBolt._run or tick is not PystormBolt.process_tick):
        return f"{cls.__name__} has windows or ticks ({MODE_KEY}: chains)"
    if mode == "chains" and config:
        return f"it has its own component config ({MODE_KEY}: chains)"
    if config.get(FUSE_KEY, True) in (False, "false"):
        return f"its config says {FUSE_KEY}: false"
    other = sorted(set(config) - {TICK_KEY, FUSE_KEY})
    if other:
        return f"it has its own component config ({', '.join(other)})"
    if spec.component_object.shell.execution_command != "streamparse_run":
        return "it is not started by streamparse_run"
    return None


def _component_config(spec: Any) -> dict[str, Any]:
    config = spec.config or {}
    return json.loads(config) if isinstance(config, str) else dict(config)


def _one_to_one(grouping: Any) -> bool:
    return any(
        getattr(grouping, kind, None) is not None
        for kind in ("shuffle", "local_or_shuffle", "none")
    )


def _edge_refused(
    spec: Any, source: Any, grouping: Any, taken: dict[str, str], mode: str
) -> str | None:
    """Why the edge ``source`` -> ``spec`` (both fusable) does not fuse them; None: it does."""
    if source.par != spec.par:
        return f"its parallelism {spec.par} differs from {source.name!r}'s {source.par}"
    if getattr(grouping, "direct", None) is not None:
        return f"it reads {source.name!r} grouped direct"
    if spec.par == 1 and mode == "groups":
        return None
    tasks = f", with {spec.par} tasks" if mode == "groups" else ""
    if not _one_to_one(grouping):
        return f"it reads {source.name!r} grouped by more than shuffle{tasks}"
    if len(spec.inputs) != 1:
        return f"it reads {len(spec.inputs)} streams{tasks}"
    if source.name in taken:
        return f"{taken[source.name]!r} already follows {source.name!r}"
    return None


def fusion_plan(specs: list[Any], mode: str = "groups") -> FusionPlan:
    """Which Python bolts of ``specs`` (a streamparse topology's) run fused, in which groups;
    ``mode`` ``chains``: only lines of plain bolts (no windows or ticks), whatever the
    parallelism (what squall fused before 2026-12-04 evening)."""
    by_name = {s.name: s for s in specs}
    reasons: dict[str, str] = {}
    parent = {s.name: s.name for s in specs}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    taken: dict[str, str] = {}  # source -> its chain link (groups of several tasks are lines)
    joined: set[str] = set()
    for spec in specs:
        if spec.inputs is None or not isinstance(spec, ShellBoltSpec):
            continue
        why = _fusable(spec, mode)
        for source_id, grouping in spec.inputs.items() if why is None else ():
            source = by_name[source_id.componentId]
            refused = _fusable(source, mode)
            refused = (
                f"its source {source.name!r}: {refused}"
                if refused is not None
                else _edge_refused(spec, source, grouping, taken, mode)
            )
            if refused is None:
                if spec.par > 1 or mode == "chains":
                    taken[source.name] = spec.name
                parent[root(spec.name)] = root(source.name)
                joined |= {spec.name, source.name}
            elif why is None:
                why = refused
        if why is not None and spec.name not in joined:
            reasons[spec.name] = why
    groups: dict[str, list[Any]] = {}
    for spec in specs:
        if spec.name in joined:
            groups.setdefault(root(spec.name), []).append(spec)
            reasons.pop(spec.name, None)
    return FusionPlan([Group(members) for members in groups.values()], reasons)


def _exported_name(group: Group, member: str, stream: str) -> str:
    return stream if member == group.name else f"{member}{SEPARATOR}{stream}"


def _reads(spec: Any, by_name: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """``spec``'s inputs as its Storm context names them: source -> stream -> fields."""
    reads: dict[str, dict[str, list[str]]] = {}
    for sid in spec.inputs:
        source = by_name[sid.componentId]
        info = source.outputs.get(sid.streamId)
        fields = list(info.output_fields) if info is not None else []
        reads.setdefault(sid.componentId, {})[sid.streamId] = fields
    return reads


def group_members(group: Group, specs: list[Any]) -> list[Member]:
    """What the group's FusedBolt needs to host its members."""
    names = group.names
    by_name = {s.name: s for s in specs}
    read_outside = {
        (sid.componentId, sid.streamId)
        for s in specs
        if s.name not in names and s.inputs
        for sid in s.inputs
    }
    members = []
    for spec in group.members:
        outputs = {name: list(info.output_fields) for name, info in spec.outputs.items()}
        exported = {
            stream: _exported_name(group, spec.name, stream)
            for stream in outputs
            if spec.name == group.name or (spec.name, stream) in read_outside
        }
        script = spec.component_object.shell.script.split()[-1]  # without "-s <serializer>"
        members.append(Member(spec.name, script, outputs, _reads(spec, by_name), exported))
    return members


def _renamed(plan: FusionPlan, source: str, stream: str) -> tuple[str, str]:
    """Where a subscriber of ``source``'s ``stream`` reads it once fused."""
    group = plan.group_of(source)
    if group is None:
        return source, stream
    return group.name, _exported_name(group, source, stream)


def _outside_inputs(plan: FusionPlan, group: Group) -> dict[GlobalStreamId, Any]:
    """The group's inputs as Storm wires them: its members' from outside it, each once (the
    first member's grouping; with several tasks only the chain's head reads from outside)."""
    inputs: dict[GlobalStreamId, Any] = {}
    for spec in group.members:
        for sid, grouping in spec.inputs.items():
            if sid.componentId in group.names:
                continue
            comp, stream = _renamed(plan, sid.componentId, sid.streamId)
            inputs.setdefault(GlobalStreamId(componentId=comp, streamId=stream), grouping)
    return inputs


def fused_spec(group: Group, specs: list[Any], plan: FusionPlan) -> ShellBoltSpec:
    """The one Storm component that runs ``group`` of ``plan``: FusedBolt with the members in
    its config."""
    members = group_members(group, specs)
    words = group.members[-1].component_object.shell.script.split()
    prefix = " ".join(words[:-1])  # "-s msgpack" once sparse gave the components one
    outputs = [
        Stream(fields=member.outputs[stream], name=exported)
        for member in members
        for stream, exported in member.exported.items()
    ]
    config: dict[str, Any] = {MEMBERS_KEY: json.dumps([m.to_json() for m in members])}
    configs = [_component_config(m) for m in group.members]
    ticks = [c[TICK_KEY] for c in configs if TICK_KEY in c]
    if ticks:
        config[TICK_KEY] = min(ticks)  # every member gets every tick
    return ShellBoltSpec(
        FusedBolt,
        name=group.name,
        command="streamparse_run",
        script=f"{prefix} {FUSED_BOLT}".strip(),
        inputs=_outside_inputs(plan, group),
        par=group.members[0].par,
        config=config,
        outputs=outputs,
    )


def fused_thrift_topology(
    specs: list[Any], thrift: StormTopology, mode: str = "groups"
) -> StormTopology:
    """``thrift`` (streamparse's StormTopology of ``specs``) with each group fused."""
    plan = fusion_plan(specs, mode)
    if not plan.groups:
        return thrift
    fused_names = {m.name for g in plan.groups for m in g.members}
    bolts = {}
    for name, bolt in thrift.bolts.items():
        if name in fused_names:
            continue
        inputs = {}
        for sid, grouping in bolt.common.inputs.items():
            comp, stream = _renamed(plan, sid.componentId, sid.streamId)
            inputs[GlobalStreamId(componentId=comp, streamId=stream)] = grouping
        common = copy.copy(bolt.common)
        common.inputs = inputs
        bolts[name] = ThriftBolt(bolt_object=bolt.bolt_object, common=common)
    for group in plan.groups:
        spec = fused_spec(group, specs, plan)
        bolts[group.name] = ThriftBolt(
            bolt_object=spec.component_object,
            common=ComponentCommon(
                inputs=spec.common.inputs,
                streams=spec.common.streams,
                parallelism_hint=spec.common.parallelism_hint,
                json_conf=spec.common.json_conf,  # the spec's config, as JSON already
            ),
        )
    return StormTopology(spouts=thrift.spouts, bolts=bolts, state_spouts={})


def fused_flux_dict(
    specs: list[Any], flux: dict[str, Any], spec_to_flux: Any, mode: str = "groups"
) -> dict[str, Any]:
    """``flux`` (streamparse's Flux dict of ``specs``) with each group fused; the unfused bolts
    and streams ride along under ``squall.unfused`` for the launcher, which picks one by the
    run's ``squall.chaining`` (``-o`` reaches only the Flux file's config)."""
    plan = fusion_plan(specs, mode)
    if not plan.groups:
        return flux
    fused_names = {m.name for g in plan.groups for m in g.members}
    bolts = [b for b in flux.get("bolts", []) if b["id"] not in fused_names]
    bolts += [spec_to_flux(fused_spec(group, specs, plan)) for group in plan.groups]
    streams = []
    seen: set[tuple[str, str, str]] = set()
    for entry in flux.get("streams", []):
        source, target = plan.group_of(entry["from"]), plan.group_of(entry["to"])
        if target is not None and target is source:
            continue  # inside a group: a call now
        entry = copy.deepcopy(entry)
        entry["to"] = target.name if target is not None else entry["to"]
        comp, stream = _renamed(plan, entry["from"], entry["grouping"]["streamId"])
        entry["from"], entry["grouping"]["streamId"] = comp, stream
        key = (entry["from"], entry["to"], stream)
        if key in seen:
            continue  # two members read it: the group subscribes once and hands it to both
        seen.add(key)
        streams.append(entry)
    fused = {**flux, "bolts": bolts, "streams": streams}
    fused[UNFUSED_KEY] = {"bolts": flux.get("bolts", []), "streams": flux.get("streams", [])}
    return fused


def settle_flux(flux: dict[str, Any]) -> bool:
    """Make a Flux dict (the launcher's) Storm-ready: drop ``squall.unfused``, and use it
    when the run's config says ``squall.chaining: false``. True if the dict changed."""
    unfused = flux.pop(UNFUSED_KEY, None)
    if unfused is None:
        return False
    config = flux.get("config") or {}
    if config.get(CHAINING_KEY, True) in (False, "false", "False"):
        flux["bolts"], flux["streams"] = unfused["bolts"], unfused["streams"]
    return True

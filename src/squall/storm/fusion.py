"""Fusing consecutive Python bolts into one Storm component (one multilang process per task).

Under Storm every Python bolt is its own subprocess, and every tuple it reads costs a round trip
through the JVM (written to the bolt, its emits and its ack read back). A chain of bolts that
only pass tuples along one to one gains nothing from those hops: fused, the chain's members run
in one process as calls (``squall.storm.fused_bolt.FusedBolt``), and a reading crosses them
with one hop instead of one per member. This is the Storm half of ``squall.chaining`` (the
embedded runner chains in its own worker, ``squall.engine.chaining``); only what Storm is given
changes: ``Topology.to_flux_dict`` (``sparse run``) and ``Topology.thrift_topology``
(``sparse submit``).

Bolt ``b`` joins the chain of bolt ``a`` when all of these hold (``fusion_plan`` records why not):

- both are plain Python bolts (pystorm ``Bolt``'s own ``_run`` and ``process_tick``: no
  batching, no windows, no ticks of their own) with no component config;
- ``b`` has exactly one input, one of ``a``'s streams, grouped shuffle, local-or-shuffle or
  none (any task of ``b`` would do, so the one in ``a``'s process does);
- ``a`` and ``b`` have the same parallelism (a fused component has one);
- ``b`` is the first such bolt of ``a`` (a chain is a line).

A fused component takes its last member's id, so its streams keep their names and subscribers.
An earlier member's stream that another component reads is declared as ``<member>~<stream>``;
squall's JVM serializer gives a Python receiver the member's own component and stream back
(``src/squall/storm/jvm/FusedNames.java``), so sinks and bolts see no difference.
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

from squall.storm.fused_bolt import CHAINING_KEY, MEMBERS_KEY, FusedBolt
from squall.storm.multilang_check import FUSED_BOLT_SCRIPT

SEPARATOR = "~"  # FusedNames.SEPARATOR on the JVM side
FUSED_BOLT = FUSED_BOLT_SCRIPT
UNFUSED_KEY = "squall.unfused"  # in a fused Flux dict: the unfused bolts and streams


@dataclass
class Member:
    """One bolt of a fused chain, as its FusedBolt needs it (JSON in the component config)."""

    name: str
    script: str  # ``module.Class``
    outputs: dict[str, list[str]]  # stream -> fields
    next_stream: str | None = None  # the stream the next member reads (None: the last)
    exported: dict[str, str] = field(default_factory=dict)  # stream -> fused component's stream

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class": self.script,
            "outputs": self.outputs,
            "next": self.next_stream,
            "exported": self.exported,
        }


@dataclass
class Chain:
    members: list[Any]  # streamparse specs, in order

    @property
    def name(self) -> str:
        return str(self.members[-1].name)


@dataclass
class FusionPlan:
    chains: list[Chain]
    reasons: dict[str, str]  # bolt -> why it does not join its source's chain

    def chain_of(self, name: str) -> Chain | None:
        for chain in self.chains:
            if any(m.name == name for m in chain.members):
                return chain
        return None


def _plain_bolt(spec: Any) -> str | None:
    if not isinstance(spec, ShellBoltSpec):
        return "it is not a Python bolt"
    cls: Any = spec.component_cls
    if not (isinstance(cls, type) and issubclass(cls, PystormBolt)):
        return "it is not a pystorm Bolt"
    loop, tick = getattr(cls, "_run", None), getattr(cls, "process_tick", None)
    if loop is not PystormBolt._run or tick is not PystormBolt.process_tick:
        return f"{cls.__name__} runs its own loop or ticks (batching, windows)"
    if _component_config(spec):
        return "it has its own component config"
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


def fusion_plan(specs: list[Any]) -> FusionPlan:
    """Which consecutive Python bolts of ``specs`` (a streamparse topology's) run fused."""
    by_name = {s.name: s for s in specs}
    reasons: dict[str, str] = {}
    successor: dict[str, Any] = {}
    for spec in specs:
        if spec.inputs is None or not isinstance(spec, ShellBoltSpec):
            continue
        why = _plain_bolt(spec)
        if why is None and len(spec.inputs) != 1:
            why = f"it reads {len(spec.inputs)} streams"
        if why is None:
            (source_id, grouping) = next(iter(spec.inputs.items()))
            source = by_name[source_id.componentId]
            if not _one_to_one(grouping):
                why = f"it reads {source.name!r} grouped by more than shuffle"
            elif _plain_bolt(source) is not None:
                why = f"its source {source.name!r}: {_plain_bolt(source)}"
            elif source.par != spec.par:
                why = f"its parallelism {spec.par} differs from {source.name!r}'s {source.par}"
            elif source.name in successor:
                why = f"{successor[source.name].name!r} already follows {source.name!r}"
            else:
                successor[source.name] = spec
        if why is not None:
            reasons[spec.name] = why
    followers = {s.name for s in successor.values()}
    chains = []
    for spec in specs:
        if spec.name in successor and spec.name not in followers:
            members = [spec]
            while members[-1].name in successor:
                members.append(successor[members[-1].name])
            chains.append(Chain(members))
    return FusionPlan(chains, reasons)


def _exported_name(chain: Chain, member: str, stream: str) -> str:
    return stream if member == chain.name else f"{member}{SEPARATOR}{stream}"


def chain_members(chain: Chain, specs: list[Any]) -> list[Member]:
    """What the chain's FusedBolt needs to host its members."""
    names = {m.name for m in chain.members}
    read_outside = {
        (sid.componentId, sid.streamId)
        for s in specs
        if s.name not in names and s.inputs
        for sid in s.inputs
    }
    members = []
    for i, spec in enumerate(chain.members):
        last = i == len(chain.members) - 1
        next_stream = None if last else next(iter(chain.members[i + 1].inputs)).streamId
        outputs = {name: list(info.output_fields) for name, info in spec.outputs.items()}
        exported = {
            stream: _exported_name(chain, spec.name, stream)
            for stream in outputs
            if last or (spec.name, stream) in read_outside
        }
        script = spec.component_object.shell.script.split()[-1]  # without "-s <serializer>"
        members.append(Member(spec.name, script, outputs, next_stream, exported))
    return members


def fused_spec(chain: Chain, specs: list[Any]) -> ShellBoltSpec:
    """The one Storm component that runs ``chain``: FusedBolt with the members in its config."""
    members = chain_members(chain, specs)
    head, last = chain.members[0], chain.members[-1]
    words = last.component_object.shell.script.split()
    prefix = " ".join(words[:-1])  # "-s msgpack" once sparse gave the components one
    outputs = [
        Stream(fields=member.outputs[stream], name=exported)
        for member in members
        for stream, exported in member.exported.items()
    ]
    return ShellBoltSpec(
        FusedBolt,
        name=chain.name,
        command="streamparse_run",
        script=f"{prefix} {FUSED_BOLT}".strip(),
        inputs=dict(head.inputs),
        par=head.par,
        config={MEMBERS_KEY: json.dumps([m.to_json() for m in members])},
        outputs=outputs,
    )


def _renamed(plan: FusionPlan, source: str, stream: str) -> tuple[str, str]:
    """Where a subscriber of ``source``'s ``stream`` reads it once fused."""
    chain = plan.chain_of(source)
    if chain is None:
        return source, stream
    return chain.name, _exported_name(chain, source, stream)


def fused_thrift_topology(specs: list[Any], thrift: StormTopology) -> StormTopology:
    """``thrift`` (streamparse's StormTopology of ``specs``) with each chain fused."""
    plan = fusion_plan(specs)
    if not plan.chains:
        return thrift
    fused_names = {m.name for c in plan.chains for m in c.members}
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
    for chain in plan.chains:
        spec = fused_spec(chain, specs)
        bolts[chain.name] = ThriftBolt(
            bolt_object=spec.component_object,
            common=ComponentCommon(
                inputs=spec.common.inputs,
                streams=spec.common.streams,
                parallelism_hint=spec.common.parallelism_hint,
                json_conf=spec.common.json_conf,  # the spec's config, as JSON already
            ),
        )
    return StormTopology(spouts=thrift.spouts, bolts=bolts, state_spouts={})


def fused_flux_dict(specs: list[Any], flux: dict[str, Any], spec_to_flux: Any) -> dict[str, Any]:
    """``flux`` (streamparse's Flux dict of ``specs``) with each chain fused; the unfused bolts
    and streams ride along under ``squall.unfused`` for the launcher, which picks one by the
    run's ``squall.chaining`` (``-o`` reaches only the Flux file's config)."""
    plan = fusion_plan(specs)
    if not plan.chains:
        return flux
    fused_names = {m.name for c in plan.chains for m in c.members}
    heads = {c.members[0].name: c.name for c in plan.chains}
    bolts = [b for b in flux.get("bolts", []) if b["id"] not in fused_names]
    bolts += [spec_to_flux(fused_spec(chain, specs)) for chain in plan.chains]
    streams = []
    for entry in flux.get("streams", []):
        if entry["from"] in fused_names and entry["to"] in fused_names:
            continue  # inside a chain: a call now
        if entry["to"] in fused_names and entry["to"] not in heads:
            continue  # not reachable: only a head has inputs from outside
        entry = copy.deepcopy(entry)
        entry["to"] = heads.get(entry["to"], entry["to"])
        comp, stream = _renamed(plan, entry["from"], entry["grouping"]["streamId"])
        entry["from"], entry["grouping"]["streamId"] = comp, stream
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

"""A plain model of a streamparse ``Topology``: components, tasks, streams and subscriptions.

streamparse keeps a topology as Thrift structures built for Nimbus; the runner needs the same
facts in a shape that is cheap to route with. Nothing here runs a component.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from streamparse import Topology
from streamparse.dsl.bolt import JavaBoltSpec, ShellBoltSpec
from streamparse.dsl.spout import JavaSpoutSpec, ShellSpoutSpec

from squall.errors import TopologyError

# Groupings by the name Storm's Thrift union uses; ``global`` is a fields grouping with no fields.
GROUPINGS = ("shuffle", "fields", "all", "global", "none", "local_or_shuffle", "direct")


@dataclass(frozen=True)
class StreamDef:
    name: str
    fields: tuple[str, ...]
    direct: bool


@dataclass(frozen=True)
class Subscription:
    """``consumer`` reads ``source``'s ``stream`` with ``grouping`` (and ``fields`` for a fields grouping)."""

    source: str
    stream: str
    consumer: str
    grouping: str
    fields: tuple[str, ...] = ()


@dataclass
class ComponentDef:
    name: str
    cls: type
    is_spout: bool
    par: int
    config: dict[str, Any]
    streams: dict[str, StreamDef]
    inputs: list[Subscription] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)


@dataclass
class TopologyModel:
    name: str
    config: dict[str, Any]
    components: dict[str, ComponentDef]
    # (source, stream) -> subscriptions reading it
    subscribers: dict[tuple[str, str], list[Subscription]]
    task_component: dict[int, str]

    @property
    def spouts(self) -> list[ComponentDef]:
        return [c for c in self.components.values() if c.is_spout]

    @property
    def bolts(self) -> list[ComponentDef]:
        return [c for c in self.components.values() if not c.is_spout]

    def context_for(self, task_id: int) -> dict[str, Any]:
        """The multilang context Storm hands a component in its handshake."""
        comp = self.components[self.task_component[task_id]]
        source_fields: dict[str, dict[str, list[str]]] = {}
        for sub in comp.inputs:
            src = self.components[sub.source]
            source_fields.setdefault(sub.source, {})[sub.stream] = list(
                src.streams[sub.stream].fields
            )
        return {
            "taskid": task_id,
            "componentid": comp.name,
            "task->component": {str(t): c for t, c in self.task_component.items()},
            "source->stream->fields": source_fields,
            "stream->outputfields": {s.name: list(s.fields) for s in comp.streams.values()},
            "component->tasks": {c.name: list(c.task_ids) for c in self.components.values()},
        }


def _grouping_of(grouping: Any, where: str) -> tuple[str, tuple[str, ...]]:
    for kind in ("shuffle", "all", "none", "local_or_shuffle", "direct"):
        if getattr(grouping, kind, None) is not None:
            return kind, ()
    fields = getattr(grouping, "fields", None)
    if fields is not None:
        return ("fields", tuple(fields)) if fields else ("global", ())
    raise TopologyError(
        f"{where}: grouping {grouping!r} is not supported by the embedded runner; "
        f"supported: {', '.join(GROUPINGS)} (custom Java groupings need Storm)"
    )


def build_model(topology: type[Topology], name: str | None = None) -> TopologyModel:
    """Read a streamparse ``Topology`` subclass into a :class:`TopologyModel`.

    Task ids are given as Storm does: components sorted by name, ids counting from 1.
    """
    if not (isinstance(topology, type) and issubclass(topology, Topology)) or topology is Topology:
        shown = getattr(topology, "__name__", None) or repr(topology)
        raise TopologyError(f"{shown} is not a streamparse Topology subclass")
    components: dict[str, ComponentDef] = {}
    for spec in topology.specs:
        if isinstance(spec, (JavaBoltSpec, JavaSpoutSpec)):
            raise TopologyError(
                f"component {spec.name!r} is a Java component ({type(spec).__name__}); "
                "the embedded runner runs Python components only — use `sparse run` for Java ones"
            )
        if not isinstance(spec, (ShellBoltSpec, ShellSpoutSpec)):
            raise TopologyError(
                f"component {getattr(spec, 'name', spec)!r}: unexpected spec type "
                f"{type(spec).__name__}; a topology holds Python components made with "
                "Bolt.spec(...) or Spout.spec(...)"
            )
        par = spec.par
        if isinstance(par, dict):
            raise TopologyError(
                f"component {spec.name!r}: per-environment parallelism {par!r} needs an environment; "
                "give an int par to run it embedded"
            )
        if isinstance(par, bool) or not isinstance(par, int) or par < 1:
            raise TopologyError(
                f"component {spec.name!r}: parallelism par={par!r}; it must be an integer >= 1"
            )
        config = (
            json.loads(spec.config) if isinstance(spec.config, str) else dict(spec.config or {})
        )
        streams = {
            sname: StreamDef(sname, tuple(info.output_fields or ()), bool(info.direct))
            for sname, info in spec.outputs.items()
        }
        components[spec.name] = ComponentDef(
            name=spec.name,
            cls=spec.component_cls,
            is_spout=isinstance(spec, ShellSpoutSpec),
            par=int(par),
            config=config,
            streams=streams,
        )
    subscribers: dict[tuple[str, str], list[Subscription]] = {}
    for spec in topology.specs:
        for stream_id, grouping in (spec.inputs or {}).items():
            source = stream_id.componentId
            source = getattr(source, "name", source)
            if source not in components:
                raise TopologyError(f"component {spec.name!r} reads unknown component {source!r}")
            src = components[source]
            if stream_id.streamId not in src.streams:
                raise TopologyError(
                    f"component {spec.name!r} reads stream {stream_id.streamId!r} of {source!r}, "
                    f"which declares only {sorted(src.streams)}"
                )
            where = f"component {spec.name!r} reading stream {stream_id.streamId!r} of {source!r}"
            kind, gfields = _grouping_of(grouping, where)
            if kind == "direct" and not src.streams[stream_id.streamId].direct:
                raise TopologyError(
                    f"component {spec.name!r} uses a direct grouping on {source}:{stream_id.streamId}, "
                    "which is not declared direct (Stream(..., direct=True))"
                )
            sub = Subscription(source, stream_id.streamId, spec.name, kind, gfields)
            components[spec.name].inputs.append(sub)
            subscribers.setdefault((source, stream_id.streamId), []).append(sub)
    task_component: dict[int, str] = {}
    next_id = 1
    for cname in sorted(components):
        comp = components[cname]
        comp.task_ids = list(range(next_id, next_id + comp.par))
        for t in comp.task_ids:
            task_component[t] = cname
        next_id += comp.par
    return TopologyModel(
        name=name or topology.__name__,
        config=dict(topology.config or {}),
        components=components,
        subscribers=subscribers,
        task_component=task_component,
    )

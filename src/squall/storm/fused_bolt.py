"""FusedBolt: a chain of Python bolts in one multilang process (``squall.storm.fusion``).

Storm writes each input tuple to the chain's first member; what a member emits on the stream
the next member reads is handed to that member as a call (a ``Tuple`` like the one Storm would
have written, from the member's own component and stream), and what it emits on a stream that
another component reads leaves through Storm, anchored to the input Storm gave. The input is
acked once the chain has returned, or failed if any member failed it; a member's exception
fails it as it would have failed the member's own input (pystorm reports it and the process
ends, as an unfused bolt's would). A tick reaches every member's ``process_tick``.

Members are hosted as the embedded runner hosts components (``squall.engine.hosting``): each
runs its own ``initialize`` and ``process`` unchanged, with Storm's config and a context that
names the member (``componentid``) and the streams it reads.
"""

from __future__ import annotations

import importlib
import json
from itertools import count
from typing import Any

from pystorm.component import Tuple
from streamparse import Bolt

from squall.engine.hosting import build_component, values_type
from squall.errors import ConfigError

MEMBERS_KEY = "squall.fused.members"  # the fused component's config: its members, as JSON
CHAINING_KEY = "squall.chaining"


def _load_class(path: str, where: str) -> type:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot load member class {path!r}: {exc}") from exc


def read_members(conf: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The members of a fused component, from its config (``squall.fused.members``)."""
    raw = conf.get(MEMBERS_KEY)
    try:
        members = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        members = None
    if not (isinstance(members, list) and len(members) >= 2):
        raise ConfigError(
            f"{where}: {MEMBERS_KEY} must be a JSON list of at least 2 members "
            f"(squall.storm.fusion writes it); got {raw!r}"
        )
    return members


class _Hosted:
    """One member: its component, where its emits go, and the tuple types it reads."""

    def __init__(self, spec: dict[str, Any], component: Any) -> None:
        self.name: str = spec["name"]
        self.next_stream: str | None = spec["next"]
        self.exported: dict[str, str] = spec["exported"]
        self.outputs: dict[str, list[str]] = spec["outputs"]
        self.component = component


class FusedBolt(Bolt):
    outputs: list[Any] = []  # declared by its spec: the members' exported streams
    auto_ack = False  # the chain's input is acked (or failed) once every member is done

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        where = f"fused component {context.get('componentid')!r}"
        specs = read_members(storm_conf, where)
        if storm_conf.get(CHAINING_KEY, True) in (False, "false"):
            # Submitted fused (the topology's own config decides for `sparse submit`).
            self.logger.warning(
                "%s: squall.chaining is false in this run's config but the topology was "
                "submitted fused; set it in the topology's config to run its bolts apart",
                where,
            )
        self.members: list[_Hosted] = []
        for i, spec in enumerate(specs):
            member_context = dict(context, componentid=spec["name"])
            if i > 0:
                previous = specs[i - 1]
                member_context["source->stream->fields"] = {
                    previous["name"]: {previous["next"]: previous["outputs"][previous["next"]]}
                }
            cls = _load_class(spec["class"], where)
            hosted = _Hosted(spec, None)
            component = build_component(
                cls, storm_conf, member_context, self._sender(i), initialize=False
            )
            component.read_task_ids = self._read_task_ids
            hosted.component = component
            self.members.append(hosted)
        # One values type per handed-over stream, as pystorm would build from the context.
        self._types = [
            values_type(m.name, m.next_stream, tuple(m.outputs[m.next_stream]))
            if m.next_stream is not None
            else None
            for m in self.members
        ]
        self._ids = count()
        self._input: Any = None
        self._failed = False
        self._task_ids: list[int] | None = None
        for member in self.members:  # after all are built: an initialize may emit
            member.component.initialize(storm_conf, member.component.context)

    def _read_task_ids(self) -> list[int] | None:
        return self._task_ids

    def _sender(self, index: int) -> Any:
        def send(msg: dict[str, Any]) -> None:
            self._member_message(index, msg)

        return send

    def _member_message(self, index: int, msg: dict[str, Any]) -> None:
        command = msg.get("command")
        if command == "emit":
            self._member_emit(index, msg)
        elif command == "fail":
            self._failed = True
        elif command != "ack":  # acks: the chain's input is acked once, at its end
            self.send_message(msg)  # log, error, metrics, ...

    def _member_emit(self, index: int, msg: dict[str, Any]) -> None:
        member = self.members[index]
        stream = msg.get("stream") or "default"
        values = msg["tuple"]
        exported = member.exported.get(stream)
        self._task_ids = None
        if exported is not None:
            anchors = [self._input.id] if self._input is not None else []
            self._task_ids = Bolt.emit(
                self,
                values,
                stream=exported,
                anchors=anchors,
                direct_task=msg.get("task"),
                need_task_ids=msg.get("need_task_ids", True),
            )
        if stream == member.next_stream:
            vtype = self._types[index]
            tup = Tuple(
                f"fused-{next(self._ids)}",
                member.name,
                stream,
                self.task_id,
                vtype(*values) if vtype is not None else tuple(values),
            )
            self._run_member(index + 1, tup)

    def _run_member(self, index: int, tup: Any) -> None:
        component = self.members[index].component
        outer = component._current_tups
        component._current_tups = [tup]
        component.process(tup)
        component._current_tups = outer

    def process(self, tup: Any) -> None:
        self._input, self._failed = tup, False
        self._run_member(0, tup)
        if self._failed:
            self.fail(tup)
        else:
            self.ack(tup)
        self._input = None

    def process_tick(self, tup: Any) -> None:
        for member in self.members:
            member.component._current_tups = [tup]
            member.component.process_tick(tup)
            member.component._current_tups = []
        self.ack(tup)

"""FusedBolt: a group of Python bolts in one multilang process (``squall.storm.fusion``).

Storm writes each input tuple once; FusedBolt hands it to every member that reads its source
and stream, as a call. What a member emits reaches the members that read that stream the same
way (depth first, a ``Tuple`` like the one Storm would have written: the member's own
component, stream and fields), and leaves through Storm when a component outside reads it.

Acking follows Storm's tree: every tuple handed to a member is tracked to the Storm inputs it
derives from (its *roots*: the input itself, or every input its anchors came from), and a Storm
input is acked once it has been processed and every tuple derived from it was acked by the
member that got it; pystorm's ``auto_ack`` members are acked when ``process`` returns, as
pystorm's own loop does, and a member that holds its tuples (a window, a Kafka sink waiting
for the broker) acks them when it lets them go, which then acks the reading. A member's
``fail`` fails the roots at once; an emit that leaves through Storm is anchored to its
roots. A member's exception fails the input Storm gave and ends the process (pystorm reports
it), as an unfused bolt's would; what other members held is replayed by the spouts once Storm
times it out. A tick reaches every member's ``process_tick``.

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
    """One member: its component and where its streams go (exported, or members that read)."""

    def __init__(self, spec: dict[str, Any], component: Any) -> None:
        self.name: str = spec["name"]
        self.exported: dict[str, str] = spec["exported"]
        self.reads: dict[str, dict[str, list[str]]] = spec["reads"]
        self.component = component


Roots = tuple[str, ...]  # the Storm input ids a tuple inside the process derives from


class FusedBolt(Bolt):
    outputs: list[Any] = []  # declared by its spec: the members' exported streams
    auto_ack = False  # an input is acked once its tree inside the process is (module docstring)

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
            # Storm's context describes the fused component: each member gets its own name,
            # what it reads (a window's watermark follows those streams) and the streams it
            # declares (a window checks its late stream).
            member_context = dict(
                context,
                componentid=spec["name"],
                **{
                    "source->stream->fields": spec["reads"],
                    "source->stream->grouping": {
                        source: {stream: {"fused": []} for stream in streams}
                        for source, streams in spec["reads"].items()
                    },
                    "stream->outputfields": spec["outputs"],
                },
            )
            cls = _load_class(spec["class"], where)
            component = build_component(
                cls, storm_conf, member_context, self._sender(i), initialize=False
            )
            component.read_task_ids = self._read_task_ids
            self.members.append(_Hosted(spec, component))
        # (source, stream) -> the members that read it, and the values type they get
        self._readers: dict[tuple[str, str], tuple[list[_Hosted], Any]] = {}
        for member in self.members:
            for source, streams in member.reads.items():
                for stream, fields in streams.items():
                    readers, _ = self._readers.setdefault(
                        (source, stream), ([], values_type(source, stream, tuple(fields)))
                    )
                    readers.append(member)
        self._ids = count()
        self._roots: dict[str, Roots] = {}  # tuple handed to a member, not yet acked -> roots
        self._open: dict[str, int] = {}  # Storm input id -> its tuples not yet acked (+1)
        self._inputs: dict[str, Any] = {}  # Storm input id -> the Storm tuple
        self._task_ids: list[int] | None = None
        for member in self.members:  # after all are built: an initialize may emit
            member.component.initialize(storm_conf, member.component.context)

    def _read_task_ids(self) -> list[int] | None:
        return self._task_ids

    def _sender(self, index: int) -> Any:
        def send(msg: dict[str, Any]) -> None:
            command = msg.get("command")
            if command == "emit":
                self._member_emit(self.members[index], msg)
            elif command == "ack":
                self._settle(msg.get("id"), failed=False)
            elif command == "fail":
                self._settle(msg.get("id"), failed=True)
            else:
                self.send_message(msg)  # log, error, metrics, ...

        return send

    # -- the tree inside the process --------------------------------------------------------

    def _hand(self, key: tuple[str, str], task: int, values: Any, roots: Roots) -> None:
        """Give every member reading ``key`` (source, stream) the tuple, tracked to ``roots``."""
        found = self._readers.get(key)
        if found is None:
            return
        readers, vtype = found
        source, stream = key
        typed = vtype(*values) if vtype is not None else tuple(values)
        open_ = self._open
        for member in readers:
            tup_id = f"fused-{next(self._ids)}"
            if roots:
                self._roots[tup_id] = roots
                for root in roots:
                    if root in open_:
                        open_[root] += 1
            tup = Tuple(tup_id, source, stream, task, typed)
            component = member.component
            outer = component._current_tups
            component._current_tups = [tup]
            component.process(tup)
            component._current_tups = outer
            if component.auto_ack:
                self._settle(tup_id, failed=False)

    def _settle(self, tup_id: Any, failed: bool) -> None:
        """A member acked (or failed) a tuple it was handed: release (or fail) its roots."""
        roots = self._roots.pop(tup_id, None)
        if roots is not None:
            self._release(roots, failed)

    def _release(self, roots: Roots, failed: bool = False) -> None:
        open_ = self._open
        for root in roots:
            left = open_.get(root)
            if left is None:
                continue  # failed already
            if left > 1 and not failed:
                open_[root] = left - 1
                continue
            del open_[root]
            tup = self._inputs.pop(root)
            if failed:
                Bolt.fail(self, tup)
            else:
                Bolt.ack(self, tup)

    def _roots_of(self, anchors: list[Any]) -> Roots:
        if len(anchors) == 1:
            return self._roots.get(anchors[0], ())
        seen: dict[str, None] = {}
        for anchor in anchors:
            for root in self._roots.get(anchor, ()):
                seen[root] = None
        return tuple(seen)

    def _member_emit(self, member: _Hosted, msg: dict[str, Any]) -> None:
        stream = msg.get("stream") or "default"
        values = msg["tuple"]
        roots = self._roots_of(msg.get("anchors") or [])
        exported = member.exported.get(stream)
        self._task_ids = None
        if exported is not None:
            self._task_ids = Bolt.emit(
                self,
                values,
                stream=exported,
                anchors=list(roots),
                direct_task=msg.get("task"),
                need_task_ids=msg.get("need_task_ids", True),
            )
        self._hand((member.name, stream), self.task_id, values, roots)

    # -- what Storm writes -------------------------------------------------------------------

    def process(self, tup: Any) -> None:
        root = tup.id
        self._inputs[root] = tup
        self._open[root] = 1  # held while the members run, so an early ack cannot ack it
        self._hand((tup.component, tup.stream), tup.task, tup.values, (root,))
        self._release((root,))

    def process_tick(self, tup: Any) -> None:
        for member in self.members:
            component = member.component
            component._current_tups = [tup]
            component.process_tick(tup)
            component._current_tups = []
        self.ack(tup)

"""Test kit for streamparse components and topologies.

- :func:`make_tuple`, :func:`make_tick_tuple` — tuples as Storm delivers them;
- :class:`BoltHarness`, :class:`SpoutHarness` — one component, built safely (never on the test
  process's stdin/stdout), fed by hand, with what it emitted, acked and failed;
- :class:`TopologyDriver` — a whole topology in the spirit of Kafka Streams' TopologyTestDriver:
  pipe input tuples into spouts, run to quiescence, read outputs per component and stream, move a
  manual clock to fire tick tuples and timeouts;
- :class:`ManualClock` — the clock tests move by hand (``advance``).

Nothing here is collected by pytest (``__test__ = False``).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pystorm.component import Tuple
from streamparse import Spout, Topology

from squall.engine.clock import ManualClock
from squall.engine.hosting import build_component, values_type
from squall.engine.model import build_model
from squall.engine.results import RunResult
from squall.engine.run_settings import RunSettings
from squall.engine.runner import resolve_conf
from squall.engine.worker import Worker

__all__ = [
    "Emission",
    "make_tuple",
    "make_tick_tuple",
    "BoltHarness",
    "SpoutHarness",
    "TopologyDriver",
    "ManualClock",
]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Emission:
    """One ``emit`` call: where it went and what it carried."""

    stream: str
    values: list[Any]
    anchors: list[Any]
    direct_task: int | None
    tup_id: Any = None


def make_tuple(
    values: Sequence[Any],
    fields: Sequence[str] | None = None,
    stream: str = "default",
    component: str = "source",
    task: int = 1,
    id: Any = None,  # noqa: A002 - Storm's name for it
) -> Tuple:
    """A tuple as a bolt receives it; with ``fields`` its values are a namedtuple, as under Storm."""
    if fields is not None and len(fields) != len(values):
        raise ValueError(
            f"{len(values)} values {list(values)!r} for {len(fields)} fields {list(fields)}"
        )
    vtype = values_type(component, stream, tuple(fields or ()))
    tvalues = vtype._make(values) if vtype is not None else tuple(values)
    return Tuple(next(_ids) if id is None else id, component, stream, task, tvalues)


def make_tick_tuple(freq_s: int = 1) -> Tuple:
    """A tick tuple: component ``__system``, stream ``__tick``, task -1."""
    return Tuple(next(_ids), "__system", "__tick", -1, (freq_s,))


class _Recorder:
    def __init__(self) -> None:
        self.emitted: list[Emission] = []
        self.acked: list[Any] = []
        self.failed: list[Any] = []
        self.errors: list[str] = []
        self.logs: list[str] = []
        self.component: Any = None

    def on_message(self, msg: dict[str, Any]) -> None:
        command = msg.get("command")
        if command == "emit":
            direct = msg.get("task")
            self.emitted.append(
                Emission(
                    msg.get("stream") or "default",
                    list(msg["tuple"]),
                    list(msg.get("anchors") or []),
                    direct,
                    msg.get("id"),
                )
            )
            if msg.get("need_task_ids", True) and direct is None:
                self.component._pending_task_ids.append([])  # no routing in a harness
        elif command == "ack":
            self.acked.append(msg["id"])
        elif command == "fail":
            self.failed.append(msg["id"])
        elif command == "error":
            self.errors.append(str(msg.get("msg", "")))
        elif command == "log":
            self.logs.append(str(msg.get("msg", "")))


def _context(
    component: str, task: int, sources: dict[str, dict[str, list[str]]] | None
) -> dict[str, Any]:
    return {
        "taskid": task,
        "componentid": component,
        "task->component": {str(task): component},
        "source->stream->fields": sources or {},
    }


class BoltHarness(_Recorder):
    """A bolt under test.

    ``process(tup)`` runs the bolt's own loop body on one tuple (auto-ack and auto-anchor apply as
    under Storm) and returns what it emitted. An exception propagates when ``raise_errors`` is
    True (the default, so a bug fails the test); otherwise it is handled as Storm would: reported
    in ``errors`` and the tuple failed.
    """

    __test__ = False

    def __init__(
        self,
        bolt_cls: type,
        conf: dict[str, Any] | None = None,
        component: str = "bolt",
        task: int = 1,
        sources: dict[str, dict[str, list[str]]] | None = None,
        raise_errors: bool = True,
    ) -> None:
        super().__init__()
        conf = dict(conf or {})
        conf.setdefault("topology.name", "test")
        conf.setdefault("squall.embedded", True)
        self.raise_errors = raise_errors
        self._current: Tuple | None = None
        self.bolt = build_component(
            bolt_cls, conf, _context(component, task, sources), self.on_message, initialize=False
        )
        self.component = self.bolt
        self.bolt.read_tuple = lambda: self._current
        self.bolt.initialize(conf, self.bolt.context)

    def process(self, tup: Tuple) -> list[Emission]:
        """Run the bolt on one tuple; returns what it emitted."""
        mark = len(self.emitted)
        self._current = tup
        try:
            self.bolt._run()
        except Exception as exc:
            if self.raise_errors:
                self.bolt._current_tups = []
                raise
            self.bolt._handle_run_exception(exc)
            self.bolt._current_tups = []
        return self.emitted[mark:]

    def process_all(self, tuples: Iterable[Tuple]) -> list[Emission]:
        """Run the bolt on each tuple in turn; returns everything emitted."""
        out: list[Emission] = []
        for tup in tuples:
            out.extend(self.process(tup))
        return out

    def tick(self, freq_s: int = 1) -> list[Emission]:
        """Send the bolt a tick tuple; returns what it emitted."""
        return self.process(make_tick_tuple(freq_s))


class SpoutHarness(_Recorder):
    """A spout under test: call ``next_tuple``, then ``ack``/``fail`` ids as Storm would."""

    __test__ = False

    def __init__(
        self,
        spout_cls: type,
        conf: dict[str, Any] | None = None,
        component: str = "spout",
        task: int = 1,
    ) -> None:
        super().__init__()
        conf = dict(conf or {})
        conf.setdefault("topology.name", "test")
        conf.setdefault("squall.embedded", True)
        self.spout = build_component(
            spout_cls, conf, _context(component, task, None), self.on_message, initialize=False
        )
        self.component = self.spout
        self.spout.initialize(conf, self.spout.context)

    def next_tuple(self) -> list[Emission]:
        """Call the spout's ``next_tuple`` once; returns what it emitted."""
        mark = len(self.emitted)
        self.spout.next_tuple()
        return self.emitted[mark:]

    def ack(self, tup_id: Any) -> None:
        """Tell the spout its tuple ``tup_id`` was fully processed, as Storm would."""
        self.spout.ack(tup_id)

    def fail(self, tup_id: Any) -> None:
        """Tell the spout its tuple ``tup_id`` failed, as Storm would."""
        self.spout.fail(tup_id)


class _ScriptedSpout(Spout):
    """Stands in for a topology's spout: emits exactly the tuples a test piped in, reliably."""

    feed: deque[tuple[str, list[Any], Any]]

    def next_tuple(self) -> None:
        if self.feed:
            stream, values, tup_id = self.feed.popleft()
            self.emit(values, tup_id=tup_id, stream=None if stream == "default" else stream)


class TopologyDriver:
    """Drive a whole topology in one process with a manual clock.

    The named spouts (all, by default) are replaced by scripted ones; ``pipe`` queues their
    input, ``run`` processes until nothing moves, ``advance`` moves the clock (firing tick
    tuples and message timeouts at each due instant along the way) and runs again. Components
    named in ``clocked`` read the driver's clock (seconds) through their ``clock`` attribute, as a
    processing-time ``WindowedBolt`` does.
    """

    __test__ = False

    def __init__(
        self,
        topology: type[Topology],
        conf: dict[str, Any] | None = None,
        clock: ManualClock | None = None,
        replace_spouts: Sequence[str] | None = None,
        clocked: Sequence[str] = (),
    ) -> None:
        self.clock = clock or ManualClock()
        self.model = build_model(topology)
        merged = resolve_conf(topology, conf)
        merged.setdefault("topology.name", self.model.name)
        self._feeds: dict[str, deque[tuple[str, list[Any], Any]]] = {}
        names = (
            replace_spouts if replace_spouts is not None else [c.name for c in self.model.spouts]
        )
        for name in names:
            comp = self.model.components.get(name)
            if comp is None or not comp.is_spout:
                raise ValueError(
                    f"{name!r} is not a spout of {topology.__name__}; spouts: {[c.name for c in self.model.spouts]}"
                )
            feed: deque[tuple[str, list[Any], Any]] = deque()
            self._feeds[name] = feed
            comp.cls = type(f"Scripted_{name}", (_ScriptedSpout,), {"feed": feed})
        self._worker = Worker(
            self.model,
            RunSettings.from_conf(merged),
            sorted(self.model.task_component),
            self.clock,
            capture=True,
        )
        unknown = set(clocked) - set(self.model.components)
        if unknown:
            raise ValueError(
                f"clocked={sorted(unknown)}: no such components; components: {sorted(self.model.components)}"
            )
        self._worker.clocked = frozenset(clocked)
        self._worker.start()
        self._ids = itertools.count(1)

    def pipe(self, spout: str, rows: Iterable[Sequence[Any]], stream: str = "default") -> list[int]:
        """Queue rows for ``spout``; returns their message ids (for ``acked``/``failed``)."""
        if spout not in self._feeds:
            raise ValueError(f"{spout!r} is not a scripted spout; scripted: {sorted(self._feeds)}")
        ids = []
        for row in rows:
            tup_id = next(self._ids)
            self._feeds[spout].append((stream, list(row), tup_id))
            ids.append(tup_id)
        return ids

    def run(self, max_rounds: int = 1_000_000) -> RunResult:
        """Process until quiescent: no queued tuple, no spout input, no pending ack callback."""
        for _ in range(max_rounds):
            progressed = self._worker.step()
            if not progressed and self._worker.idle() and not any(self._feeds.values()):
                return self.result
        raise RuntimeError(f"topology did not quiesce within {max_rounds} rounds")

    def advance(self, seconds: float) -> RunResult:
        """Move the clock by ``seconds``, stopping at every tick due on the way."""
        target = self.clock.now() + seconds
        self.run()
        while True:
            due = [t[0] for t in self._worker._ticks if t[0] <= target]
            step_to = min(due) if due else target
            self.clock.advance(max(0.0, step_to - self.clock.now()))
            self.run()
            if not due:
                return self.result

    @property
    def result(self) -> RunResult:
        """Counts, errors and captured outputs so far."""
        return self._worker.collect()

    def output(self, component: str, stream: str = "default") -> list[list[Any]]:
        """The values ``component`` emitted on ``stream``, in emit order per task."""
        return self._worker.result.output(component, stream)

    def acked(self, spout: str) -> list[Any]:
        """Message ids whose trees were fully acked, as ``spout`` was told."""
        return self._worker.result.spout_acked.get(spout, [])

    def failed(self, spout: str) -> list[Any]:
        """Message ids whose trees failed or timed out, as ``spout`` was told."""
        return self._worker.result.spout_failed.get(spout, [])

    @property
    def in_flight(self) -> int:
        """Tuple trees neither acked nor failed yet."""
        return len(self._worker.acker)

    def close(self) -> None:
        """Deactivate the spouts and close every component."""
        self._worker.close()

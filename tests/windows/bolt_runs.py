"""Run a timeline scenario through a WindowedBolt two ways and record what it told Storm.

* ``run_harness``: ``squall.testing.BoltHarness`` (the embedded runner's hosting);
* ``run_multilang``: the bolt's real multilang loop, ``run()``, reading Storm's JSON messages
  (handshake, tuples, ticks, each ended by ``\\nend\\n``) from a BytesIO and writing to one.

Both return a :class:`Record` of emits (stream, values, anchors), acks and fails by tuple id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamparse import Stream

from squall.testing import BoltHarness, make_tuple
from squall.windowed_bolt import WindowedBolt
from squall.windows import Window, WindowSpec
from tests.windows.multilang import context_for, run_loop, tick_msg, tuple_msg
from tests.windows.scenarios import Scenario, Tick, event

FIELDS = ["name", "ts"]


class Recorder(WindowedBolt):
    """Emits one tuple per window: bounds and the names of its tuples."""

    outputs = [Stream(fields=["start", "end", "current", "new", "expired"], name="default")]

    def process_window(self, window: Window) -> None:
        def names(tups: tuple) -> list[str]:
            return [t.values[0] for t in tups]

        self.emit(
            [
                window.start,
                window.end,
                names(window.current),
                names(window.new),
                names(window.expired),
            ]
        )


def recorder_for(spec: WindowSpec) -> type[Recorder]:
    return type("ScenarioRecorder", (Recorder,), {"window": spec})


@dataclass
class Record:
    emits: list[tuple[str, Any, list[Any]]] = field(default_factory=list)
    acks: list[Any] = field(default_factory=list)
    fails: list[Any] = field(default_factory=list)
    # multilang only: every message in the order the bolt wrote it
    log: list[tuple[str, Any]] = field(default_factory=list, compare=False)

    def windows(self) -> list[tuple]:
        return [tuple(v) for s, v, _ in self.emits if s == "default"]

    def late(self) -> list[str]:
        return [v[3][0] for s, v, _ in self.emits if s == "late"]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))  # what crosses the multilang pipe


def run_harness(sc: Scenario, bolt_cls: type[WindowedBolt] | None = None) -> Record:
    cls = bolt_cls or recorder_for(sc.spec)
    sources = {src: {"default": FIELDS} for src in sc.sources}
    harness = BoltHarness(cls, conf=dict(cls.config or {}), component="windows", sources=sources)
    now = [0.0]
    harness.bolt.clock = lambda: now[0]
    for step in sc.steps:
        if isinstance(step, Tick):
            now[0] = (step.at or 0) / 1000
            harness.tick()
        else:
            name, ts, source = event(step)
            now[0] = ts / 1000
            harness.process(make_tuple([name, ts], fields=FIELDS, component=source, id=name))
    names = set(sc.arrived)
    return Record(
        emits=[
            (e.stream, _plain(e.values), [_anchor(a) for a in e.anchors]) for e in harness.emitted
        ],
        acks=[a for a in harness.acked if a in names],
        fails=list(harness.failed),
    )


def _anchor(a: Any) -> Any:
    return getattr(a, "id", a)


def run_multilang(
    sc: Scenario, tmp_path: Path, bolt_cls: type[WindowedBolt] | None = None
) -> Record:
    cls = bolt_cls or recorder_for(sc.spec)
    conf = {"topology.name": "test", **(cls.config or {})}
    context = context_for(cls, "windows", {src: {"default": FIELDS} for src in sc.sources})
    messages, arrivals = [], []
    for i, step in enumerate(sc.steps):
        if isinstance(step, Tick):
            messages.append(tick_msg(f"tick{i}"))
            arrivals.append((step.at or 0) / 1000)
        else:
            name, ts, source = event(step)
            messages.append(tuple_msg(name, [name, ts], source))
            arrivals.append(ts / 1000)
    record = Record()
    names = set(sc.arrived)
    for msg in run_loop(cls, conf, context, messages, tmp_path, arrivals):
        command = msg.get("command")
        record.log.append((command, msg.get("tuple", msg.get("id"))))
        if command == "emit":
            record.emits.append(
                (msg.get("stream", "default"), msg["tuple"], msg.get("anchors", []))
            )
        elif command == "ack" and msg["id"] in names:
            record.acks.append(msg["id"])
        elif command == "fail":
            record.fails.append(msg["id"])
    return record

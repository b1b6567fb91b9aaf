"""A topology's ui_panels: resolved against its streams, each wiring mistake named; the probe
taps exactly the declared streams and reads Kafka spouts' lag."""

from __future__ import annotations

import re
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamparse import Topology

from squall.engine.model import build_model
from squall.errors import TopologyError
from squall.loading import load_topology
from squall.ui import Chart, Feed
from squall.ui.declare import Tap, resolve_panels, taps_of
from squall.ui.probe import UIProbe, consumer_lag
from topologies.health import HealthTopology

HEALTH = build_model(HealthTopology, "health")


def with_panels(*panels):
    """A class declaring other panels, resolved against HealthTopology's wiring."""
    return type("Declared", (), {"ui_panels": panels})


def resolve(declared):
    return resolve_panels(declared, HEALTH)


def test_the_health_topology_declares_its_trend_chart_alerts_and_invalid_inputs():
    panels = resolve(HealthTopology)
    assert [(p.kind, p.title) for p in panels] == [
        ("chart", "Alerts per rule"),
        ("feed", "Latest alerts"),
        ("feed", "Latest invalid inputs"),
    ]
    assert [(t.component, t.stream) for t in taps_of(panels)] == [
        ("trend", "default"),
        ("threshold", "default"),
        ("parse", "invalid"),
        ("bmi", "invalid"),
    ]


def test_a_topology_without_panels_has_none():
    class Plain(Topology):
        synthetic = HealthTopology.synthetic

    assert resolve_panels(Plain, build_model(Plain, "plain")) == []


def test_sources_may_be_named_as_text():
    (panel,) = resolve(with_panels(Feed("parse:invalid", fields=("reason",))))
    assert panel.taps == (Tap("parse", "invalid", ("raw", "reason", "ts"), 20),)


@pytest.mark.parametrize(
    "panel, message",
    [
        (
            Chart("nope", x="a", y="b"),
            "Declared.ui_panels[0]: unknown component 'nope'; components: ['bmi', 'console', "
            "'jsonl', 'parse', 'synthetic', 'threshold', 'trend']",
        ),
        (
            Feed("parse:oops", fields=("reason",)),
            "Declared.ui_panels[0]: component 'parse' has no stream 'oops'; "
            "declared: ['default', 'invalid']",
        ),
        (
            Chart("trend", x="window_end_ms", y="total", series="rule"),
            "Declared.ui_panels[0]: stream trend:default has no field(s) ['total']; its fields: "
            "['rule', 'window_start_ms', 'window_end_ms', 'count', 'trend', 'previous', "
            "'precision', 'error_bound']",
        ),
        (
            Feed((), fields=("reason",)),
            "Declared.ui_panels[0]: a Feed needs at least one source",
        ),
        (
            Feed("parse:invalid", fields=("reason",), keep=0),
            "Declared.ui_panels[0]: keep=0; it must be at least 1",
        ),
        (
            {"chart": "trend"},
            "Declared.ui_panels[0] is a dict; a panel is a squall.ui.Chart or Feed",
        ),
        (
            Feed(42, fields=()),
            "Declared.ui_panels[0]: source 42 is not a stream; use a component spec, "
            "spec['stream'], 'component' or 'component:stream'",
        ),
    ],
)
def test_each_declaration_mistake_is_named(panel, message):
    with pytest.raises(TopologyError, match=re.escape(message)):
        resolve(with_panels(panel))


def test_a_stream_in_two_panels_is_tapped_once_keeping_the_larger_count():
    panels = resolve(
        with_panels(
            Feed("parse:invalid", fields=("reason",), keep=5),
            Feed("parse:invalid", fields=("ts",), keep=50),
        )
    )
    assert taps_of(panels) == [Tap("parse", "invalid", ("raw", "reason", "ts"), 50)]


class FakeComponent:
    """A component's emit as the engine installs it: records the calls it gets."""

    def __init__(self):
        self.calls = []

    def emit(self, tup, *args, **kwargs):
        self.calls.append((tup, args, kwargs))
        return [1]


def executor(name, instance, spout=False):
    return SimpleNamespace(name=name, instance=instance, is_spout=spout)


def test_the_probe_keeps_the_latest_records_of_tapped_streams_and_passes_every_emit_on():
    parse, bmi = FakeComponent(), FakeComponent()
    probe = UIProbe([Tap("parse", "invalid", ("raw", "reason", "ts"), 2)])
    probe.install({4: executor("parse", parse), 1: executor("bmi", bmi)})
    assert "emit" not in vars(bmi)  # an untapped component is left alone
    for i in range(3):
        assert parse.emit([f"raw{i}", "why", i], stream="invalid") == [1]
    parse.emit(["id", 0, {}])  # the default stream: not tapped
    parse.emit(["raw3", "why", 3], "invalid", None)  # stream given by position
    assert len(parse.calls) == 5
    got = probe.collect()
    assert got.records == {("parse", "invalid"): [(4, ["raw2", "why", 2]), (4, ["raw3", "why", 3])]}
    assert got.totals == {("parse", "invalid"): 4}
    assert probe.collect().records == {("parse", "invalid"): []}  # emptied at each tick


def test_a_spouts_stream_is_its_third_positional_argument():
    spout = FakeComponent()
    probe = UIProbe([Tap("synthetic", "default", ("payload",), 5)])
    probe.install({6: executor("synthetic", spout, spout=True)})
    spout.emit(["p"], "msg-1")  # tup_id, not a stream
    spout.emit(["q"], "msg-2", "other")
    assert probe.collect().records == {("synthetic", "default"): [(6, ["p"])]}


TP = namedtuple("TP", "topic partition")


class FakeConsumer:
    def __init__(self, positions, highwaters):
        self.positions, self.highwaters = positions, highwaters

    def assignment(self):
        return set(self.positions)

    def highwater(self, tp):
        return self.highwaters.get(tp)

    def position(self, tp, timeout_ms=None):
        assert timeout_ms == 0  # never waits for the broker
        if self.positions[tp] is None:
            raise TimeoutError("no position yet")
        return self.positions[tp]


def test_consumer_lag_is_highwater_minus_position_for_partitions_that_know_both():
    consumer = FakeConsumer(
        {TP("r", 0): 90, TP("r", 1): 10, TP("r", 2): None, TP("r", 3): 5},
        {TP("r", 0): 100, TP("r", 1): 10, TP("r", 2): 50},
    )
    assert consumer_lag(consumer) == {("r", 0): 10, ("r", 1): 0}


def test_the_probe_reads_the_lag_of_kafka_spouts_at_each_tick():
    spout = SimpleNamespace(consumer=FakeConsumer({TP("r", 0): 1}, {TP("r", 0): 4}))
    probe = UIProbe([])
    probe.install({3: executor("kafka", spout, spout=True)})
    assert probe.collect().lag == {("kafka", 3, "r", 0): 3}
    spout.consumer = FakeConsumer({TP("r", 0): 4}, {TP("r", 0): 4})  # a new consumer: read anew
    assert probe.collect().lag == {("kafka", 3, "r", 0): 0}


@pytest.mark.parametrize(
    "path", sorted(str(p) for p in (Path(__file__).parents[2] / "topologies").glob("health*.py"))
)
def test_every_health_topology_declares_its_trend_chart_and_feeds(path: str) -> None:
    topology = load_topology(path)
    panels = resolve_panels(topology, build_model(topology, Path(path).stem))
    assert [(p.kind, p.title) for p in panels] == [
        ("chart", "Alerts per rule"),
        ("feed", "Latest alerts"),
        ("feed", "Latest invalid inputs"),
    ]

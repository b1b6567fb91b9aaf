"""WindowedBolt inside whole topologies (TopologyDriver, manual clock) and at its edges:
replay after a fail, the memory bound, bad timestamps, two input streams, config errors."""

from __future__ import annotations

import logging
from io import BytesIO

import pytest
from streamparse import Bolt, Spout, Stream, Topology

from squall.testing import BoltHarness, ManualClock, TopologyDriver, make_tuple
from squall.windowed_bolt import WindowedBolt, late_stream
from squall.windows import Count, Duration, WindowConfigError, WindowSpec
from tests.windows.bolt_runs import FIELDS, Recorder, recorder_for, run_harness
from tests.windows.scenarios import ALL, Scenario, Tick, event


class Source(Spout):
    outputs = [Stream(fields=FIELDS, name="default")]

    def next_tuple(self) -> None:  # replaced by the driver's scripted spout
        pass


class FailFirst(Bolt):
    """Fails the first window result it sees (a downstream hiccup), acks the rest."""

    outputs = [Stream(fields=["current"], name="default")]
    auto_ack = False
    seen = 0

    def process(self, tup) -> None:
        type(self).seen += 1
        self.emit([tup.values[2]], anchors=[tup])
        if type(self).seen == 1:
            self.fail(tup)
        else:
            self.ack(tup)


def topology(
    bolt_cls: type[WindowedBolt], judge: bool = False, sources=("source",)
) -> type[Topology]:
    attrs: dict = {name: Source.spec(name=name) for name in sources}
    attrs["windows"] = bolt_cls.spec(name="windows", inputs=[attrs[name] for name in sources])
    if judge:
        FailFirst.seen = 0
        attrs["judge"] = FailFirst.spec(name="judge", inputs=[attrs["windows"]])
    return type("WindowTopology", (Topology,), attrs)


def drive(sc: Scenario) -> tuple[TopologyDriver, dict[tuple[str, int], str]]:
    clock = ManualClock()
    cls = type("Timed", (recorder_for(sc.spec),), {"clock": staticmethod(clock.now)})
    driver = TopologyDriver(topology(cls, sources=sc.sources), clock=clock)
    names: dict[tuple[str, int], str] = {}
    for step in sc.steps:
        if isinstance(step, Tick):
            if not sc.spec.event_time and step.at / 1000 > clock.now():
                driver.advance(step.at / 1000 - clock.now())
            driver.run()
            if sc.spec.event_time:
                driver.advance(1.0)  # one tick: one watermark
        else:
            name, ts, source = event(step)
            if not sc.spec.event_time and ts / 1000 > clock.now():
                driver.advance(ts / 1000 - clock.now())
            [msg_id] = driver.pipe(source, [[name, ts]])
            names[(source, msg_id)] = name
            driver.run()
    if not sc.spec.event_time:
        driver.advance(1.0)  # windows fall due at the first tick after their end
    return driver, names


@pytest.mark.parametrize("sc", ALL, ids=lambda sc: sc.name)
def test_scenario_in_a_topology(sc: Scenario) -> None:
    driver, names = drive(sc)
    try:
        windows = [tuple(v) for v in driver.output("windows")]
        assert windows == [(s, e, c, n, x) for s, e, c, n, x in sc.windows]
        assert [v[3][0] for v in driver.output("windows", "late")] == list(sc.late)
        # the spouts see exactly the acks and fails the bolt gave in the harness run
        acked = sorted(names[(src, i)] for src in sc.sources for i in driver.acked(src))
        assert acked == sorted(run_harness(sc).acks)
        failed = sorted(names[(src, i)] for src in sc.sources for i in driver.failed(src))
        assert failed == sorted(sc.failed)
    finally:
        driver.close()


def test_replay_after_a_fail_is_windowed_again_processing_time() -> None:
    # tumbling windows of 3; the first window's result fails downstream
    #
    #   e1 e2 e3 | e4 e5 e6 | e1' e2' e3' (replay) | e7 e8 e9
    #   [e1 e2 e3] fails -> e1..e3 failed at the spout, replayed
    #   [e4 e5 e6]  [e1 e2 e3]' (counted again: at-least-once)  [e7 e8 e9]
    cls = recorder_for(WindowSpec.tumbling(Count(3)))
    driver = TopologyDriver(topology(cls, judge=True), clock=ManualClock())
    try:
        first = driver.pipe("source", [[f"e{i}", i] for i in range(1, 7)])
        driver.run()
        assert sorted(driver.failed("source")) == first[:3]
        # tumbling: e4..e6 can be in no later window, so they are acked right after theirs
        assert sorted(driver.acked("source")) == first[3:]
        replay = driver.pipe("source", [[f"e{i}", i] for i in range(1, 4)])
        driver.pipe("source", [[f"e{i}", i] for i in range(7, 10)])
        driver.run()
        assert [v[2] for v in driver.output("windows")] == [
            ["e1", "e2", "e3"],
            ["e4", "e5", "e6"],
            ["e1", "e2", "e3"],
            ["e7", "e8", "e9"],
        ]
        assert set(first[3:] + replay) <= set(driver.acked("source"))
        assert sorted(driver.failed("source")) == first[:3]
    finally:
        driver.close()


def test_replay_behind_the_watermark_goes_to_the_late_stream() -> None:
    #   e1(5) e2(8) e3(15) tick: watermark 15 -> (0, 10] = e1 e2, fails downstream
    #   replayed e1(5) e2(8) are behind the watermark: late stream, acked, not re-windowed
    cls = recorder_for(WindowSpec.tumbling(Duration(10), timestamp_field="ts"))
    driver = TopologyDriver(topology(cls, judge=True), clock=ManualClock())
    try:
        first = driver.pipe("source", [["e1", 5], ["e2", 8], ["e3", 15]])
        driver.run()
        driver.advance(1.0)
        assert sorted(driver.failed("source")) == first[:2]
        replay = driver.pipe("source", [["e1", 5], ["e2", 8]])
        driver.run()
        late = driver.output("windows", "late")
        assert [(v[0], v[3], v[4], v[5]) for v in late] == [
            ("source", ["e1", 5], 5, 15),
            ("source", ["e2", 8], 8, 15),
        ]
        assert set(replay) <= set(driver.acked("source"))
    finally:
        driver.close()


def test_memory_bound_fails_the_tuple_with_a_clear_error(caplog) -> None:
    #   e1(10) e2(20) e3(30) fill max_events=3; e4(40) and e5(250) are failed (replayed later
    #   by the spout), but their timestamps still move event time: the tick's watermark 250
    #   closes (0, 100], which frees the buffer, so e6 fits. A full buffer cannot stall time.
    cls = recorder_for(WindowSpec.tumbling(Duration(100), timestamp_field="ts", max_events=3))
    h = BoltHarness(cls, conf=dict(cls.config), sources={"source": {"default": FIELDS}})
    with caplog.at_level(logging.ERROR):
        for name, ts in [("e1", 10), ("e2", 20), ("e3", 30), ("e4", 40), ("e5", 250)]:
            h.process(make_tuple([name, ts], fields=FIELDS, id=name))
    assert h.failed == ["e4", "e5"] and h.bolt.rejected == 2
    assert "3 events buffered, max_events=3" in caplog.text
    h.tick()
    assert [e.values[2] for e in h.emitted] == [["e1", "e2", "e3"]]
    assert h.acked[:3] == ["e1", "e2", "e3"]
    h.process(make_tuple(["e6", 260], fields=FIELDS, id="e6"))
    assert h.failed == ["e4", "e5"] and len(h.bolt.windows) == 1


@pytest.mark.parametrize(
    "values,message",
    [
        (["e1", "12:00"], "timestamp '12:00' (str) is not epoch milliseconds"),
        (["e1", 1.5], "timestamp 1.5 (float) is not epoch milliseconds"),
        (["e1", -3], "timestamp -3 is negative"),
    ],
)
def test_bad_timestamp_fails_the_tuple_and_says_why(values, message, caplog) -> None:
    cls = recorder_for(WindowSpec.tumbling(Duration(100), timestamp_field="ts"))
    h = BoltHarness(
        cls, conf=dict(cls.config), component="counter", sources={"source": {"default": FIELDS}}
    )
    with caplog.at_level(logging.ERROR):
        h.process(make_tuple(values, fields=FIELDS, id="bad"))
    assert h.failed == ["bad"] and h.emitted == []
    assert message in caplog.text and "'counter'" in caplog.text and "field 'ts'" in caplog.text


def test_missing_tick_config_is_reported_at_initialize() -> None:
    class Counter(WindowedBolt):
        outputs = [Stream(fields=["n"], name="default")]

        def window_spec(self, conf):
            return WindowSpec.sliding(Duration.seconds(10), Duration.seconds(2))

        def process_window(self, window):
            self.emit([len(window.current)])

    with pytest.raises(
        WindowConfigError, match=r"'counter'.*topology.tick.tuple.freq.secs is not set"
    ):
        BoltHarness(Counter, conf={}, component="counter")


def test_late_stream_must_be_declared() -> None:
    class NoLate(Recorder):
        outputs = [Stream(fields=["start", "end", "current", "new", "expired"], name="default")]

        def window_spec(self, conf):
            return WindowSpec.tumbling(Duration(10), timestamp_field="ts", late_stream="too_late")

    bolt = NoLate(input_stream=BytesIO(), output_stream=BytesIO())
    context = {"componentid": "w", "stream->outputfields": {"default": ["start"]}}
    with pytest.raises(
        WindowConfigError,
        match=r"stream 'too_late', which is not declared.*late_stream\('too_late'\)",
    ):
        bolt.initialize({"topology.tick.tuple.freq.secs": 1}, context)


def test_class_level_window_configures_ticks_and_the_late_stream() -> None:
    class Auto(Recorder):
        window = WindowSpec.tumbling(
            Duration.seconds(5), timestamp_field="ts", watermark_interval_s=2
        )

    assert Auto.config == {"topology.tick.tuple.freq.secs": 2}
    assert [s.name for s in Auto.outputs] == ["default", "late"]
    assert Auto.outputs[1].fields == late_stream().fields
    assert Recorder.config is None  # the base is untouched
    spec = topology(Auto).specs
    windows = next(s for s in spec if s.name == "windows")
    assert '"topology.tick.tuple.freq.secs": 2' in windows.config


def test_initialize_must_reach_the_base_class() -> None:
    class Forgetful(Recorder):
        window = WindowSpec.tumbling(Count(2))

        def initialize(self, conf, ctx):
            self.x = 1

    h = BoltHarness(Forgetful, raise_errors=True)
    with pytest.raises(WindowConfigError, match="call super\\(\\).initialize"):
        h.process(make_tuple(["e1", 1], fields=FIELDS))


def test_a_failing_window_fails_its_tuples_for_replay() -> None:
    #   tumbling windows of 2: [e1 e2] fine, [e3 e4] raises -> e3 e4 failed once each
    class Fragile(Recorder):
        window = WindowSpec.tumbling(Count(2))

        def process_window(self, window):
            if "e3" in [t.values[0] for t in window.current]:
                raise RuntimeError("downstream store is down")
            super().process_window(window)

    h = BoltHarness(Fragile, raise_errors=False, sources={"source": {"default": FIELDS}})
    for name in ["e1", "e2", "e3", "e4"]:
        h.process(make_tuple([name, 1], fields=FIELDS, id=name))
    assert [e.values[2] for e in h.emitted] == [["e1", "e2"]]
    assert sorted(h.failed) == ["e3", "e4"]
    assert h.acked == ["e1", "e2"]
    assert "downstream store is down" in h.errors[0]


def test_processing_time_survives_a_clock_step_back() -> None:
    cls = recorder_for(WindowSpec.tumbling(Duration(1000)))
    h = BoltHarness(cls, conf=dict(cls.config), sources={"source": {"default": FIELDS}})
    now = [5.0]
    h.bolt.clock = lambda: now[0]
    h.process(make_tuple(["e1", 0], fields=FIELDS, id="e1"))
    now[0] = 4.2  # NTP stepped the wall clock back
    h.process(make_tuple(["e2", 0], fields=FIELDS, id="e2"))
    now[0] = 6.5
    h.tick()
    assert h.failed == []
    assert [e.values[:3] for e in h.emitted] == [[4000, 5000, ["e1", "e2"]]]

"""The test kit itself, and the README's example (kept in sync by test_readme)."""

from __future__ import annotations

import sys

import pytest
from streamparse import Bolt, Spout

from squall.testing import (
    BoltHarness,
    ManualClock,
    SpoutHarness,
    TopologyDriver,
    make_tick_tuple,
    make_tuple,
)
from tests.squall import scenarios as sc


class Upper(Bolt):
    outputs = ["word"]

    def process(self, tup):
        if not tup.values.word:
            raise ValueError("empty word")
        self.emit([tup.values.word.upper()])


def test_bolt_harness_records_emits_anchors_and_acks():
    h = BoltHarness(Upper)
    tup = make_tuple(["hi"], fields=["word"])
    out = h.process(tup)
    assert [e.values for e in out] == [["HI"]]
    assert out[0].anchors == [tup.id] and out[0].stream == "default"
    assert h.acked == [tup.id] and h.failed == []


def test_bolt_harness_raises_by_default_and_fails_like_storm_when_asked():
    with pytest.raises(ValueError, match="empty word"):
        BoltHarness(Upper).process(make_tuple([""], fields=["word"]))
    h = BoltHarness(Upper, raise_errors=False)
    tup = make_tuple([""], fields=["word"])
    assert h.process(tup) == []
    assert h.failed == [tup.id] and "empty word" in h.errors[0]


def test_harness_never_touches_the_process_streams():
    stdin, stdout = sys.stdin, sys.stdout
    h = BoltHarness(Upper)
    del h
    import gc

    gc.collect()
    assert sys.stdin is stdin and sys.stdout is stdout
    print("stdout still usable")


def test_tick_tuple_is_recognised_by_pystorm():
    tick = make_tick_tuple()
    assert Bolt.is_tick(tick)


def test_spout_harness_drives_next_tuple_ack_and_fail():
    s = SpoutHarness(sc.ReplaySpout)
    first = s.next_tuple()
    assert [(e.values, e.tup_id) for e in first] == [([0], 0)]
    s.fail(0)
    emitted = []
    for _ in range(sc.N):
        emitted += s.next_tuple()
    assert emitted[-1].tup_id == 0  # the failed id comes back at the end of the queue
    assert isinstance(s.spout, Spout)


def test_driver_holds_a_tree_until_the_tick_releases_it():
    class HoldUntilTick(Bolt):
        outputs = ["n"]
        auto_ack = False

        def initialize(self, conf, ctx):
            self.held = []

        def process(self, tup):
            self.held.append(tup)

        def process_tick(self, tup):
            for t in self.held:
                self.emit([t.values[0]], anchors=[t])
                self.ack(t)
            self.held = []

    from streamparse import Grouping, Topology

    class Held(Topology):
        source = sc.NumberSpout.spec()
        left = sc.PassBolt.spec(inputs=[source])
        right = HoldUntilTick.spec(inputs=[source], config={"topology.tick.tuple.freq.secs": 2})
        join = sc.JoinBolt.spec(inputs={left: Grouping.fields("n"), right: Grouping.fields("n")})

    clock = ManualClock()
    driver = TopologyDriver(Held, clock=clock)
    ids = driver.pipe("source", [[1], [2], [3]])
    driver.run()
    assert driver.output("left") == [[1], [2], [3]]
    assert driver.acked("source") == [] and driver.in_flight == 3  # right branch still holds them
    driver.advance(1.9)
    assert driver.acked("source") == []
    driver.advance(0.1)
    assert sorted(driver.acked("source")) == ids
    assert sorted(v[0] for v in driver.output("join")) == [1, 2, 3]


def test_driver_timeouts_follow_the_manual_clock():
    driver = TopologyDriver(sc.Timeout)
    driver.pipe("source", [[0], [1], [3]])
    driver.run()
    assert driver.acked("source") == [2] and driver.failed("source") == []
    driver.advance(1.0)
    assert sorted(driver.failed("source")) == [1, 3]


def test_tuples_a_bolt_never_acks_are_forgotten_once_their_trees_timed_out():
    """No tracking kept for the whole run (Storm keeps none either): a late ack is ignored."""
    driver = TopologyDriver(sc.Timeout)  # message timeout 1 s; holder never acks n % 3 == 0
    driver.pipe("source", [[n] for n in range(30)])
    driver.run()
    holders = [ex for ex in driver._worker.bolts if ex.name == "holder"]
    assert sum(len(ex.inflight) for ex in holders) == 10  # 0, 3, ..., 27 held
    driver.advance(1.0)
    assert len(driver.failed("source")) == 10  # the trees timed out ...
    driver.advance(1.0)
    assert sum(len(ex.inflight) for ex in holders) == 0  # ... and their tracking is gone
    assert len(driver.acked("source")) == 20


def test_driver_hands_its_clock_to_processing_time_windows():
    from streamparse import Stream, Topology

    from squall.windowed_bolt import WindowedBolt
    from squall.windows import Duration, WindowSpec

    class PerTwoSeconds(WindowedBolt):
        window = WindowSpec.tumbling(Duration.seconds(2))  # processing time: the clock decides
        outputs = [Stream(fields=["end", "count"])]

        def process_window(self, window):
            self.emit([window.end, len(window.current)])

    class Windowed(Topology):
        source = sc.NumberSpout.spec()
        per_two = PerTwoSeconds.spec(inputs=[source])

    clock = ManualClock(start=100.0)
    driver = TopologyDriver(Windowed, clock=clock, clocked=["per_two"])
    driver.pipe("source", [[1], [2]])
    driver.run()
    clock.advance(1.0)
    driver.pipe("source", [[3]])
    driver.advance(2.0)  # ticks at 101 s, 102 s, 103 s
    # windows hold start < t <= end: 1 and 2 arrived at 100 s, 3 at 101 s
    assert driver.output("per_two") == [[100_000, 2], [102_000, 1]]
    assert sorted(driver.acked("source")) == [1, 2, 3]

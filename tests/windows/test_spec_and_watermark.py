"""Window specs validate with clear errors; the watermark generator; the memory bound."""

from __future__ import annotations

import pytest

from squall.errors import ConfigError
from squall.windows import (
    Count,
    Duration,
    WatermarkGenerator,
    WindowCapacityError,
    WindowConfigError,
    WindowInputError,
    WindowManager,
    WindowSpec,
)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Count(0), "Count must be > 0 tuples; got 0"),
        (lambda: Count(2.5), "Count must be a whole number of tuples"),
        (lambda: Count(True), "got True (bool)"),
        (lambda: Duration(-5), "Duration must be > 0 milliseconds; got -5"),
        (lambda: Duration.seconds("10"), "got '10' (str)"),
        (lambda: Duration.seconds(0.0001), "below the 1 ms resolution"),
        (lambda: Duration.seconds(float("nan")), "finite number of seconds"),
        (lambda: WindowSpec.sliding(10), "window length must be Count(n) or Duration(ms)"),
        (
            lambda: WindowSpec.sliding(Count(3), 2),
            "sliding interval must be Count(n) or Duration(ms)",
        ),
        (lambda: WindowSpec.sliding(Count(3), lag=Duration(5)), "lag=0.005 s needs event time"),
        (lambda: WindowSpec.tumbling(Count(5), timestamp_field=1.5), "timestamp_field must be"),
        (lambda: WindowSpec.tumbling(Count(5), timestamp_field=-1), "position must be >= 0"),
        (
            lambda: WindowSpec.tumbling(Count(5), watermark_interval_s=0),
            "watermark_interval_s must be > 0",
        ),
        (
            lambda: WindowSpec.tumbling(Count(500), max_events=100),
            "a window of 500 tuples can never fit max_events=100",
        ),
        (
            lambda: WindowSpec.tumbling(Count(5), timestamp_field="ts", late_stream=""),
            "late_stream must be",
        ),
    ],
)
def test_bad_settings_are_named(make, message: str) -> None:
    with pytest.raises(WindowConfigError, match=None) as info:
        make()
    assert message in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_storm_combinations() -> None:
    assert WindowSpec.sliding(Count(5)).slide == Count(1)  # withWindow(Count): every tuple
    assert WindowSpec.sliding(Duration(5)).slide == Count(1)  # withWindow(Duration): every tuple
    tumbling = WindowSpec.tumbling(Duration.seconds(5))
    assert tumbling.is_tumbling and tumbling.slide == Duration(5000)
    assert Duration.seconds(2.5) == Duration(2500)


@pytest.mark.parametrize(
    "spec,freq",
    [
        (WindowSpec.sliding(Count(5), Count(2)), None),  # tuples drive it
        (WindowSpec.sliding(Duration.seconds(10), Count(2)), None),
        (WindowSpec.sliding(Duration.seconds(10), Duration.seconds(2)), 1),
        (WindowSpec.sliding(Count(5), Duration.seconds(3)), 1),
        (WindowSpec.tumbling(Count(5), timestamp_field="ts", watermark_interval_s=2), 2),
    ],
)
def test_tick_frequency_follows_the_window(spec: WindowSpec, freq: int | None) -> None:
    assert spec.tick_freq_secs() == freq
    assert spec.storm_config() == ({} if freq is None else {"topology.tick.tuple.freq.secs": freq})


def test_checks_against_the_topology_config() -> None:
    spec = WindowSpec.sliding(Duration.seconds(25), Duration.seconds(10))
    with pytest.raises(
        WindowConfigError, match=r"35000 ms exceeds topology.message.timeout.secs=30"
    ):
        spec.check_against(
            {"topology.message.timeout.secs": 30, "topology.tick.tuple.freq.secs": 1}, "bolt x"
        )
    counts = WindowSpec.sliding(Count(800), Count(300))
    with pytest.raises(
        WindowConfigError, match=r"1100 tuples exceeds topology.max.spout.pending=1000"
    ):
        counts.check_against({"topology.max.spout.pending": 1000}, "bolt x")
    with pytest.raises(
        WindowConfigError, match=r"topology.tick.tuple.freq.secs is not set.*freq.secs': 1"
    ):
        spec.check_against({"topology.message.timeout.secs": 60}, "bolt x")
    spec.check_against(
        {"topology.message.timeout.secs": 60, "topology.tick.tuple.freq.secs": 1}, "x"
    )


# Two input streams: the watermark is the slower one's latest timestamp minus the lag.
#
#   stream a:  100        300              500
#   stream b:        150          200               450
#   tick:      -      -      -     150-10   -    200-10  450-10   (watermark = slower - lag)
def test_watermark_is_the_minimum_over_input_streams() -> None:
    gen = WatermarkGenerator(10, [("src", "a"), ("src", "b")])
    assert gen.track(("src", "a"), 100)
    assert gen.compute() is None, "stream b has not spoken: no watermark yet"
    assert gen.waiting_for() == {("src", "b")}
    assert gen.track(("src", "b"), 150)
    assert gen.track(("src", "a"), 300)
    assert gen.compute() == 140  # min(300, 150) - 10
    assert gen.track(("src", "b"), 200)
    assert gen.compute() == 190
    assert gen.compute() is None, "no progress, no new watermark"
    assert not gen.track(("src", "a"), 189), "behind the watermark: late"
    assert gen.track(("src", "a"), 190), "at the watermark: not late"
    assert gen.track(("src", "b"), 450) and gen.track(("src", "a"), 500)
    assert gen.compute() == 440


def test_watermark_without_declared_streams_uses_what_arrived() -> None:
    gen = WatermarkGenerator(0)
    gen.track("x", 50)
    assert gen.compute() == 50


def test_bad_timestamps_and_late_adds_are_refused() -> None:
    mgr: WindowManager[str] = WindowManager(Duration(10), Duration(10))
    with pytest.raises(WindowInputError, match=r"timestamp '12' \(str\) is not epoch milliseconds"):
        mgr.add("e", "12")  # type: ignore[arg-type]
    with pytest.raises(WindowInputError, match="timestamp -1 is negative"):
        mgr.add("e", -1)
    mgr.add("e1", 5)
    mgr.advance(50)
    with pytest.raises(WindowInputError, match="behind the watermark 50"):
        mgr.add("e2", 40)


# Memory bound: 4 events fit; the 5th would exceed max_events while all 4 are still in
# the 100 ms window, so it is refused with the numbers; once the window moves on, room again.
def test_memory_bound() -> None:
    mgr: WindowManager[str] = WindowManager(Duration(100), Duration(100), max_events=4)
    for i, ts in enumerate([10, 20, 30, 40]):
        mgr.add(f"e{i}", ts)
    with pytest.raises(WindowCapacityError, match=r"4 events buffered, max_events=4"):
        mgr.add("e4", 50)
    assert len(mgr) == 4
    windows = mgr.advance(150)
    assert [w.current for w in windows] == [("e0", "e1", "e2", "e3")]
    assert mgr.take_evicted() == ["e0", "e1", "e2", "e3"]
    mgr.add("e4", 150)
    assert len(mgr) == 1


def test_count_window_stays_bounded_without_triggers() -> None:
    # last 3 tuples every 10 s: between evaluations only the last 3 are kept
    mgr: WindowManager[int] = WindowManager(Count(3), Duration(10_000), max_events=4)
    for i in range(1000):
        mgr.add(i, i)
        mgr.advance(i)
    assert len(mgr) == 3
    assert len(mgr.take_evicted()) >= 997


def test_timestamp_unit_mistake_is_caught() -> None:
    mgr: WindowManager[str] = WindowManager(Count(3), Duration(10))
    mgr.add("e1", 1_700_000_000)  # seconds by mistake
    mgr.advance(1_700_000_000)
    mgr.add("e2", 1_700_000_000_000)
    with pytest.raises(WindowInputError, match="are the timestamps epoch milliseconds"):
        mgr.advance(1_700_000_000_000)

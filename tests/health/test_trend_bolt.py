"""TrendBolt on a timeline of alerts, through the test-kit harness and through its multilang
loop (Storm's JSON messages): the same trends, anchors and acks."""

from __future__ import annotations

import json
import re

import pytest

from bolts.trend import TrendBolt
from health_core.config import HealthConfigError
from health_core.report import ALERT_FIELDS
from squall.testing import BoltHarness, make_tuple
from squall.windows import WindowConfigError
from tests.windows.multilang import context_for, run_loop, tick_msg, tuple_msg

T = 1_700_000_000_000  # a multiple of 10 s: window bounds read as T + offset
A, B = "weight_kg > 80", "bmi > 35"
SOURCES = {"threshold": {"default": list(ALERT_FIELDS)}}

# Default window: 10 s sliding every 2 s, lag 1 s; ticks compute the watermark (latest - 1 s).
#
#  ts (s after T)  0.5 1.5 1.8 2.5 3.1 4.2 7.0 | 13.0 | 25.0 | 20.0
#  rule             A   A   B   B   B   A   A  |  B   |  A   |  A (late)
#  tick                                      ^ watermark 6.0
#                                                   ^ watermark 12.0
#                                                          ^ watermark 24.0
#
#  window (s)        B count/trend/prev   A count/trend/prev
#  (-8, 2]           1 rising 0           2 rising 0         <- loading up
#  (-6, 4]           3 rising 1           2 steady 2
#  (-4, 6]           3 steady 3           3 rising 2
#  (-2, 8]           3 steady 3           4 rising 3
#  (0, 10]           3 steady 3           4 steady 4
#  (2, 12]           2 falling 3          2 falling 4
#  (4, 14]           1 falling 2          2 steady 2
#  (6, 16]           1 steady 1           1 falling 2
#  (8, 18]           1 steady 1           0 falling 1        <- A stops: reported once
#  (10, 20]          1 steady 1           -
#  (12, 22]          1 steady 1           -
#  A at 20.0 arrives after watermark 24.0: late stream
TIMELINE: list[tuple[str, str, float] | str] = [
    ("a1", A, 0.5),
    ("a2", A, 1.5),
    ("b1", B, 1.8),
    ("b2", B, 2.5),
    ("b3", B, 3.1),
    ("a3", A, 4.2),
    ("a4", A, 7.0),
    "tick",
    ("b4", B, 13.0),
    "tick",
    ("a5", A, 25.0),
    "tick",
    ("late", A, 20.0),
]
EXPECTED = [
    (B, -8, 2, 1, "rising", 0),
    (A, -8, 2, 2, "rising", 0),
    (B, -6, 4, 3, "rising", 1),
    (A, -6, 4, 2, "steady", 2),
    (B, -4, 6, 3, "steady", 3),
    (A, -4, 6, 3, "rising", 2),
    (B, -2, 8, 3, "steady", 3),
    (A, -2, 8, 4, "rising", 3),
    (B, 0, 10, 3, "steady", 3),
    (A, 0, 10, 4, "steady", 4),
    (B, 2, 12, 2, "falling", 3),
    (A, 2, 12, 2, "falling", 4),
    (B, 4, 14, 1, "falling", 2),
    (A, 4, 14, 2, "steady", 2),
    (B, 6, 16, 1, "steady", 1),
    (A, 6, 16, 1, "falling", 2),
    (B, 8, 18, 1, "steady", 1),
    (A, 8, 18, 0, "falling", 1),
    (B, 10, 20, 1, "steady", 1),
    (B, 12, 22, 1, "steady", 1),
]


def alert(name: str, rule: str, at_s: float) -> list:
    ts = T + round(at_s * 1000)
    return [rule, name, ts, {"id": name, "weight_kg": 90.0, "bmi": 36.0}]


def readable(values: list) -> tuple:
    rule, start, end, count, trend, previous, precision, error_bound = values
    assert (precision, error_bound) == (1.0, 0)  # exact: no overload here
    return (rule, (start - T) // 1000, (end - T) // 1000, count, trend, previous)


def run_harness(conf: dict | None = None):
    h = BoltHarness(
        TrendBolt, conf={**TrendBolt.config, **(conf or {})}, component="trend", sources=SOURCES
    )
    for step in TIMELINE:
        if step == "tick":
            h.tick()
        else:
            h.process(
                make_tuple(alert(*step), fields=ALERT_FIELDS, component="threshold", id=step[0])
            )
    return h


def test_trends_on_the_timeline() -> None:
    h = run_harness()
    trends = [readable(e.values) for e in h.emitted if e.stream == "default"]
    assert trends == EXPECTED
    late = [e.values for e in h.emitted if e.stream == "late"]
    assert [(v[0], v[3][1], v[4] - T, v[5] - T) for v in late] == [
        ("threshold", "late", 20_000, 24_000)
    ]


def test_anchors_and_acks() -> None:
    h = run_harness()
    for e in h.emitted:
        if e.stream == "default":
            assert e.anchors, "a trend is anchored to its window's alerts"
    # (8, 18] holds b4 only: both its trends (B 1, A 0) are anchored to b4
    window_8_18 = [
        e for e in h.emitted if e.stream == "default" and readable(e.values)[1:3] == (8, 18)
    ]
    assert all(sorted(e.anchors) == ["b4"] for e in window_8_18)
    # at watermark 24 the next window is (14, 24]: every alert up to 14 s has left all windows
    # and is acked; a5 (25 s) is still held. The late alert is acked after its report.
    acked = [a for a in h.acked if isinstance(a, str)]
    assert sorted(acked) == ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "late"]
    assert h.failed == []


def test_multilang_gives_the_same_result(tmp_path) -> None:
    h = run_harness()
    messages = []
    for i, step in enumerate(TIMELINE):
        messages.append(
            tick_msg(f"t{i}") if step == "tick" else tuple_msg(step[0], alert(*step), "threshold")
        )
    conf = {"topology.name": "health", **TrendBolt.config}
    replies = run_loop(
        TrendBolt, conf, context_for(TrendBolt, "trend", SOURCES), messages, tmp_path
    )
    emits = [
        (m.get("stream", "default"), m["tuple"], m.get("anchors"))
        for m in replies
        if m.get("command") == "emit"
    ]
    acks = [m["id"] for m in replies if m.get("command") == "ack" and not m["id"].startswith("t")]
    plain = [(e.stream, json.loads(json.dumps(e.values)), e.anchors) for e in h.emitted]
    assert emits == plain
    assert acks == [a for a in h.acked if isinstance(a, str) and not a.startswith("t")]
    assert [readable(v) for s, v, _ in emits if s == "default"] == EXPECTED


def test_window_settings_come_from_the_storm_config() -> None:
    # 4 s tumbling windows: (0, 4] holds a1 a2 b1 b2 b3, (4, 8] a3 a4
    h = run_harness({"health.windows.window.secs": 4.0, "health.windows.slide.secs": 4.0})
    trends = [readable(e.values) for e in h.emitted if e.stream == "default"]
    assert trends[:4] == [
        (B, 0, 4, 3, "rising", 0),
        (A, 0, 4, 2, "rising", 0),
        (B, 4, 8, 0, "falling", 3),
        (A, 4, 8, 2, "steady", 2),
    ]
    assert h.bolt.spec.is_tumbling and h.bolt.spec.length.ms == 4000


def test_bad_window_settings_are_reported() -> None:
    slide_too_long = (
        "Storm config: health.windows.slide.secs (4.0) must not exceed health.windows.window.secs "
        "(2.0); a slide longer than the window skips data"
    )
    with pytest.raises(HealthConfigError, match=re.escape(slide_too_long)):
        run_harness({"health.windows.window.secs": 2.0, "health.windows.slide.secs": 4.0})
    too_short = "health.windows.window.secs of 0.0001 s is below the 1 ms resolution"
    with pytest.raises(WindowConfigError, match=re.escape(too_short)):
        run_harness({"health.windows.window.secs": 0.0001, "health.windows.slide.secs": 0.0001})
    with pytest.raises(WindowConfigError, match="exceeds topology.message.timeout.secs=10"):
        run_harness({"topology.message.timeout.secs": 10})


def test_a_replayed_reading_is_counted_once_per_window() -> None:
    """Kafka replays (a rebalance, a timeout) deliver a reading's alerts again; an alert whose
    reading names its source record counts once. Alerts without a source all count."""
    h = BoltHarness(TrendBolt, conf=dict(TrendBolt.config), component="trend", sources=SOURCES)

    def send(name: str, at_s: float, source: str | None) -> None:
        values = alert(name, A, at_s)
        if source is not None:
            values[3] = {**values[3], "source": source}
        h.process(make_tuple(values, fields=ALERT_FIELDS, component="threshold"))

    send("r1", 0.5, "readings:0:1")
    send("r2", 0.7, "readings:0:2")
    send("r1", 0.5, "readings:0:1")  # the replay of r1
    send("n1", 0.9, None)
    send("n1", 0.9, None)  # no source: nothing says these are one reading
    send("end", 5.0, "readings:0:3")
    h.tick()  # watermark 4.0: window (-8, 2] closes
    first = [readable(e.values) for e in h.emitted if e.stream == "default"][0]
    assert first == (A, -8, 2, 4, "rising", 0)  # r1, r2, n1, n1

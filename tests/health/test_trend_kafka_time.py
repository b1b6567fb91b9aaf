"""Course-form readings from Kafka take the record's timestamp as their event time, so a replay
delivered seconds later falls in the same pane as its first delivery and PaneTrendBolt counts
it once: the same records as TrendBolt (tuple-holding) behind the real parse -> BMI ->
threshold bolts. The control: with the arrival time instead (a record without a timestamp),
the replay lands in a later pane and the two bolts part ways."""

from __future__ import annotations

import json
from typing import Any

from streamparse import Grouping, Topology

from bolts.bmi import BMIBolt
from bolts.kafka_parse import KafkaParseBolt
from bolts.kafka_trend_feed import TrendFeedBolt
from bolts.threshold import ThresholdBolt
from bolts.trend import PaneTrendBolt, TrendBolt
from health_core.config import HealthConfig
from spouts.kafka_health import KafkaHealthSpout
from squall.testing import BoltHarness, ManualClock, TopologyDriver, make_tuple

T = 1_700_000_000_000  # a multiple of 10 s
A, B = "weight_kg > 80", "bmi > 35"
NOW = [T]  # the parse bolt's arrival clock (epoch ms), moved by the test


class ClockedParse(KafkaParseBolt):
    clock = staticmethod(lambda: NOW[0])


class KafkaTrends(Topology):
    config = HealthConfig().to_storm_conf()
    kafka = KafkaHealthSpout.spec()  # TopologyDriver scripts its tuples
    parse = ClockedParse.spec(inputs=[kafka])
    bmi = BMIBolt.spec(inputs=[parse])
    threshold = ThresholdBolt.spec(inputs=[bmi])
    feed = TrendFeedBolt.spec(inputs=[threshold])
    panes = PaneTrendBolt.spec(inputs={feed: Grouping.fields("rule")})
    held = TrendBolt.spec(inputs={threshold: Grouping.fields("rule")})  # the oracle


def record(offset: int, at_s: float, height_cm: int, weight_kg: int, stamped: bool) -> list[Any]:
    """KafkaHealthSpout's tuple for a course-form record of partition 0 stamped at ``at_s``."""
    payload = json.dumps([offset, {"idade": 30, "altura": height_cm, "peso": weight_kg}])
    source = f"health.readings:0:{offset}"
    return [payload, source, T + int(at_s * 1000) if stamped else None]


#  offset  stamped (s)  height weight  alerts   delivered at (s)
#  0       0.5          150    90      A B      0.5
#  1       1.2          180    90      A        1.2, and again at 8.2 (replayed)
#  2       2.5          180    70      -        2.5
#  3       3.1          150    85      A B      3.1, and again at 8.3 (replayed)
#  4       30.0         180    90      A        30.0: moves event time past every window above
def run(stamped: bool) -> tuple[list[list[Any]], list[list[Any]]]:
    driver = TopologyDriver(KafkaTrends, clock=ManualClock())
    try:
        for offset, at_s, height, weight, arrives_s in [
            (0, 0.5, 150, 90, 0.5),
            (1, 1.2, 180, 90, 1.2),
            (2, 2.5, 180, 70, 2.5),
            (3, 3.1, 150, 85, 3.1),
            (1, 1.2, 180, 90, 8.2),
            (3, 3.1, 150, 85, 8.3),
            (4, 30.0, 180, 90, 30.0),
        ]:
            NOW[0] = T + int(arrives_s * 1000)
            driver.pipe("kafka", [record(offset, at_s, height, weight, stamped)])
            driver.run()
        driver.advance(1.0)
        return driver.output("panes"), driver.output("held")
    finally:
        driver.close()


def counts(records: list[list[Any]]) -> dict[tuple[str, int, int], int]:
    return {(r, (s - T) // 1000, (e - T) // 1000): n for r, s, e, n, *_ in records}


def test_a_replayed_course_form_reading_counts_once_with_the_kafka_timestamp() -> None:
    panes, held = run(stamped=True)
    assert panes == held
    got = counts(panes)
    # every window holding a record counts it once, replays or not (0 and 3 alert A and B)
    assert got[A, -8, 2] == 2 and got[B, -8, 2] == 1
    assert got[A, -6, 4] == 3 and got[B, -6, 4] == 2
    assert got[A, 2, 12] == 1 and got[B, 2, 12] == 1  # record 3 only
    assert (A, 4, 14) not in got  # nothing of the first four in (4, 14]: replays moved no time


def test_with_the_arrival_time_a_replay_lands_in_another_pane() -> None:
    panes, held = run(stamped=False)
    # the replays of 1 and 3 arrive at 8.2 s and 8.3 s: that is their event time now, so the
    # window (0, 10] holds records 0, 1 and 3 and both replays: TrendBolt counts each record
    # once per window, the pane counter once per pane it falls in
    assert counts(held)[A, 0, 10] == 3
    assert counts(panes)[A, 0, 10] == 5
    assert panes != held


def test_the_parse_bolt_takes_the_timestamp_only_for_the_course_form() -> None:
    bolt = BoltHarness(ClockedParse, HealthConfig().to_storm_conf(), component="parse")
    NOW[0] = T + 60_000
    fields = ["payload", "source", "timestamp_ms"]
    course = record(7, 2.0, 170, 70, stamped=True)
    stamped_self = json.dumps(
        {"id": 8, "age": 30, "height_cm": 170, "weight_kg": 70, "ts": T + 5_000}
    )
    out = bolt.process(make_tuple(course, fields=fields))
    out += bolt.process(make_tuple([stamped_self, "health.readings:0:8", T + 2_000], fields=fields))
    assert [(e.values[1], e.values[2]["ts"]) for e in out] == [
        (T + 2_000, T + 2_000),
        (T + 5_000,) * 2,
    ]
    # a timestamp that is not epoch ms: the reading is invalid, and the reason names it
    for bad in (-1, 1_700_000_000, "soon"):
        [dead] = bolt.process(make_tuple([course[0], course[1], bad], fields=fields))
        assert dead.stream == "invalid"
        assert dead.values[1].startswith(
            "the Kafka record's timestamp (the event time of a course-form reading) must be "
            "an integer of epoch milliseconds in [946684800000, 4102444800000]; got "
        )
        assert repr(bad) in dead.values[1] or str(bad) in dead.values[1]
        assert dead.values[3] == course[1]

"""TrendBolt behind the real parse -> BMI -> threshold bolts (TopologyDriver, manual clock):
the alert tuple contract holds end to end and every reading's tree completes."""

from __future__ import annotations

import json

from streamparse import Grouping, Topology

from bolts.bmi import BMIBolt
from bolts.parse import ParseBolt
from bolts.threshold import ThresholdBolt
from bolts.trend import TrendBolt
from health_core.config import HealthConfig
from spouts.synthetic import SyntheticHealthSpout
from squall.testing import ManualClock, TopologyDriver

T = 1_700_000_000_000
A, B = "weight_kg > 80", "bmi > 35"


class TrendPipeline(Topology):
    config = HealthConfig().to_storm_conf()
    synthetic = SyntheticHealthSpout.spec()
    parse = ParseBolt.spec(inputs=[synthetic])
    bmi = BMIBolt.spec(inputs=[parse])
    threshold = ThresholdBolt.spec(inputs=[bmi])
    trend = TrendBolt.spec(inputs={threshold: Grouping.fields("rule")})


def reading(i: int, at_s: float, height_cm: int, weight_kg: int) -> list[str]:
    return [
        json.dumps(
            {
                "id": i,
                "age": 30,
                "height_cm": height_cm,
                "weight_kg": weight_kg,
                "ts": T + int(at_s * 1000),
            }
        )
    ]


#  reading  at (s)  height weight  alerts
#  1        0.5     180    90      A
#  2        1.0     150    90      A B (bmi 40)
#  3        3.0     180    70      -
#  4        4.5     150    85      A B (bmi 37.8)
#  5        13.0    180    90      A        -> watermark 12.0: windows ending 2, 4, 6, 8, 10
def test_trends_behind_the_real_bolts() -> None:
    driver = TopologyDriver(TrendPipeline, clock=ManualClock())
    try:
        ids = driver.pipe(
            "synthetic",
            [
                reading(1, 0.5, 180, 90),
                reading(2, 1.0, 150, 90),
                reading(3, 3.0, 180, 70),
                reading(4, 4.5, 150, 85),
                reading(5, 13.0, 180, 90),
            ],
        )
        driver.run()
        assert driver.output("trend") == []  # no watermark before the first tick
        driver.advance(1.0)
        got = [
            (r, (s - T) // 1000, (e - T) // 1000, n, trend, p)
            for r, s, e, n, trend, p, _precision, _bound in driver.output("trend")
        ]
        assert {tuple(t[6:]) for t in driver.output("trend")} == {(1.0, 0)}  # exact counts
        assert got == [
            (B, -8, 2, 1, "rising", 0),
            (A, -8, 2, 2, "rising", 0),
            (B, -6, 4, 1, "steady", 1),
            (A, -6, 4, 2, "steady", 2),
            (B, -4, 6, 2, "rising", 1),
            (A, -4, 6, 3, "rising", 2),
            (B, -2, 8, 2, "steady", 2),
            (A, -2, 8, 3, "steady", 3),
            (B, 0, 10, 2, "steady", 2),
            (A, 0, 10, 3, "steady", 3),
        ]
        # reading 3 fired nothing: done at once; 1 and 2 left every window (next is (2, 12]);
        # 4 and 5 are still in windows to come
        assert sorted(driver.acked("synthetic")) == [ids[0], ids[1], ids[2]]
        assert driver.failed("synthetic") == []
        # an alert at 30 s moves event time (watermark 29 s) past readings 4 and 5
        [last] = driver.pipe("synthetic", [reading(6, 30.0, 180, 90)])
        driver.run()
        driver.advance(1.0)
        assert sorted(driver.acked("synthetic")) == ids
        assert last not in driver.acked("synthetic")  # in the windows still to come
    finally:
        driver.close()

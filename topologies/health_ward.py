"""HealthWardTopology: a ward's critical and routine readings, each class with its deadline.
Wiring only.

Two synthetic spouts, each named after the class it sends (config.yaml ``ward``): ``critical``
(intensive care, its own producers and patients, ``ward.critical_share`` of the load; hard,
D = 50 ms) and ``routine`` (firm, D = 1 s, at most 3 of any 4 consecutive readings of a patient
discarded in overload, at the spout, before parsing). Both feed the chain of
topologies/health.py; every reading, and so every alert, carries its class.

    critical ─┐
              ├─> parse ──> bmi ──> threshold ──> console, jsonl
    routine  ─┘     │        │          └─> trend_feed ··> trend ──> console, jsonl
                    │        │                               └─late─> console, jsonl
                    └────────┴─invalid──────────────────────────────> console, jsonl

``··>`` is unanchored (bolts/kafka_trend_feed.py): a reading's tree is its path to its alerts,
so a tree completes when its alerts are written and its deadline is met or missed there, not
when a trend window closes seconds later. Trend windows are at-most-once here.

The deadlines are this topology's ``squall.realtime.<class>.default.*`` keys, from config.yaml's
``ward`` section (``HealthConfig.to_storm_conf(ward=True)``); override one for a run as that key,
e.g. ``squall run topologies/health_ward.py -o squall.realtime.routine.default.mk=2,4``.
"""

from pathlib import Path

from streamparse import Grouping

from bolts.bmi import BMIBolt
from bolts.kafka_trend_feed import TrendFeedBolt
from bolts.parse import ParseBolt
from bolts.sinks import ConsoleSinkBolt, JsonlSinkBolt
from bolts.threshold import ThresholdBolt
from bolts.trend import PaneTrendBolt
from health_core.config import load_config, storm_key
from health_core.panels import health_panels
from spouts.synthetic import WardSyntheticSpout
from squall.storm import topology

# $SQUALL_HEALTH_CONFIG if set, else this project's config.yaml
CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.yaml")
PAR = CONFIG.parallelism
CLASS_KEY = storm_key("producers", "reading_class")


class HealthWardTopology(topology.Topology):
    config = CONFIG.to_storm_conf(ward=True)

    # One task each: all of a patient's readings are judged in one place, (m,k) by patient.
    critical = WardSyntheticSpout.spec(par=1, config={CLASS_KEY: "critical"})
    routine = WardSyntheticSpout.spec(par=1, config={CLASS_KEY: "routine"})
    parse = ParseBolt.spec(inputs=[critical, routine], par=PAR.parse)
    bmi = BMIBolt.spec(inputs=[parse], par=PAR.bmi)
    threshold = ThresholdBolt.spec(inputs=[bmi], par=PAR.threshold)
    trend_feed = TrendFeedBolt.spec(inputs=[threshold], par=1)
    # Grouped by rule: each rule's windows are counted by one task.
    trend = PaneTrendBolt.spec(inputs={trend_feed: Grouping.fields("rule")}, par=PAR.trend)
    # squall run --ui: alerts per rule per window, latest alerts, latest invalid inputs
    ui_panels = health_panels(trend, threshold, (parse["invalid"], bmi["invalid"]))

    # Everything a user should see: alerts, trend windows, late alerts and invalid payloads.
    _results = {
        threshold: Grouping.SHUFFLE,
        trend: Grouping.SHUFFLE,
        trend["late"]: Grouping.SHUFFLE,
        parse["invalid"]: Grouping.SHUFFLE,
        bmi["invalid"]: Grouping.SHUFFLE,
    }
    console = ConsoleSinkBolt.spec(inputs=dict(_results), par=1)  # keeps lines whole, in order
    # Writes nothing while sinks.jsonl_path is null (`-o health.sinks.jsonl.path=...`).
    jsonl = JsonlSinkBolt.spec(inputs=dict(_results), par=1)  # one writer per file

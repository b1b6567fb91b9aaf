"""HealthWardKafkaTopology: the ward (topologies/health_ward.py) on Kafka. Wiring only.

Two WardKafkaSpout tasks, each named after the class of readings it reads (the runtime takes
the deadlines of ``squall.realtime.<class>.default.*`` from config.yaml's ``ward`` section, and
ParseBolt tags each reading with the name of its spout): ``critical`` reads
``kafka.critical_readings_topic`` (intensive care: its own topic and producers, a minority of
the load; hard, D = 50 ms) and ``routine`` reads ``kafka.readings_topic`` (firm, D = 1 s, at
most 3 of any 4 consecutive readings of a patient discarded in overload). A tree's release is
its record's timestamp; a routine record is discarded at the spout by its key, the patient
(``squall produce`` keys every record by patient id), before any parsing, and committed as done.
The rest is topologies/health_kafka.py's chain and sinks; every alert carries its class.

    critical ─┐
              ├─> parse ──> bmi ──> threshold ──> alerts  (health.alerts)
    routine  ─┘     │        │          ├───────> console
                    │        │          └─> trend_feed ··> trend ──> trends (health.trends), console
                    │        │                               └─late─> console
                    └────────┴──invalid─────────> dead_letter (health.invalid), console

``··>`` is unanchored (bolts/kafka_trend_feed.py): a reading's tree ends when its alerts are
written, so its deadline is met or missed there; trend windows are at-most-once.

Consumer groups: one per class. ``routine`` is the consumer of ``kafka.readings_topic`` that
topologies/health_kafka.py is, with its group ``kafka.group_id`` (switching between the two
topologies continues where the other stopped); ``critical`` has a group of its own,
``<kafka.group_id>.critical``. One group for both would be correct (offsets are kept per topic
and partition, and each member is assigned only partitions of the topic it subscribes to) but
couples the classes: a consumer group rebalances as a whole, so any join or leave of the
routine member (a restart, a stuck join replaced) would revoke the critical member's partitions
and drop its in-flight readings, which a 50 ms deadline cannot wait out. Separate groups also
give each class its own lag.

The critical spout's topic and group are its own component config, which Storm merges over the
topology's config and the command line's ``-o``: they are read from config.yaml (or
``$SQUALL_HEALTH_CONFIG``) when this file is loaded, and ``-o health.kafka.readings.topic`` or
``-o health.kafka.group.id`` change the routine spout only. Deadlines and the scheduler are
overridden as in the ward, e.g. ``-o squall.realtime.routine.default.policies=rate``.
"""

from pathlib import Path

from streamparse import Grouping

from bolts.bmi import BMIBolt
from bolts.kafka_parse import KafkaParseBolt
from bolts.kafka_sink import AlertsKafkaSink, DeadLetterKafkaSink, TrendsKafkaSink
from bolts.kafka_trend_feed import TrendFeedBolt
from bolts.sinks import ConsoleSinkBolt
from bolts.threshold import ThresholdBolt
from bolts.trend import PaneTrendBolt
from health_core.config import load_config, storm_key
from health_core.panels import health_panels
from spouts.kafka_health import WardKafkaSpout
from squall.storm import topology

# $SQUALL_HEALTH_CONFIG if set, else this project's config.yaml
CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.yaml")
PAR = CONFIG.parallelism
# Sinks ack on the broker's acknowledgement; a tick each second settles the last writes.
SINK_CONF = {"topology.tick.tuple.freq.secs": 1}
# WardKafkaSpout reads kafka.readings_topic and kafka.group_id: the critical spout's own.
CRITICAL_CONF = {
    storm_key("kafka", "readings_topic"): CONFIG.kafka.critical_readings_topic,
    storm_key("kafka", "group_id"): f"{CONFIG.kafka.group_id}.critical",
}


class HealthWardKafkaTopology(topology.Topology):
    config = CONFIG.to_storm_conf(ward=True)

    # One task each: a record's key is its patient, so a patient's readings are on one
    # partition and judged in one place, (m,k) by patient.
    critical = WardKafkaSpout.spec(par=1, config=CRITICAL_CONF)
    routine = WardKafkaSpout.spec(par=1)
    parse = KafkaParseBolt.spec(inputs=[critical, routine], par=PAR.parse)
    bmi = BMIBolt.spec(inputs=[parse], par=PAR.bmi)
    threshold = ThresholdBolt.spec(inputs=[bmi], par=PAR.threshold)
    alerts = AlertsKafkaSink.spec(inputs=[threshold], par=PAR.sinks, config=SINK_CONF)
    trend_feed = TrendFeedBolt.spec(inputs=[threshold], par=1)
    # Grouped by rule: each rule's windows are counted by one task.
    trend = PaneTrendBolt.spec(inputs={trend_feed: Grouping.fields("rule")}, par=PAR.trend)
    # squall run --ui: alerts per rule per window, latest alerts, latest invalid inputs
    ui_panels = health_panels(trend, threshold, (parse["invalid"], bmi["invalid"]))
    trends = TrendsKafkaSink.spec(inputs=[trend], par=1, config=SINK_CONF)
    dead_letter = DeadLetterKafkaSink.spec(
        inputs={parse["invalid"]: Grouping.SHUFFLE, bmi["invalid"]: Grouping.SHUFFLE},
        par=1,
        config=SINK_CONF,
    )
    console = ConsoleSinkBolt.spec(
        inputs={
            threshold: Grouping.SHUFFLE,
            trend: Grouping.SHUFFLE,
            trend["late"]: Grouping.SHUFFLE,
            parse["invalid"]: Grouping.SHUFFLE,
            bmi["invalid"]: Grouping.SHUFFLE,
        },
        par=1,  # one printer keeps lines whole and in arrival order
    )

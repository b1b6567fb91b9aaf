"""HealthKafkaTopology: HealthTopology's bolts fed by Kafka and writing to Kafka. Wiring only.

Same parse -> BMI -> threshold chain as topologies/health.py, with KafkaHealthSpout as the
source (at-least-once, see src/squall/kafka/spout.py) and Kafka sinks that ack only once the
broker has the record. Topics and the broker come from config.yaml's ``kafka`` section
(override with ``-o health.kafka.bootstrap.servers=127.0.0.1:PORT``).

    kafka ──> parse ──> bmi ──> threshold ──> alerts  (health.alerts)
                │        │          ├───────> console
                │        │          └─> trend_feed ··> trend ──> trends (health.trends), console
                │        │                                └─late─> console
                └────────┴──invalid─────────> dead_letter (health.invalid), console

``··>`` is unanchored (bolts/kafka_trend_feed.py says why): alerts and dead letters are
at-least-once; trend windows at-most-once, or, with ``kafka.trends_changelog_topic`` set,
checkpointed and caught up after a crash (threshold's ``trend_only`` stream carries the
catch-up alerts to the trend feed only; docs/windows.md, "Trend windows across a crash").
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
from health_core.config import load_config
from health_core.panels import health_panels
from spouts.kafka_health import KafkaHealthSpout
from squall.storm import topology

# $SQUALL_HEALTH_CONFIG if set, else this project's config.yaml
CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.yaml")
PAR = CONFIG.parallelism
# Sinks ack on the broker's acknowledgement; a tick each second settles the last writes.
SINK_CONF = {"topology.tick.tuple.freq.secs": 1}


class HealthKafkaTopology(topology.Topology):
    # The embedded runner queues this topology's tuples instead of chaining them: drained
    # from a backlog it ran 1.27x and 1.42x as fast queued (kafka-python; confluent-kafka
    # 1.25x and 1.49x), each call of the path 20-50% slower inside a chain (bench/README.md,
    # "Chaining on the Kafka topology"). Storm still fuses parse, bmi and threshold, and only
    # them ("chains"): its Kafka sinks and checkpointing trend are what the cluster fault tests
    # (host loss, a refused login) watch as components of their own; the worker-kill test
    # also runs this topology with "groups", all bolts in one process (docs/storm.md).
    config = {
        **CONFIG.to_storm_conf(),
        "squall.runner.chaining": False,
        "squall.storm.fusion": "chains",
    }

    kafka = KafkaHealthSpout.spec(par=1)
    parse = KafkaParseBolt.spec(inputs=[kafka], par=PAR.parse)
    bmi = BMIBolt.spec(inputs=[parse], par=PAR.bmi)
    threshold = ThresholdBolt.spec(inputs=[bmi], par=PAR.threshold)
    alerts = AlertsKafkaSink.spec(inputs=[threshold], par=PAR.sinks, config=SINK_CONF)
    # trend_only: catch-up alerts after a restart, for the restored windows only (docs/windows.md)
    trend_feed = TrendFeedBolt.spec(inputs=[threshold, threshold["trend_only"]], par=1)
    # Grouped by rule: each rule's windows are counted by one task.
    trend = PaneTrendBolt.spec(inputs={trend_feed: Grouping.fields("rule")}, par=PAR.trend)
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

    # What `squall run --ui` shows besides the graph, counters and consumer lag (docs/ui.md).
    ui_panels = health_panels(trend, threshold, (parse["invalid"], bmi["invalid"]))

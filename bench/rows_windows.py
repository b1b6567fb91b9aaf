"""Group ``windows`` (issue 13, item 4): the trend path as the Kafka topology feeds it, at a 10 s
and a 600 s window — throughput and peak RSS, each row one run like the scaling rows.

HealthKafkaTopology's bolts from the parse on, wired as there (topologies/health_kafka.py):
KafkaParseBolt -> BMIBolt -> ThresholdBolt -> TrendFeedBolt (unanchored) -> PaneTrendBolt, with
a deterministic spout in KafkaHealthSpout's place emitting its tuples: course-form payloads
(no time of their own), ``"health.readings:<partition>:<offset>"`` over ``PARTITIONS``
partitions, and a record timestamp ``T0_MS + i * STEP_MS``, which KafkaParseBolt makes the
reading's event time. So every alert goes through the replay de-duplication (per pane, per
partition, a bitmap of the offsets counted). No broker: the Kafka client costs the same at any
window length and would hide what the window costs (the kafka group measures the client).

Readings, malformed ones and thus alerts are the hand loop's (``bench.health_workload``): the
same table, patient ids, event times and 1 in ``MALFORMED_EVERY`` broken, in the course form.
Rate as in the runner rows, readings / time to the last alert (the tally's stamp), best of
``repeat`` runs in the row's process, like the limit row: the machine is shared, and the
target is a ratio of two rows (single runs of either swung 0.73-1.15x apart on 2 shared cores).
Peak RSS: the row process's, over its runs (the same for both rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from streamparse import Grouping, Spout, Stream, Topology

from bench.health_workload import (
    MALFORMED_EVERY,
    STEP_MS,
    T0_MS,
    TABLE_SIZE,
    Outcome,
    Tally,
    Workload,
    _table,
    reset_tally,
    tally_outcome,
)
from bolts.bmi import BMIBolt
from bolts.kafka_parse import KafkaParseBolt
from bolts.kafka_trend_feed import TrendFeedBolt
from bolts.threshold import ThresholdBolt
from bolts.trend import PaneTrendBolt
from squall import run_topology

PARTITIONS = 4  # the readings topic's partitions in config.yaml's `squall kafka start` example
TOPIC = "health.readings"


def course_payload(i: int, keys: int) -> str:
    """Reading ``i`` of the hand loop's input, as the course's producers write it (no ts)."""
    age, height, weight = _table()[i % TABLE_SIZE]
    patient = (i * 2_654_435_761) % keys  # as bench.health_workload.payload
    text = f'[{patient}, {{"idade": {age}, "altura": {height}, "peso": {weight}}}]'
    if i % MALFORMED_EVERY == MALFORMED_EVERY - 1:
        return text[:-3]  # truncated: not JSON
    return text


class KafkaLikeSpout(Spout):
    """KafkaHealthSpout's tuples, ``["payload", "source", "timestamp_ms"]``, for i < records;
    reliable (the Kafka spout is), each record round-robin over the partitions."""

    outputs = [Stream(fields=["payload", "source", "timestamp_ms"], name="default")]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.i = 0
        self.limit = int(conf["bench.records"])
        self.keys = int(conf["bench.keys"])

    def next_tuple(self) -> None:
        i = self.i
        if i < self.limit:
            self.i = i + 1
            partition, offset = i % PARTITIONS, i // PARTITIONS
            source = f"{TOPIC}:{partition}:{offset}"
            self.emit([course_payload(i, self.keys), source, T0_MS + i * STEP_MS], tup_id=i)

    def ack(self, tup_id: Any) -> None:
        pass

    def fail(self, tup_id: Any) -> None:
        pass  # a benchmark does not replay; a failure shows as a missing alert in the table


class KafkaTrendPath(Topology):
    kafka = KafkaLikeSpout.spec(par=1)
    parse = KafkaParseBolt.spec(inputs=[kafka], par=1)
    bmi = BMIBolt.spec(inputs=[parse], par=1)
    threshold = ThresholdBolt.spec(inputs=[bmi], par=1)
    trend_feed = TrendFeedBolt.spec(inputs=[threshold], par=1)
    trend = PaneTrendBolt.spec(inputs={trend_feed: Grouping.fields("rule")}, par=1)
    tally = Tally.spec(
        inputs={
            threshold: Grouping.SHUFFLE,
            parse["invalid"]: Grouping.SHUFFLE,
            bmi["invalid"]: Grouping.SHUFFLE,
            trend: Grouping.SHUFFLE,
        },
        par=1,
    )


def pane_window_row(
    records: int,
    window_s: float,
    repeat: int = 3,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """KafkaTrendPath on the embedded runner, 1 process, acking on, a ``window_s`` window;
    best of ``repeat`` runs."""
    work = Workload(records, window_s=window_s)
    conf = work.storm_conf()
    conf["squall.drain.secs"] = 1.0

    def show(_elapsed: float, snap: Any) -> None:
        if progress is not None:
            progress(snap.spout_emitted)

    rates = []
    for _ in range(repeat):
        reset_tally()
        start = time.monotonic()
        result = run_topology(
            KafkaTrendPath, conf, until_idle=True, progress=show, progress_every_s=2.0
        )
        out, last = tally_outcome()
        if result.errors:
            first = result.errors[0]
            raise RuntimeError(f"run reported {len(result.errors)} errors, first: {first}")
        rates.append(records / (last - start))
    return {
        "records_per_s": max(rates),
        "outputs": _outputs(out),
        "note": f"best of {', '.join(f'{r:,.0f}' for r in rates)}; course form, event time = "
        f"record timestamp, {PARTITIONS} partitions",
    }


def _outputs(out: Outcome) -> str:
    return (
        f"{out.alerts} alerts, {out.invalid} invalid, {out.trends} trends (sum {out.trend_total})"
    )

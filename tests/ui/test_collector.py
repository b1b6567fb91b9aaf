"""/metrics: Prometheus text from LiveState's copy, named by Prometheus' conventions."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from squall.engine.model import build_model
from squall.ui.collector import METRIC_NAMES, exposition
from squall.ui.probe import Probed
from squall.ui.state import LiveState
from tests.ui.samples import sample, stream_metrics, task
from topologies.health import HealthTopology

MODEL = build_model(HealthTopology, "health")


def scrape(state):
    """{family: {(sample name, labels as a sorted tuple): value}}."""
    families = {}
    for fam in text_string_to_metric_families(exposition(state).decode()):
        families[fam.name] = {
            (s.name, tuple(sorted(s.labels.items()))): s.value for s in fam.samples
        }
    return families


def test_task_counters_are_total_counters_labelled_by_component_and_task():
    s = LiveState.of_model(MODEL, workers=2)
    s.publish(sample(0.0, task("bmi", 1, executed=10, emitted=9, acked=10, errors=1)))
    s.publish(sample(0.0, task("synthetic", 6, 1, spout=True, emitted=12, failed=2), worker=1))
    got = scrape(s)
    bmi = (("component", "bmi"), ("task", "1"))
    spout = (("component", "synthetic"), ("task", "6"))
    assert got["squall_tuples_executed"][("squall_tuples_executed_total", bmi)] == 10
    assert got["squall_tuples_emitted"][("squall_tuples_emitted_total", spout)] == 12
    assert got["squall_tuples_failed"][("squall_tuples_failed_total", spout)] == 2
    assert got["squall_component_errors"][("squall_component_errors_total", bmi)] == 1
    assert got["squall_workers"][("squall_workers", ())] == 2


def test_execute_latency_is_a_summary_in_seconds_with_its_max_and_bolts_only():
    s = LiveState.of_model(MODEL)
    s.publish(
        sample(
            0.0,
            task("bmi", 1, executed=4, exec_seconds=0.02, exec_max_seconds=0.009, queued=3),
            task("synthetic", 6, spout=True, emitted=4),
        )
    )
    got = scrape(s)
    bmi = (("component", "bmi"), ("task", "1"))
    latency = got["squall_execute_latency_seconds"]
    assert latency == {
        ("squall_execute_latency_seconds_count", bmi): 4,
        ("squall_execute_latency_seconds_sum", bmi): 0.02,
    }
    assert got["squall_execute_latency_seconds_max"] == {
        ("squall_execute_latency_seconds_max", bmi): 0.009
    }
    assert got["squall_queued_tuples"] == {("squall_queued_tuples", bmi): 3}


def test_capacity_is_per_component_at_its_busiest_task():
    s = LiveState.of_model(MODEL)
    s.publish(sample(0.0, task("parse", 4), task("parse", 5)))
    s.publish(sample(2.0, task("parse", 4, exec_seconds=0.5), task("parse", 5, exec_seconds=1.2)))
    assert scrape(s)["squall_capacity"] == {("squall_capacity", (("component", "parse"),)): 0.6}


def test_deadline_families_are_the_realtime_metrics_own_names_merged_over_workers():
    s = LiveState.of_model(MODEL, workers=2)
    s.publish(sample(0.0, realtime=stream_metrics("synthetic.default", [0.001] * 3, 0.5)))
    s.publish(sample(0.0, realtime=stream_metrics("synthetic.default", [2.0], 0.5), worker=1))
    got = scrape(s)
    stream = (("stream", "synthetic.default"),)
    assert got["squall_deadline_miss"] == {("squall_deadline_miss_total", stream): 1}
    e2e = got["squall_e2e_latency_seconds"]
    assert e2e[("squall_e2e_latency_seconds_count", stream)] == 4
    assert e2e[("squall_e2e_latency_seconds_bucket", (("le", "0.001"), *stream))] == 3
    assert e2e[("squall_e2e_latency_seconds_bucket", (("le", "+Inf"), *stream))] == 4
    shed = got["squall_shed"]
    assert shed[("squall_shed_total", (("policy", "discard"), *stream))] == 0
    assert got["squall_precision"] == {("squall_precision", stream): 1.0}


def test_no_deadline_family_without_deadlines_and_every_documented_family_always():
    s = LiveState.of_model(MODEL)
    got = scrape(s)
    assert "squall_e2e_latency_seconds" not in got
    names = {n.removesuffix("_total") for n in METRIC_NAMES}
    assert names <= set(got)


def test_kafka_lag_is_a_gauge_per_partition():
    s = LiveState.of_model(MODEL)
    s.publish(
        sample(
            0.0,
            task("synthetic", 6, spout=True),
            probed=Probed({}, {}, {("synthetic", 6, "readings", 2): 40}),
        )
    )
    labels = (("component", "synthetic"), ("partition", "2"), ("task", "6"), ("topic", "readings"))
    assert scrape(s)["squall_kafka_consumer_lag"] == {("squall_kafka_consumer_lag", labels): 40}

"""``/metrics``: the run's counters in the Prometheus text format, read at scrape time.

A custom collector over ``LiveState.metrics()`` (the copy of the last tick of every worker):
the hot path never calls prometheus_client. Names follow Prometheus' conventions (base units,
``_total`` counters); the real-time families are exactly ``Metrics.prometheus()``'s, parsed
back, so the live view and any other exposition of them cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from squall.ui.state import LiveState

TASK_LABELS = ["component", "task"]
# (name without _total, help, TaskSample attribute)
TASK_COUNTERS = (
    ("squall_tuples_emitted", "Tuples emitted by the task (every stream).", "emitted"),
    ("squall_tuples_executed", "Tuples the task executed (bolts; ticks included).", "executed"),
    ("squall_tuples_acked", "Tuples acked: by a bolt, or trees completed for a spout.", "acked"),
    ("squall_tuples_failed", "Tuples failed: by a bolt, or trees failed for a spout.", "failed"),
    ("squall_component_errors", "Exceptions the task's component raised.", "errors"),
)
METRIC_NAMES = (
    *(f"{name}_total" for name, _, _ in TASK_COUNTERS),
    "squall_execute_latency_seconds",
    "squall_execute_latency_seconds_max",
    "squall_queued_tuples",
    "squall_capacity",
    "squall_in_flight_trees",
    "squall_run_elapsed_seconds",
    "squall_run_finished",
    "squall_workers",
    "squall_kafka_consumer_lag",
)


class RunCollector(Collector):
    """Every family of one run, from one consistent copy of its state per scrape."""

    def __init__(self, state: LiveState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        m = self.state.metrics()
        for name, help_text, attr in TASK_COUNTERS:
            counter = CounterMetricFamily(name, help_text, labels=TASK_LABELS)
            for t in m.tasks:
                counter.add_metric([t.component, str(t.task)], getattr(t, attr))
            yield counter
        latency = SummaryMetricFamily(
            "squall_execute_latency_seconds",
            "Time the task spent executing tuples (count: tuples executed).",
            labels=TASK_LABELS,
        )
        peak = GaugeMetricFamily(
            "squall_execute_latency_seconds_max",
            "Longest single execute of the task so far.",
            labels=TASK_LABELS,
        )
        queued = GaugeMetricFamily(
            "squall_queued_tuples", "Tuples waiting in the task's inbox.", labels=TASK_LABELS
        )
        capacity: dict[str, float] = {}
        for t in m.tasks:
            labels = [t.component, str(t.task)]
            if not t.is_spout:
                latency.add_metric(labels, t.executed, t.exec_seconds)
                peak.add_metric(labels, t.exec_max_seconds)
                queued.add_metric(labels, t.queued)
                rate = m.rates.get(t.task)
                busy = rate.capacity if rate is not None else 0.0
                capacity[t.component] = max(capacity.get(t.component, 0.0), busy)
        yield latency
        # families the source cannot measure are left out, not exposed empty or as zeros
        if "exec_max_ms" not in m.unmeasured:
            yield peak
        if "queued" not in m.unmeasured:
            yield queued
        cap = GaugeMetricFamily(
            "squall_capacity",
            "Busiest task's share of time executing over the last tick (Storm UI's capacity).",
            labels=["component"],
        )
        for component in sorted(capacity):
            cap.add_metric([component], capacity[component])
        yield cap
        if "in_flight" not in m.unmeasured:
            yield GaugeMetricFamily(
                "squall_in_flight_trees", "Spout tuple trees not yet acked.", value=m.in_flight
            )
        yield GaugeMetricFamily(
            "squall_run_elapsed_seconds", "Time since the run started.", value=m.elapsed_s
        )
        yield GaugeMetricFamily(
            "squall_run_finished", "1 once the run has ended.", value=int(m.finished)
        )
        yield GaugeMetricFamily("squall_workers", "Worker processes of the run.", value=m.workers)
        lag = GaugeMetricFamily(
            "squall_kafka_consumer_lag",
            "Records in the partition not yet fetched by the spout task (highwater - position).",
            labels=["component", "task", "topic", "partition"],
        )
        for (component, task, topic, partition), n in sorted(m.lag.items()):
            lag.add_metric([component, str(task), topic, str(partition)], n)
        yield lag
        if m.realtime.streams:
            yield from text_string_to_metric_families(m.realtime.prometheus())


def exposition(state: LiveState) -> bytes:
    """The text a scrape of ``/metrics`` returns (format 0.0.4)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(state))
    return generate_latest(registry)

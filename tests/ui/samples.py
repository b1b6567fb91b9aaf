"""Live samples as a worker would publish them, for the live view's unit tests."""

from __future__ import annotations

from typing import Any

from squall.engine.live import LiveSample, TaskSample
from squall.realtime.metrics import Metrics


def task(
    component: str, task_id: int, worker: int = 0, *, spout: bool = False, **counts: Any
) -> TaskSample:
    """A task's counters; every counter not given is 0."""
    fields = dict.fromkeys(("emitted", "acked", "failed", "executed", "errors", "queued"), 0)
    fields.update(exec_seconds=0.0, exec_max_seconds=0.0)
    fields.update(counts)
    return TaskSample(component, task_id, worker, spout, **fields)


def sample(at: float, *tasks: TaskSample, worker: int = 0, **kw: Any) -> LiveSample:
    return LiveSample(
        worker=worker,
        at=at,
        tasks=list(tasks),
        realtime=kw.pop("realtime", None),
        errors=kw.pop("errors", []),
        in_flight=kw.pop("in_flight", 0),
        **kw,
    )


def stream_metrics(name: str, latencies_s: list[float], deadline_s: float) -> Metrics:
    """Metrics of one stream whose jobs took ``latencies_s``, against one relative deadline."""
    m = Metrics()
    s = m.stream(name)
    for latency in latencies_s:
        s.complete(0.0, deadline_s, latency)
    return m

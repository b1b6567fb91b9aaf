"""Live samples of a running worker, for a view that watches the run (``squall run --ui``).

The runner's progress tick already visits the worker once per ``progress_every_s``; a
``LiveFeed`` rides on it (each worker process of a multi-process run ticks at that rate too). At each tick a worker's ``Sampler`` copies its tasks' counters, its
real-time metrics and whatever the feed's probe collected into a ``LiveSample`` (plain data:
it crosses a ``multiprocessing`` queue in multi-process runs) and the coordinating process
hands it to ``LiveFeed.publish``. Nothing here runs per tuple: a probe that taps streams
installs its own wrappers, and only when a feed is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from squall.engine.results import ComponentError
from squall.realtime.metrics import Metrics

if TYPE_CHECKING:
    from squall.engine.executor import Executor
    from squall.engine.worker import Worker


@dataclass(frozen=True)
class TaskSample:
    """One task's counters at one tick (``ComponentStats`` plus its queue depth)."""

    component: str
    task: int
    worker: int
    is_spout: bool
    emitted: int
    acked: int
    failed: int
    executed: int
    exec_seconds: float
    exec_max_seconds: float
    errors: int
    queued: int


@dataclass
class LiveSample:
    """What one worker looked like at one tick; ``final`` once it is closed."""

    worker: int
    at: float  # time.monotonic() in the worker: one clock for every process of the machine
    tasks: list[TaskSample]
    realtime: Metrics | None  # a copy: the view reads it while the worker goes on
    errors: list[ComponentError]  # reported since the previous sample
    in_flight: int
    probed: Any = None  # what the feed's probe collected: opaque to the engine
    final: bool = False


class LiveProbe(Protocol):
    """Runs inside each worker: ``install`` once its components are started, ``collect`` at
    every tick. Must be picklable before ``install`` (forked into worker processes)."""

    def install(self, executors: Mapping[int, Executor]) -> None: ...
    def collect(self) -> Any: ...


@dataclass
class LiveFeed:
    """Where samples go (``publish``, called in the coordinating process) and what else each
    worker collects (``probe``)."""

    publish: Callable[[LiveSample], None]
    probe: LiveProbe | None = None


class Sampler:
    """Samples one worker; remembers which errors it already reported."""

    def __init__(self, worker: Worker, probe: LiveProbe | None) -> None:
        self.worker = worker
        self.probe = probe
        self.errors_seen = 0
        if probe is not None:
            probe.install(worker.executors)

    def sample(self, final: bool = False) -> LiveSample:
        w = self.worker
        tasks = [
            TaskSample(
                ex.name,
                task,
                w.index,
                ex.is_spout,
                ex.stats.emitted,
                ex.stats.acked,
                ex.stats.failed,
                ex.stats.executed,
                ex.stats.exec_seconds,
                ex.stats.exec_max_seconds,
                ex.stats.errors,
                0 if ex.is_spout else len(ex.inbox),
            )
            for task, ex in sorted(w.executors.items())
        ]
        realtime = None
        if w.realtime_active:
            realtime = Metrics(w.rt.metrics.latency_bounds, w.rt.metrics.slack_bounds)
            realtime.merge(w.rt.metrics)  # merging into an empty one is a copy
        errors = w.result.errors[self.errors_seen :]
        self.errors_seen += len(errors)
        return LiveSample(
            worker=w.index,
            at=time.monotonic(),
            tasks=tasks,
            realtime=realtime,
            errors=list(errors),
            in_flight=len(w.acker),
            probed=None if self.probe is None else self.probe.collect(),
            final=final,
        )

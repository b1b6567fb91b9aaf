"""What the live view knows about a run: updated once per progress tick, read by HTTP threads.

``LiveState.publish`` takes one worker's ``LiveSample`` (the runner's thread, or the coordinator
of a multi-process run); ``view`` renders everything as JSON-ready data for the page and
``/api/state``; ``metrics`` is the copy ``/metrics`` exposes. One lock guards it all: a tick
holds it for the time of a few dict updates, a reader for the time of a copy.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from squall.engine.live import LiveSample, TaskSample
from squall.engine.model import TopologyModel
from squall.realtime.metrics import Metrics
from squall.ui.declare import Chart, Feed, Panel
from squall.ui.probe import Probed

MIN_RATE_WINDOW_S = 0.25  # rates over a shorter gap (the final sample after a tick) are noise
RECENT_ERRORS = 20


@dataclass
class TaskRates:
    """Per second, between a task's last two samples."""

    executed: float = 0.0
    emitted: float = 0.0
    capacity: float = 0.0  # busy share: execute seconds per second (Storm UI's capacity)


@dataclass
class MetricsView:
    """A consistent copy of the counters for one scrape of ``/metrics``."""

    tasks: list[TaskSample]
    rates: dict[int, TaskRates]
    realtime: Metrics
    lag: dict[tuple[str, int, str, int], int]
    in_flight: int
    elapsed_s: float
    finished: bool
    workers: int
    unmeasured: frozenset[str] = frozenset()  # what the source cannot tell (LiveState's)


@dataclass
class _PanelData:
    panel: Panel
    series: dict[str, deque[tuple[Any, Any]]] = field(default_factory=dict)
    records: deque[dict[str, Any]] = field(default_factory=deque)
    totals: dict[tuple[int, str, str], int] = field(default_factory=dict)  # worker, comp, stream


def graph_of(model: TopologyModel) -> dict[str, Any]:
    """Components (nodes) and subscriptions (edges), as the page draws them."""
    nodes = [
        {
            "name": c.name,
            "kind": "spout" if c.is_spout else "bolt",
            "par": c.par,
            "class": c.cls.__name__,
            "tasks": list(c.task_ids),
        }
        for c in model.components.values()
    ]
    edges = [
        {
            "source": s.source,
            "stream": s.stream,
            "target": s.consumer,
            "grouping": s.grouping,
            "fields": list(s.fields),
        }
        for subs in model.subscribers.values()
        for s in subs
    ]
    return {"nodes": nodes, "edges": edges}


class LiveState:
    """The run as the live view shows it; every method is safe from any thread."""

    def __init__(
        self,
        name: str,
        graph: dict[str, Any],
        panels: Sequence[Panel] = (),
        *,
        workers: int = 1,
        show_payloads: bool = False,
        unmeasured: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``unmeasured``: component columns the source cannot measure (Storm's REST API has no
        queue depth, for one): shown as unknown and left out of ``/metrics``, never as 0."""
        self.name = name
        self.graph = graph
        self.workers = workers
        self.unmeasured = frozenset(unmeasured)
        self._cluster: dict[str, Any] | None = None
        self.show_payloads = show_payloads
        self._clock = clock
        self._started = clock()
        self._ended: float | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.version = 0
        self.finished = False
        self._tasks: dict[int, TaskSample] = {}
        self._base: dict[int, tuple[float, TaskSample]] = {}  # what rates are measured from
        self._first: dict[int, tuple[float, TaskSample]] = {}  # for the run's average rates
        self._rates: dict[int, TaskRates] = {}
        self._realtime: dict[int, Metrics] = {}
        self._in_flight: dict[int, int] = {}
        self._lag: dict[tuple[str, int, str, int], int] = {}
        self._errors: deque[dict[str, Any]] = deque(maxlen=RECENT_ERRORS)
        self._panels = [_PanelData(p, records=deque(maxlen=_keep(p))) for p in panels]
        self._summary: dict[str, Any] = {}

    @classmethod
    def of_model(
        cls, model: TopologyModel, panels: Sequence[Panel] = (), **options: Any
    ) -> LiveState:
        """The state of an embedded run of ``model`` (``squall run --ui``)."""
        return cls(model.name, graph_of(model), panels, **options)

    # ------------------------------------------------------------------ writers
    def set_cluster(
        self, name: str, cluster: dict[str, Any], graph: dict[str, Any], workers: int
    ) -> None:
        """Where a cluster runs the topology (Storm: its id, status, worker hosts), its name
        and graph as the cluster reports them, and its worker count; shown with the counters."""
        with self._changed:
            self.name, self._cluster, self.graph = name, dict(cluster), graph
            self.workers = workers
            self.version += 1
            self._changed.notify_all()

    def publish(self, sample: LiveSample) -> None:
        """One worker's tick (``LiveFeed.publish``)."""
        with self._changed:
            for t in sample.tasks:
                self._tasks[t.task] = t
                self._first.setdefault(t.task, (sample.at, t))
                # the final state shows rates averaged over the run: its last ticks measure
                # the drain, when the spouts have stopped and every rate falls to 0
                base = self._first[t.task] if sample.final else self._base.get(t.task)
                if base is None:
                    self._base[t.task] = (sample.at, t)
                elif sample.at - base[0] >= MIN_RATE_WINDOW_S:
                    self._rates[t.task] = _rates_between(base, (sample.at, t))
                    self._base[t.task] = (sample.at, t)
            if sample.realtime is not None:
                self._realtime[sample.worker] = sample.realtime
            self._in_flight[sample.worker] = sample.in_flight
            for err in sample.errors:
                self._errors.append(
                    {"component": err.component, "task": err.task, "message": err.message}
                )
            if isinstance(sample.probed, Probed):
                self._take(sample.worker, {t.task for t in sample.tasks}, sample.probed)
            self.version += 1
            self._changed.notify_all()

    def finish(self, summary: dict[str, Any] | None = None) -> None:
        """The run is over: the page keeps its last state and says so."""
        with self._changed:
            self.finished = True
            self._ended = self._clock()
            self._summary = dict(summary or {})
            self.version += 1
            self._changed.notify_all()

    def _take(self, worker: int, tasks: set[int], probed: Probed) -> None:
        for gone in [k for k in self._lag if k[1] in tasks]:  # partitions move on a rebalance
            del self._lag[gone]
        self._lag.update(probed.lag)
        for data in self._panels:
            for tap in data.panel.taps:
                key = (tap.component, tap.stream)
                if key in probed.totals:
                    data.totals[(worker, *key)] = probed.totals[key]
                for task, values in probed.records.get(key, ()):
                    record = dict(zip(tap.fields, values, strict=False))
                    if isinstance(data.panel.spec, Chart):
                        _add_point(data, data.panel.spec, record)
                    else:
                        data.records.append(self._feed_row(data.panel.spec, tap, task, record))

    def _feed_row(self, spec: Feed, tap: Any, task: int, record: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"component": tap.component, "stream": tap.stream, "task": task}
        if spec.id_of is not None:
            try:
                row["id"] = spec.id_of(record)
            except Exception as exc:  # noqa: BLE001 - a bad record must not stop the view
                row["id"] = f"(id_of failed: {type(exc).__name__})"
        for name in spec.fields:
            row[name] = _jsonable(record.get(name))
        if self.show_payloads:
            for name in spec.private:
                row[name] = _jsonable(record.get(name))
        return row

    # ------------------------------------------------------------------ readers
    def wait_change(self, version: int, timeout_s: float) -> int:
        """Block until the state is newer than ``version`` (or ``timeout_s``); the version."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version, timeout=timeout_s)
            return self.version

    def elapsed_s(self) -> float:
        end: float = self._ended if self._ended is not None else self._clock()
        return end - self._started

    def metrics(self) -> MetricsView:
        with self._lock:
            realtime = Metrics()
            for m in self._realtime.values():
                realtime.merge(m)
            return MetricsView(
                tasks=[self._tasks[t] for t in sorted(self._tasks)],
                rates=dict(self._rates),
                realtime=realtime,
                lag=dict(self._lag),
                in_flight=sum(self._in_flight.values()),
                elapsed_s=self.elapsed_s(),
                finished=self.finished,
                workers=self.workers,
                unmeasured=self.unmeasured,
            )

    def view(self) -> dict[str, Any]:
        """Everything the page shows, JSON-ready."""
        m = self.metrics()
        with self._lock:
            panels = [self._panel_view(d) for d in self._panels]
            errors = list(self._errors)
            version, summary = self.version, dict(self._summary)
            cluster = None if self._cluster is None else dict(self._cluster)
        return {
            "topology": self.name,
            "version": version,
            "workers": m.workers,
            "elapsed_s": round(m.elapsed_s, 3),
            "finished": m.finished,
            "in_flight": None if "in_flight" in m.unmeasured else m.in_flight,
            "graph": self.graph,
            "components": components_view(m, self.unmeasured),
            "unmeasured": sorted(self.unmeasured),
            "cluster": cluster,
            "streams": streams_view(m.realtime),
            "panels": panels,
            "errors": errors,
            "lag": [
                {"component": c, "task": t, "topic": topic, "partition": p, "lag": n}
                for (c, t, topic, p), n in sorted(m.lag.items())
            ],
            "summary": summary,
            "show_payloads": self.show_payloads,
        }

    def _panel_view(self, data: _PanelData) -> dict[str, Any]:
        spec = data.panel.spec
        out: dict[str, Any] = {
            "kind": data.panel.kind,
            "title": data.panel.title,
            "total": sum(data.totals.values()),
        }
        if isinstance(spec, Chart):
            series = {k: [list(p) for p in v] for k, v in data.series.items()}
            out.update(x=spec.x, y=spec.y, series=series)
        else:
            shown = list(spec.fields) + (list(spec.private) if self.show_payloads else [])
            out.update(fields=(["id"] if spec.id_of else []) + shown)
            out.update(records=list(reversed(data.records)))  # newest first
            out.update(hidden=[] if self.show_payloads else list(spec.private))
        return out


def components_view(
    m: MetricsView, unmeasured: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Per component: counters summed over its tasks, rates summed, capacity at its busiest;
    the ``unmeasured`` columns as None."""
    comps: dict[str, dict[str, Any]] = {}
    for t in m.tasks:
        c = comps.setdefault(
            t.component,
            {
                "name": t.component,
                "kind": "spout" if t.is_spout else "bolt",
                "tasks": 0,
                "emitted": 0,
                "acked": 0,
                "failed": 0,
                "executed": 0,
                "errors": 0,
                "queued": 0,
                "exec_seconds": 0.0,
                "exec_max_ms": 0.0,
                "executed_per_s": 0.0,
                "emitted_per_s": 0.0,
                "capacity": 0.0,
            },
        )
        r = m.rates.get(t.task, TaskRates())
        c["tasks"] += 1
        for k in ("emitted", "acked", "failed", "executed", "errors", "queued", "exec_seconds"):
            c[k] += getattr(t, k)
        c["exec_max_ms"] = max(c["exec_max_ms"], 1000.0 * t.exec_max_seconds)
        c["executed_per_s"] += r.executed
        c["emitted_per_s"] += r.emitted
        c["capacity"] = max(c["capacity"], r.capacity)
    for c in comps.values():
        c["exec_mean_ms"] = 1000.0 * c["exec_seconds"] / c["executed"] if c["executed"] else 0.0
        for k in ("exec_mean_ms", "exec_max_ms", "executed_per_s", "emitted_per_s", "capacity"):
            c[k] = round(c[k], 4)
        del c["exec_seconds"]
        c.update(dict.fromkeys(unmeasured & c.keys()))
    return [comps[k] for k in sorted(comps)]


def streams_view(realtime: Metrics) -> list[dict[str, Any]]:
    """Per deadline-declaring stream: latency percentiles (ms), misses, shed jobs, precision."""
    out = []
    for name, s in sorted(realtime.streams.items()):
        h = s.latency
        out.append(
            {
                "stream": name,
                "completed": s.completed,
                "p50_ms": _ms(h.quantile(0.5)),
                "p90_ms": _ms(h.quantile(0.9)),
                "p99_ms": _ms(h.quantile(0.99)),
                "max_ms": _ms(h.max if h.count else math.nan),
                "misses": s.misses,
                "miss_ratio": round(s.miss_ratio, 6),
                "shed": dict(s.shed),
                "precision": s.precision,
            }
        )
    return out


def _rates_between(a: tuple[float, TaskSample], b: tuple[float, TaskSample]) -> TaskRates:
    dt, before, after = b[0] - a[0], a[1], b[1]
    # never below 0: on a cluster a restarted worker's counters start again from 0
    return TaskRates(
        max(0.0, (after.executed - before.executed) / dt),
        max(0.0, (after.emitted - before.emitted) / dt),
        min(1.0, max(0.0, (after.exec_seconds - before.exec_seconds) / dt)),
    )


def _add_point(data: _PanelData, spec: Chart, record: dict[str, Any]) -> None:
    name = str(record.get(spec.series)) if spec.series else spec.y
    points = data.series.get(name)
    if points is None:
        points = data.series[name] = deque(maxlen=spec.keep)
    x, y = _jsonable(record.get(spec.x)), _jsonable(record.get(spec.y))
    if points and points[-1][0] == x:  # a window evaluated again (a late alert): the newest
        points[-1] = (x, y)
    else:
        points.append((x, y))


def _keep(panel: Panel) -> int:
    return panel.spec.keep if isinstance(panel.spec, Feed) else 1


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(1000.0 * seconds, 3)


def _jsonable(value: Any) -> Any:
    """Values as JSON can carry them: numbers, text, and lists or dicts of those."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    try:
        return json.loads(json.dumps(value, default=str, allow_nan=False))
    except (TypeError, ValueError):
        return repr(value)

"""One component's page of Storm UI's REST API, ``/api/v1/topology/<id>/component/<name>``, in
Storm 2's field names: totals per time window, input and output streams, one row per executor.

Storm UI builds the page from Nimbus's ``getComponentPageInfo``; here it is summed from the
``TopologyInfo`` executors, which carry the same counters. ``sparse stats -c`` reads
``boltStats`` / ``spoutSummary``, ``inputStats``, ``outputStats`` and ``executorStats``, and
``sparse worker_uptime`` reads each executor's ``uptime`` and ``workerLogLink``. No logviewer
runs here, so ``workerLogLink`` is the worker's log file relative to Storm's log directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from squall.storm.nimbus import (
    ALL_TIME,
    component_stats,
    is_spout_executor,
    pretty_duration,
    task_count,
    user_counts,
)

# Storm's stat windows, in the order the page lists them (all time last: `sparse stats -c` shows
# a spout's last window)
WINDOWS = ("600", "10800", "86400", ALL_TIME)


def window_pretty(window: str) -> str:
    """Storm UI's name of a stat window: ``All time``, or its length like an uptime."""
    return "All time" if window == ALL_TIME else pretty_duration(int(window))


def float_str(value: float | None) -> str:
    """Storm's ``StatsUtil.floatStr``: three decimals, ``0.000`` when nothing was measured."""
    return f"{value or 0.0:.3f}"


class _Sum:
    """A count and a latency averaged with the count as weight, as Storm aggregates them."""

    __slots__ = ("count", "weighted")

    def __init__(self) -> None:
        self.count = 0
        self.weighted = 0.0

    def add(self, count: int, avg_ms: float | None) -> None:
        self.count += count
        self.weighted += count * (avg_ms or 0.0)

    @property
    def avg(self) -> float:
        return self.weighted / self.count if self.count else 0.0


def _windows(executors: Iterable[Any]) -> list[str]:
    seen = {w for e in executors if e.stats for w in (e.stats.emitted or {})}
    return [w for w in WINDOWS if w in seen] or [ALL_TIME]


def _totals(executors: list[Any], window: str, is_spout: bool) -> dict[str, Any]:
    emitted = transferred = 0
    acked, failed, executed = _Sum(), 0, _Sum()
    processed = _Sum()  # bolts: process latency, weighted by acks as in Storm
    for e in executors:
        if e.stats is None:
            continue
        emitted += sum(user_counts(e.stats.emitted, window).values())
        transferred += sum(user_counts(e.stats.transferred, window).values())
        if is_spout:
            spout = e.stats.specific.spout
            latency = user_counts(spout.complete_ms_avg, window)
            for stream, count in user_counts(spout.acked, window).items():
                acked.add(count, latency.get(stream))
            failed += sum(user_counts(spout.failed, window).values())
        else:
            bolt = e.stats.specific.bolt
            execute_ms, process_ms = (
                user_counts(bolt.execute_ms_avg, window),
                user_counts(bolt.process_ms_avg, window),
            )
            for stream, count in user_counts(bolt.executed, window).items():
                executed.add(count, execute_ms.get(stream))
            for stream, count in user_counts(bolt.acked, window).items():
                processed.add(count, process_ms.get(stream))
            failed += sum(user_counts(bolt.failed, window).values())
    row: dict[str, Any] = {
        "window": window,
        "windowPretty": window_pretty(window),
        "emitted": emitted,
        "transferred": transferred,
        "failed": failed,
    }
    if is_spout:
        row |= {"acked": acked.count, "completeLatency": float_str(acked.avg)}
    else:
        row |= {
            "acked": processed.count,
            "executed": executed.count,
            "executeLatency": float_str(executed.avg),
            "processLatency": float_str(processed.avg),
        }
    return row


def _input_stats(executors: list[Any], window: str) -> list[dict[str, Any]]:
    """Per input (source component, stream): what this bolt executed, acked and failed of it."""
    inputs: dict[tuple[str, str], dict[str, Any]] = {}
    for e in executors:
        if e.stats is None:
            continue
        bolt = e.stats.specific.bolt
        executed, acked = user_counts(bolt.executed, window), user_counts(bolt.acked, window)
        failed = user_counts(bolt.failed, window)
        execute_ms = user_counts(bolt.execute_ms_avg, window)
        process_ms = user_counts(bolt.process_ms_avg, window)
        for gsid in {*executed, *acked, *failed}:
            entry = inputs.setdefault(
                (gsid.componentId, gsid.streamId),
                {"executed": _Sum(), "acked": _Sum(), "failed": 0},
            )
            entry["executed"].add(executed.get(gsid, 0), execute_ms.get(gsid))
            entry["acked"].add(acked.get(gsid, 0), process_ms.get(gsid))
            entry["failed"] += failed.get(gsid, 0)
    return [
        {
            "component": component,
            "encodedComponentId": component,
            "stream": stream,
            "executed": entry["executed"].count,
            "executeLatency": float_str(entry["executed"].avg),
            "acked": entry["acked"].count,
            "processLatency": float_str(entry["acked"].avg),
            "failed": entry["failed"],
        }
        for (component, stream), entry in sorted(inputs.items())
    ]


def _output_stats(executors: list[Any], window: str, is_spout: bool) -> list[dict[str, Any]]:
    """Per stream this component emits: emitted and transferred (spouts: also their trees)."""
    streams: dict[str, dict[str, Any]] = {}
    for e in executors:
        if e.stats is None:
            continue
        emitted = user_counts(e.stats.emitted, window)
        transferred = user_counts(e.stats.transferred, window)
        acked: dict[Any, Any] = {}
        failed: dict[Any, Any] = {}
        latency: dict[Any, Any] = {}
        if is_spout:
            spout = e.stats.specific.spout
            acked, failed = user_counts(spout.acked, window), user_counts(spout.failed, window)
            latency = user_counts(spout.complete_ms_avg, window)
        for stream in {*emitted, *transferred}:
            entry = streams.setdefault(
                stream, {"emitted": 0, "transferred": 0, "acked": _Sum(), "failed": 0}
            )
            entry["emitted"] += emitted.get(stream, 0)
            entry["transferred"] += transferred.get(stream, 0)
            entry["acked"].add(acked.get(stream, 0), latency.get(stream))
            entry["failed"] += failed.get(stream, 0)
    rows = []
    for stream, entry in sorted(streams.items()):
        row = {"stream": stream, "emitted": entry["emitted"], "transferred": entry["transferred"]}
        if is_spout:
            row |= {
                "acked": entry["acked"].count,
                "failed": entry["failed"],
                "completeLatency": float_str(entry["acked"].avg),
            }
        rows.append(row)
    return rows


def _executor_row(e: Any, topology_id: str, is_spout: bool) -> dict[str, Any]:
    info = e.executor_info
    executor_id = f"[{info.task_start}-{info.task_end}]"
    totals = _totals([e], ALL_TIME, is_spout)
    for key in ("window", "windowPretty"):
        del totals[key]
    return {
        "id": executor_id,
        "encodedId": executor_id,
        "uptime": pretty_duration(e.uptime_secs),
        "uptimeSeconds": e.uptime_secs,
        "host": e.host,
        "port": e.port,
        **totals,
        "workerLogLink": f"workers-artifacts/{topology_id}/{e.port}/worker.log",
    }


def component_json(info: Any, component: str, window: str = ALL_TIME) -> dict[str, Any] | None:
    """The page of ``component`` in a ``TopologyInfo``; None when it has no executor there.

    Besides Storm's fields: ``stats``, the component's row of the topology page.
    """
    executors = [e for e in info.executors if e.component_id == component]
    if not executors:
        return None
    is_spout = any(is_spout_executor(e) for e in executors)
    page: dict[str, Any] = {
        "id": component,
        "encodedId": component,
        "name": info.name,
        "topologyId": info.id,
        "topologyStatus": info.status,
        "componentType": "spout" if is_spout else "bolt",
        "executors": len(executors),
        "tasks": sum(task_count(e) for e in executors),
        "window": window,
        "windowPretty": window_pretty(window),
        "outputStats": _output_stats(executors, window, is_spout),
        "executorStats": [_executor_row(e, info.id, is_spout) for e in executors],
    }
    spouts, bolts = component_stats(info, window)
    page["stats"] = next(
        (r for r in [*spouts, *bolts] if r.get("spoutId", r.get("boltId")) == component), {}
    )
    page["componentErrors"] = [
        {
            "error": e.error,
            "errorTime": e.error_time_secs,
            "errorHost": e.host or "",
            "errorPort": e.port or "",
        }
        for e in sorted(info.errors.get(component, []), key=lambda e: -e.error_time_secs)
    ]
    per_window = [_totals(executors, w, is_spout) for w in _windows(executors)]
    if is_spout:
        page["spoutSummary"] = per_window
    else:
        page["boltStats"] = per_window
        page["inputStats"] = _input_stats(executors, window)
    return page

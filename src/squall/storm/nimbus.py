"""Talking to Nimbus over Thrift (framed, binary: what Storm 2.8 and streamparse speak), and
turning its answers into the JSON shapes of Storm UI's REST API (``/api/v1/...``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from streamparse.thrift import Nimbus  # streamparse's copy of storm.thrift
from thriftpy2.protocol import TBinaryProtocolFactory
from thriftpy2.rpc import make_client
from thriftpy2.transport import TFramedTransportFactory

ALL_TIME = ":all-time"
# Streams Storm counts but Storm UI leaves out of a component's totals.
SYSTEM_STREAM_PREFIX = "__"


@contextlib.contextmanager
def nimbus_client(host: str, port: int, timeout_ms: int = 10_000) -> Iterator[Any]:
    """A connected Nimbus client; closed on exit."""
    client = make_client(
        Nimbus,
        host=host,
        port=port,
        proto_factory=TBinaryProtocolFactory(),  # type: ignore[no-untyped-call]
        trans_factory=TFramedTransportFactory(),
        timeout=timeout_ms,
    )
    try:
        yield client
    finally:
        client.close()


def user_counts(stats: Mapping[str, Mapping[Any, Any]] | None, window: str) -> dict[Any, Any]:
    """One window of a stream -> value map (streams by name or ``GlobalStreamId``), without
    Storm's system streams (``__ack_ack`` etc.), which Storm UI leaves out of every total."""
    counts = (stats or {}).get(window) or {}
    return {
        stream: value
        for stream, value in counts.items()
        if not (stream if isinstance(stream, str) else stream.streamId).startswith(
            SYSTEM_STREAM_PREFIX
        )
    }


def is_spout_executor(executor: Any) -> bool:
    stats = executor.stats
    return stats is not None and stats.specific is not None and stats.specific.spout is not None


def task_count(executor: Any) -> int:
    info = executor.executor_info
    return int(info.task_end - info.task_start + 1)


def _last_error(errors: list[Any]) -> dict[str, Any]:
    if not errors:
        return {"lastError": "", "errorHost": "", "errorPort": "", "errorTime": None}
    last = max(errors, key=lambda e: e.error_time_secs)
    return {
        "lastError": last.error,
        "errorHost": last.host or "",
        "errorPort": last.port or "",
        "errorTime": last.error_time_secs,
    }


def component_stats(
    info: Any, window: str = ALL_TIME
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(spouts, bolts) of a ``TopologyInfo``, summed over executors, in Storm UI's field names.

    System components (``__acker``, ``__system``, ``__metricsx``) are left out, as in Storm UI.
    """
    spouts: dict[str, dict[str, Any]] = {}
    bolts: dict[str, dict[str, Any]] = {}
    for executor in info.executors:
        name = executor.component_id
        if name.startswith(SYSTEM_STREAM_PREFIX):
            continue
        stats = executor.stats
        specific = stats.specific if stats else None
        is_spout = is_spout_executor(executor)
        table = spouts if is_spout else bolts
        key = "spoutId" if is_spout else "boltId"
        row = table.setdefault(
            name,
            {
                key: name,
                "executors": 0,
                "tasks": 0,
                "emitted": 0,
                "transferred": 0,
                "acked": 0,
                "failed": 0,
            }
            | ({} if is_spout else {"executed": 0}),
        )
        row["executors"] += 1
        row["tasks"] += task_count(executor)
        if stats is None:
            continue
        row["emitted"] += sum(user_counts(stats.emitted, window).values())
        row["transferred"] += sum(user_counts(stats.transferred, window).values())
        if is_spout and specific is not None:  # is_spout means a spout's stats are there
            row["acked"] += sum(user_counts(specific.spout.acked, window).values())
            row["failed"] += sum(user_counts(specific.spout.failed, window).values())
        elif specific is not None and specific.bolt is not None:
            row["acked"] += sum(user_counts(specific.bolt.acked, window).values())
            row["failed"] += sum(user_counts(specific.bolt.failed, window).values())
            row["executed"] += sum(user_counts(specific.bolt.executed, window).values())
    for table in (spouts, bolts):
        for name, row in table.items():
            row.update(_last_error(info.errors.get(name, [])))
    return sorted(spouts.values(), key=lambda r: r["spoutId"]), sorted(
        bolts.values(), key=lambda r: r["boltId"]
    )


def pretty_duration(seconds: int) -> str:
    """Storm UI's uptime form: ``1d 2h 3m 4s`` (leading zero units left out)."""
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v]
    return " ".join([*parts, f"{secs}s"]) if parts else f"{secs}s"


def topology_summary_json(summary: Any) -> dict[str, Any]:
    return {
        "id": summary.id,
        "name": summary.name,
        "status": summary.status,
        "uptime": pretty_duration(summary.uptime_secs),
        "uptimeSeconds": summary.uptime_secs,
        "tasksTotal": summary.num_tasks,
        "workersTotal": summary.num_workers,
        "executorsTotal": summary.num_executors,
        "owner": summary.owner or "",
        "schedulerInfo": summary.sched_status or "",
    }


def topology_json(info: Any, window: str = ALL_TIME) -> dict[str, Any]:
    spouts, bolts = component_stats(info, window)
    user_executors = [
        e for e in info.executors if not e.component_id.startswith(SYSTEM_STREAM_PREFIX)
    ]
    return {
        "id": info.id,
        "name": info.name,
        "status": info.status,
        "uptime": pretty_duration(info.uptime_secs),
        "uptimeSeconds": info.uptime_secs,
        "window": window,
        "executorsTotal": len(info.executors),
        "tasksTotal": sum(task_count(e) for e in info.executors),
        "workersTotal": len({(e.host, e.port) for e in info.executors}),
        # As Storm UI: the topology's tuples are its spouts' (acked/failed trees), emitted and
        # transferred counted over its own components.
        "topologyStats": [
            {
                "window": window,
                "windowPretty": "All time" if window == ALL_TIME else pretty_duration(int(window)),
                "emitted": sum(r["emitted"] for r in [*spouts, *bolts]),
                "transferred": sum(r["transferred"] for r in [*spouts, *bolts]),
                "acked": sum(r["acked"] for r in spouts),
                "failed": sum(r["failed"] for r in spouts),
            }
        ],
        "spouts": spouts,
        "bolts": bolts,
        "componentsTotal": len({e.component_id for e in user_executors}),
    }


def cluster_json(summary: Any) -> dict[str, Any]:
    slots_total = sum(s.num_workers for s in summary.supervisors)
    slots_used = sum(s.num_used_workers for s in summary.supervisors)
    versions = {s.version for s in summary.supervisors if s.version}
    nimbus_uptime = max((n.uptime_secs for n in summary.nimbuses), default=0)
    return {
        "stormVersion": next(iter(versions), ""),
        "nimbusUptime": pretty_duration(nimbus_uptime),
        "nimbusUptimeSeconds": nimbus_uptime,
        "supervisors": len(summary.supervisors),
        "topologies": len(summary.topologies),
        "slotsTotal": slots_total,
        "slotsUsed": slots_used,
        "slotsFree": slots_total - slots_used,
        "executorsTotal": sum(t.num_executors for t in summary.topologies),
        "tasksTotal": sum(t.num_tasks for t in summary.topologies),
    }


def supervisors_json(summary: Any) -> dict[str, Any]:
    return {
        "supervisors": [
            {
                "id": s.supervisor_id,
                "host": s.host,
                "uptime": pretty_duration(s.uptime_secs),
                "uptimeSeconds": s.uptime_secs,
                "slotsTotal": s.num_workers,
                "slotsUsed": s.num_used_workers,
                "version": s.version,
            }
            for s in summary.supervisors
        ]
    }


def grouping_name(grouping: Any) -> str:
    """The set field of a Thrift ``Grouping`` union, as Storm UI names it (``shuffle``,
    ``fields``, ``local_or_shuffle``, ...)."""
    for _, (_, name, *_rest) in sorted(type(grouping).thrift_spec.items()):
        if getattr(grouping, name, None) is not None:
            return str(name)
    return "unknown"


def sanitized_stream(stream: str) -> str:
    """A stream name usable as an HTML id, like Storm UI's ``:sani-stream`` (the form differs:
    any character but letters, digits, ``_`` and ``-`` becomes ``_``; an ``s`` first)."""
    return "s" + "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in stream)


def visualization_json(topology: Any, info: Any) -> dict[str, Any]:
    """``/api/v1/topology/<id>/visualization``: per component (system ones left out) its type,
    worker hosts and inputs with their groupings, in Storm UI's ``:``-keys. Beyond Storm's:
    ``:fields`` (a fields grouping's fields) and ``:parallelism`` (the declared hint)."""
    hosts: dict[str, list[dict[str, Any]]] = {}
    for e in info.executors:
        hosts.setdefault(e.component_id, []).append(
            {":host": e.host, ":port": e.port, ":uptime_secs": e.uptime_secs}
        )
    out: dict[str, Any] = {}
    for kind, specs in (("spout", topology.spouts), ("bolt", topology.bolts)):
        for name, spec in sorted((specs or {}).items()):
            if name.startswith(SYSTEM_STREAM_PREFIX):
                continue
            inputs = []
            for gsid, grouping in sorted(
                (spec.common.inputs or {}).items(),
                key=lambda kv: (kv[0].componentId, kv[0].streamId),
            ):
                if gsid.componentId.startswith(SYSTEM_STREAM_PREFIX):
                    continue
                inputs.append(
                    {
                        ":component": gsid.componentId,
                        ":stream": gsid.streamId,
                        ":sani-stream": sanitized_stream(gsid.streamId),
                        ":grouping": grouping_name(grouping),
                        ":fields": list(grouping.fields or []),
                    }
                )
            out[name] = {
                ":type": kind,
                ":parallelism": spec.common.parallelism_hint or 1,
                ":stats": hosts.get(name, []),
                ":link": f"/component.html?component={name}&id={info.id}",
                ":inputs": inputs,
            }
    return out

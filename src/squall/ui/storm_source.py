"""What a topology on a Storm cluster looks like, read from the cluster's UI REST API.

The live view of a Storm topology (``squall storm view``) shows the page of ``squall run --ui``;
this module turns the REST API's answers into what that page is built from: the graph
(``/visualization``: components, inputs, groupings), one ``TaskSample`` per executor (the
component pages' ``executorStats``), new component errors, and the cluster's side (topology id,
status, uptime, which worker hosts run which components, the spouts' complete latency).

Only the REST API is read, not Nimbus: the view runs wherever the API is reachable. What the
API does not report (queue depths, the longest single execute, trees in flight) is named in
``UNMEASURED`` and shown as unknown, never as 0.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from squall.engine.live import TaskSample

UNMEASURED = ("queued", "exec_max_ms", "in_flight")


class StormApiError(Exception):
    """The REST API did not answer, or answered with an error; the message says which URL."""


class NotFound(StormApiError):
    """The API answered 404: no such topology, or a component with no executor yet."""


class TopologyGone(StormApiError):
    """The topology is no longer on the cluster (killed, or never was)."""


class StormRestApi:
    """GETs against one cluster's UI REST API (``http://host:port``)."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def get(self, path: str) -> Any:
        url = self.base_url + path
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as answer:  # noqa: S310
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            detail = _error_message(exc)
            if exc.code == 404:
                raise NotFound(f"{url}: {detail}") from None
            raise StormApiError(f"{url}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StormApiError(f"{url}: not reachable ({reason})") from None
        except json.JSONDecodeError as exc:
            raise StormApiError(f"{url}: not JSON ({exc})") from None

    def topologies(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/topology/summary").get("topologies", []))

    def topology_path(self, topology_id: str) -> str:
        return f"/api/v1/topology/{urllib.parse.quote(topology_id, safe='')}"


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read())
        return str(body.get("errorMessage") or body.get("error") or exc.reason)
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


def pick_topology(running: list[dict[str, Any]], name: str | None) -> dict[str, Any] | None:
    """The running topology called ``name`` (None: the only one running); None when it is not
    (yet) there. Several running and no name: ``ValueError`` naming them."""
    if name is not None:
        return next((t for t in running if t.get("name") == name), None)
    if len(running) > 1:
        names = ", ".join(sorted(str(t.get("name")) for t in running))
        raise ValueError(
            f"{len(running)} topologies are running ({names}); choose one with --topology NAME"
        )
    return running[0] if running else None


@dataclass
class StormSnapshot:
    """One poll of a topology: enough for ``LiveState.set_cluster`` and one ``LiveSample``."""

    topology_id: str
    name: str
    graph: dict[str, Any]
    tasks: list[TaskSample]
    cluster: dict[str, Any]
    errors: list[tuple[str, int, str, int]] = field(default_factory=list)  # comp, time, msg, task

    @property
    def workers(self) -> int:
        return len(self.cluster["hosts"])


def read_snapshot(api: StormRestApi, topology_id: str) -> StormSnapshot:
    """Poll the topology ``topology_id``: its page, its graph, and each component's page."""
    base = api.topology_path(topology_id)
    try:
        topology = api.get(base)
        shape = api.get(base + "/visualization")
    except NotFound as exc:
        raise TopologyGone(str(exc)) from None
    pages = {}
    for name, comp in shape.items():
        try:
            pages[name] = api.get(f"{base}/component/{urllib.parse.quote(name, safe='')}")
        except NotFound:  # submitted, not scheduled yet: no executor reports it
            pages[name] = {"componentType": comp.get(":type", "bolt"), "executorStats": []}
    return snapshot_of(topology, shape, pages)


def snapshot_of(
    topology: dict[str, Any], shape: dict[str, Any], pages: dict[str, dict[str, Any]]
) -> StormSnapshot:
    """The snapshot from the three answers (pure: unit-tested on recorded answers)."""
    slots = sorted(
        {(e["host"], int(e["port"])) for page in pages.values() for e in page["executorStats"]}
    )
    worker_of = {slot: i for i, slot in enumerate(slots)}
    tasks: list[TaskSample] = []
    errors: list[tuple[str, int, str, int]] = []
    first_of: dict[str, int] = {}  # component -> its first task, which carries its errors
    for name, page in sorted(pages.items()):
        is_spout = page.get("componentType") == "spout"
        first_task: int | None = None
        for row in page["executorStats"]:
            task = executor_first_task(row["id"])
            first_task = task if first_task is None else min(first_task, task)
            executed = 0 if is_spout else int(row.get("executed", 0))
            tasks.append(
                TaskSample(
                    component=name,
                    task=task,
                    worker=worker_of[(row["host"], int(row["port"]))],
                    is_spout=is_spout,
                    emitted=int(row.get("emitted", 0)),
                    acked=int(row.get("acked", 0)),
                    failed=int(row.get("failed", 0)),
                    executed=executed,
                    # Storm keeps the mean execute latency, not the sum: the sum is count x mean
                    exec_seconds=executed * float(row.get("executeLatency", 0) or 0) / 1000.0,
                    exec_max_seconds=0.0,
                    errors=0,
                    queued=0,
                )
            )
        if first_task is not None:
            first_of[name] = first_task
        for err in page.get("componentErrors", []):
            task = first_task if first_task is not None else -1
            errors.append((name, int(err.get("errorTime") or 0), str(err.get("error", "")), task))
    # the component errors Storm keeps, counted on each component's first executor
    per_component = Counter(e[0] for e in errors)
    tasks = [
        replace(t, errors=per_component[t.component])
        if per_component[t.component] and first_of.get(t.component) == t.task
        else t
        for t in tasks
    ]
    return StormSnapshot(
        topology_id=str(topology["id"]),
        name=str(topology["name"]),
        graph=graph_of_visualization(shape, pages),
        tasks=sorted(tasks, key=lambda t: t.task),
        cluster=_cluster_of(topology, pages, slots),
        errors=errors,
    )


def executor_first_task(executor_id: str) -> int:
    """``[3-4]`` -> 3: an executor runs a range of tasks; the view names it by its first."""
    first = executor_id.strip("[]").split("-", 1)[0]
    try:
        return int(first)
    except ValueError:
        raise StormApiError(f"executor id {executor_id!r} is not Storm's [first-last]") from None


def graph_of_visualization(
    shape: dict[str, Any], pages: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The page's graph (as ``squall.ui.state.graph_of`` draws an embedded run) from Storm's
    ``/visualization``; parallelism = the executors Storm runs (the hint when none yet)."""
    nodes = []
    edges = []
    for name, comp in sorted(shape.items()):
        executors = pages.get(name, {}).get("executorStats", [])
        nodes.append(
            {
                "name": name,
                "kind": comp.get(":type", "bolt"),
                "par": len(executors) or int(comp.get(":parallelism", 1)),
                "class": "",
                "tasks": sorted(executor_first_task(e["id"]) for e in executors),
            }
        )
        for i in comp.get(":inputs", []):
            grouping = str(i.get(":grouping", "unknown"))
            fields = list(i.get(":fields", []))
            if grouping == "fields" and not fields:
                grouping = "global"  # Storm's global grouping is a fields grouping on no field
            edges.append(
                {
                    "source": i[":component"],
                    "stream": i[":stream"],
                    "target": name,
                    "grouping": grouping,
                    "fields": fields,
                }
            )
    known = {n["name"] for n in nodes}
    return {"nodes": nodes, "edges": [e for e in edges if e["source"] in known]}


def _cluster_of(
    topology: dict[str, Any], pages: dict[str, dict[str, Any]], slots: list[tuple[str, int]]
) -> dict[str, Any]:
    hosts = []
    for host, port in slots:
        here = [
            name
            for name, page in sorted(pages.items())
            for e in page["executorStats"]
            if (e["host"], int(e["port"])) == (host, port)
        ]
        hosts.append(
            {"host": host, "port": port, "executors": len(here), "components": sorted(set(here))}
        )
    spouts = [
        {
            "name": s["spoutId"],
            "acked": s.get("acked", 0),
            "failed": s.get("failed", 0),
            "complete_latency_ms": _spout_latency(pages.get(s["spoutId"], {})),
        }
        for s in topology.get("spouts", [])
    ]
    return {
        "source": "storm",
        "id": topology["id"],
        "status": topology.get("status", ""),
        "uptime": topology.get("uptime", ""),
        "uptime_s": topology.get("uptimeSeconds", 0),
        "hosts": hosts,
        "spouts": spouts,
    }


def _spout_latency(page: dict[str, Any]) -> float | None:
    """The all-time complete latency (ms) of a spout's page; None before a tree completed."""
    for row in page.get("spoutSummary", []):
        if row.get("window") == ":all-time" and row.get("acked"):
            return float(row.get("completeLatency", 0) or 0)
    return None

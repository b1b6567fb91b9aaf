"""``squall storm view``: the live view's page for a topology running on a Storm cluster.

A watcher thread polls the cluster's UI REST API (``squall.ui.storm_source``) every
``--interval`` seconds and feeds the same ``LiveState`` an embedded run feeds, so the page,
``/api/state`` and ``/metrics`` are the ones of ``squall run --ui``, plus the cluster's side:
the topology's id, status and uptime, and which worker hosts run which components.

Storm's workers report their counters every ``executor.metrics.frequency.secs`` (5 s on
``squall storm start`` clusters), so a sample is published only when a counter moved (or every
``IDLE_PUBLISH_S``): rates are then measured over the cluster's own reporting period instead of
jumping between a burst and zero. Waiting for the topology to be submitted, an API that stops
answering, a topology killed: each is shown on the page, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from squall.engine.live import LiveSample
from squall.engine.results import ComponentError
from squall.errors import ConfigError
from squall.ui.launch import DEFAULT_HOST, serve, serve_for
from squall.ui.state import LiveState
from squall.ui.storm_source import (
    UNMEASURED,
    StormApiError,
    StormRestApi,
    StormSnapshot,
    TopologyGone,
    pick_topology,
    read_snapshot,
)

DEFAULT_VIEW_PORT = 8766  # not squall run --ui's 8765: both may be open at once
IDLE_PUBLISH_S = 15.0
EMPTY_GRAPH: dict[str, list[object]] = {"nodes": [], "edges": []}


class StormWatcher:
    """Polls one topology (by name, or the only one running) into a ``LiveState``."""

    def __init__(
        self, api: StormRestApi, state: LiveState, topology: str | None, interval_s: float
    ) -> None:
        self.api, self.state, self.wanted, self.interval_s = api, state, topology, interval_s
        self.topology_id: str | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="squall-storm-view", daemon=True)
        self._last: tuple[object, ...] | None = None
        self._shape: tuple[object, ...] | None = None  # what the pages were last sent
        self._published_at = 0.0
        self._errors_seen: set[tuple[str, int, str]] = set()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=self.api.timeout_s + self.interval_s + 1)

    def poll_once(self) -> bool:
        """One poll; False once the topology is gone (the state is then finished)."""
        try:
            if self.topology_id is None:
                found = pick_topology(self.api.topologies(), self.wanted)
                if found is None:
                    self._problem(
                        f"waiting for topology {self.wanted or '(any)'} on {self.api.base_url}"
                    )
                    return True
                self.topology_id = str(found["id"])
            snapshot = read_snapshot(self.api, self.topology_id)
        except TopologyGone as exc:
            self.state.finish({"ended": f"topology {self.topology_id} left the cluster: {exc}"})
            return False
        except (StormApiError, ValueError) as exc:
            self._problem(str(exc))
            return True
        self._take(snapshot)
        return True

    def _problem(self, message: str) -> None:
        """Shown in the page's header; the view keeps polling."""
        self._shape = None  # the next good poll replaces the problem on the pages
        self.state.set_cluster(
            self.state.name,
            {"source": "storm", "api": self.api.base_url, "problem": message, "hosts": []},
            self.state.graph if self.topology_id else EMPTY_GRAPH,
            self.state.workers,
        )

    def _take(self, snap: StormSnapshot) -> None:
        cluster = {**snap.cluster, "api": self.api.base_url, "problem": None}
        # set_cluster sends the whole state to every open page: only when something but the
        # uptime changed, or along with a sample below (which refreshes the uptime too)
        shape = (snap.name, snap.graph, snap.workers, _without_uptime(cluster))
        if shape != self._shape:
            self._shape = shape
            self.state.set_cluster(snap.name, cluster, snap.graph, snap.workers)
        counts = tuple((t.task, t.emitted, t.executed, t.acked, t.failed) for t in snap.tasks)
        now = time.monotonic()
        new_errors = [
            ComponentError(component, task, message)
            for component, at, message, task in snap.errors
            if (component, at, message) not in self._errors_seen
        ]
        self._errors_seen.update((c, at, m) for c, at, m, _ in snap.errors)
        if counts == self._last and not new_errors and now - self._published_at < IDLE_PUBLISH_S:
            return
        self._last, self._published_at = counts, now
        self.state.set_cluster(snap.name, cluster, snap.graph, snap.workers)
        self.state.publish(
            LiveSample(
                worker=0, at=now, tasks=snap.tasks, realtime=None, errors=new_errors, in_flight=0
            )
        )

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                if not self.poll_once():
                    return
            except Exception as exc:  # noqa: BLE001 - an answer of a shape not foreseen
                # shown on the page, and the view keeps polling: a thread dying here would
                # leave a page that looks alive and never changes
                self._problem(f"reading {self.api.base_url}: {type(exc).__name__}: {exc}")
            self.stopping.wait(self.interval_s)


def _without_uptime(cluster: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cluster.items() if k not in ("uptime", "uptime_s")}


def api_url(args: argparse.Namespace) -> str:
    """``--api``, or the REST API of the cluster ``squall storm start`` runs in ``--dir``."""
    if args.api:
        return str(args.api)
    from squall.storm.cluster import StormCluster  # the cluster's module only when needed

    cluster = StormCluster(Path(args.dir) if args.dir else None)
    state = cluster.state()
    if state is None:
        raise ConfigError(
            f"no cluster started by `squall storm start` in {cluster.folder}; start one, "
            "or give --api http://HOST:PORT of a Storm UI REST API"
        )
    return f"http://127.0.0.1:{state.ports.ui}"


def run_view(args: argparse.Namespace, out: TextIO = sys.stderr) -> int:
    """The command: check the API answers, serve the page, poll until Ctrl-C or --seconds."""
    if args.interval <= 0:
        raise ConfigError(f"--interval {args.interval}: must be more than 0 seconds")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: a port is 0..65535 (0: any free port)")
    if args.seconds is not None and args.seconds < 0:
        raise ConfigError(f"--seconds {args.seconds}: must be 0 or more")
    api = StormRestApi(api_url(args))
    try:
        pick_topology(api.topologies(), args.topology)  # several and no name: refuse now
    except StormApiError as exc:
        raise ConfigError(f"the Storm UI REST API does not answer: {exc}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    state = LiveState(args.topology or "storm", dict(EMPTY_GRAPH), unmeasured=UNMEASURED)
    watcher = StormWatcher(api, state, args.topology, args.interval)
    watcher.poll_once()  # the page shows something from its first load
    server, _url = serve(state, args.ui_host, args.port, args.ui_token, "squall storm view", out)
    watcher.start()
    try:
        serve_for(args.seconds)
    finally:
        watcher.stop()
        server.stop()
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    view = commands.add_parser(
        "view",
        help="the live view's page for a topology on the cluster (from its UI REST API)",
        description="Serve squall run --ui's page for a topology running on a Storm cluster: "
        "graph, per-component counters, rates, execute latency and capacity, errors, worker "
        "hosts; /metrics for Prometheus. Fed by the cluster's UI REST API (docs/ui.md).",
    )
    view.add_argument("--topology", help="its name (default: the only topology running)")
    view.add_argument("--dir", help="the cluster's folder (default: .runtime/storm/cluster)")
    view.add_argument("--api", help="a Storm UI REST API, http://HOST:PORT (default: --dir's)")
    view.add_argument(
        "--port",
        type=int,
        default=DEFAULT_VIEW_PORT,
        help=f"the page's port (default {DEFAULT_VIEW_PORT}; 0: any free port)",
    )
    view.add_argument("--ui-host", default=DEFAULT_HOST, help="address to listen on")
    view.add_argument("--ui-token", default=None, help="token (generated off the loopback)")
    view.add_argument(
        "--interval", type=float, default=2.0, help="seconds between polls (default 2)"
    )
    view.add_argument(
        "--seconds", type=float, default=None, help="serve this long (default: until Ctrl-C)"
    )
    view.set_defaults(func=run_view)

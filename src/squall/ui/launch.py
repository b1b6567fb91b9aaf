"""``squall run --ui``: its options, and the live view's life around the run.

The server starts before the run (a port in use fails the command before anything runs), the
run feeds it at every progress tick, and after the run it keeps the final state on show until
Ctrl-C, or for ``--ui-linger-secs`` (0: stop at once, as tests and scripts want).
"""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from squall.engine.live import LiveFeed
from squall.engine.model import build_model
from squall.engine.results import RunResult
from squall.errors import ConfigError
from squall.ui.declare import resolve_panels, taps_of
from squall.ui.probe import UIProbe
from squall.ui.server import UIServer
from squall.ui.state import LiveState

DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The live view's options of ``squall run``."""
    ui = parser.add_argument_group(
        "live view (docs/ui.md)",
        "--ui serves the topology graph, per-component rates, latencies, capacity and queues, "
        "deadline metrics, the topology's declared charts and feeds, and /metrics for "
        "Prometheus, updated live while the run goes on.",
    )
    ui.add_argument("--ui", action="store_true", help="serve the live view of the run")
    ui.add_argument(
        "--port",
        type=int,
        default=None,  # None, not 8765: so that --port 8765 without --ui is noticed too
        help=f"the live view's port (default {DEFAULT_PORT}; 0: any free port)",
    )
    ui.add_argument(
        "--ui-host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}); any other needs a token",
    )
    ui.add_argument(
        "--ui-token",
        default=None,
        help="the token the page and /metrics ask for (default: generated when --ui-host "
        "is not the loopback)",
    )
    ui.add_argument(
        "--ui-show-payloads",
        action="store_true",
        help="show the raw payloads of the declared feeds (health data: off by default)",
    )
    ui.add_argument(
        "--ui-linger-secs",
        type=float,
        default=None,
        help="after the run, keep serving its final state this long (default: until Ctrl-C)",
    )


def check_arguments(args: argparse.Namespace) -> None:
    """Live-view options that make no sense, named, before anything starts."""
    given = [
        flag
        for flag, value, default in (
            ("--port", args.port, None),
            ("--ui-host", args.ui_host, DEFAULT_HOST),
            ("--ui-token", args.ui_token, None),
            ("--ui-show-payloads", args.ui_show_payloads, False),
            ("--ui-linger-secs", args.ui_linger_secs, None),
        )
        if value != default
    ]
    if given and not args.ui:
        raise ConfigError(f"{', '.join(given)} given without --ui; add --ui to serve the view")
    if args.port is not None and not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: a port is 0..65535 (0: any free port)")
    if args.ui_linger_secs is not None and args.ui_linger_secs < 0:
        raise ConfigError(f"--ui-linger-secs {args.ui_linger_secs}: must be 0 or more seconds")
    if args.ui_token is not None and not args.ui_token.strip():
        raise ConfigError("--ui-token is empty; give a token or leave it out to generate one")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: treat as reachable from outside


@dataclass
class LiveView:
    """A started live view: its state, server and the feed to give ``run_topology``."""

    state: LiveState
    server: UIServer
    feed: LiveFeed
    url: str
    linger_s: float | None
    out: TextIO

    def finish(self, result: RunResult) -> None:
        self.state.finish(
            {
                "elapsed_s": round(result.elapsed_s, 3),
                "timed_out": result.timed_out,
                "pending_at_stop": result.pending_at_stop,
                "errors": len(result.errors),
            }
        )

    def linger(self) -> None:
        """Keep the final state on show; Ctrl-C ends it quietly."""
        if self.linger_s == 0:
            return
        until = "until Ctrl-C" if self.linger_s is None else f"for {self.linger_s:g} s"
        print(f"squall run: run over; its final state stays at {self.url} {until}", file=self.out)
        serve_for(self.linger_s)

    def close(self) -> None:
        self.server.stop()


def start_live_view(
    args: argparse.Namespace, topology: Any, name: str | None, out: TextIO = sys.stderr
) -> LiveView:
    """Check the options, bind the port, and start serving (before the run starts)."""
    model = build_model(topology, name)
    panels = resolve_panels(topology, model)
    state = LiveState.of_model(
        model, panels, workers=args.workers, show_payloads=args.ui_show_payloads
    )
    server, url = serve(state, args.ui_host, args.port, args.ui_token, "squall run", out)
    # the probe also reads Kafka spouts' lag, so it is there with no panel declared too
    feed = LiveFeed(publish=state.publish, probe=UIProbe(taps_of(panels)))
    return LiveView(state, server, feed, url, args.ui_linger_secs, out)


def serve_for(seconds: float | None) -> None:
    """Let the server's threads serve for ``seconds`` (None: until Ctrl-C); Ctrl-C ends it
    quietly either way."""
    try:
        if seconds is None:
            while True:
                time.sleep(3600)
        time.sleep(seconds)
    except KeyboardInterrupt:
        pass


def serve(
    state: LiveState, host: str, port: int | None, token: str | None, who: str, out: TextIO
) -> tuple[UIServer, str]:
    """Bind and start the view's server (a token generated off the loopback); print its URL."""
    remote = not is_loopback(host)
    if remote and token is None:
        token = secrets.token_urlsafe(18)
    server = UIServer(host, DEFAULT_PORT if port is None else port, state, token)
    server.start()
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{server.port}/" + (f"?token={token}" if token else "")
    metrics = f"http://{shown_host}:{server.port}/metrics"
    print(f"{who}: live view at {url} (Prometheus: {metrics})", file=out, flush=True)
    if remote:
        print(
            f"{who}: warning: --ui-host {host} serves the run beyond this machine "
            "(payloads too with --ui-show-payloads); every request needs the token "
            "(?token=... or Authorization: Bearer ...), over plain HTTP",
            file=out,
            flush=True,
        )
    return server, url

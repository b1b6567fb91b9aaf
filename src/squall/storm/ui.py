"""Storm UI's REST API (the read-only part), served from Nimbus's Thrift answers.

Storm's UI lives in ``org.apache.storm:storm-webapp``, which is not on Maven Central, so it cannot
be provisioned here. This server answers the endpoints ``sparse stats`` and people use most, with
Storm UI's paths and field names:

    GET /api/v1/cluster/summary            supervisors, slots, topologies
    GET /api/v1/supervisor/summary         each supervisor's slots
    GET /api/v1/topology/summary           running topologies
    GET /api/v1/topology/<id>[?window=W]   spouts and bolts: emitted, executed, acked, failed,
                                           lastError (W = :all-time, 600, 10800, 86400)
    GET /api/v1/topology/<id>/component/<name>[?window=W]   one component's page: totals per
                                           window, input/output streams, executors, errors
    GET /api/v1/topology/<id>/visualization   the graph: each component's inputs and groupings

It binds 127.0.0.1 (``ui.host`` in storm.yaml to change) and port ``ui.port``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import yaml

from squall.storm.component_page import WINDOWS, component_json
from squall.storm.nimbus import (
    ALL_TIME,
    cluster_json,
    nimbus_client,
    supervisors_json,
    topology_json,
    topology_summary_json,
    visualization_json,
)

LOG = logging.getLogger("squall.storm.ui")


class NotFound(Exception):
    """No such topology or component."""


class BadRequest(Exception):
    """A query value Storm UI would not accept."""


def _window(query: dict[str, list[str]]) -> str:
    window = query.get("window", [ALL_TIME])[0]
    if window not in WINDOWS:
        raise BadRequest(f"window={window!r}: valid windows are {', '.join(WINDOWS)}")
    return window


def _routes(nimbus_host: str, nimbus_port: int) -> Callable[[str, dict[str, list[str]]], Any]:
    def answer(path: str, query: dict[str, list[str]]) -> Any:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] != ["api", "v1"] or len(parts) < 4:
            raise NotFound(path)
        rest = parts[2:]
        with nimbus_client(nimbus_host, nimbus_port) as nimbus:
            if rest == ["cluster", "summary"]:
                return cluster_json(nimbus.getClusterInfo())
            if rest == ["supervisor", "summary"]:
                return supervisors_json(nimbus.getClusterInfo())
            if rest == ["topology", "summary"]:
                topologies = nimbus.getClusterInfo().topologies
                return {"topologies": [topology_summary_json(t) for t in topologies]}
            if rest[0] == "topology":
                topology_id = rest[1]
                try:
                    info = nimbus.getTopologyInfo(topology_id)
                except Exception as exc:  # NotAliveException: an unknown id
                    raise NotFound(f"topology {topology_id!r}: {exc}") from exc
                if len(rest) == 2:
                    return topology_json(info, _window(query))
                if rest[2:] == ["visualization"]:
                    return visualization_json(nimbus.getTopology(topology_id), info)
                if len(rest) == 4 and rest[2] == "component":
                    found = component_json(info, rest[3], _window(query))
                    if found is None:
                        raise NotFound(f"topology {topology_id!r} has no component {rest[3]!r}")
                    return found
        raise NotFound(path)

    return answer


def make_server(host: str, port: int, nimbus_host: str, nimbus_port: int) -> ThreadingHTTPServer:
    answer = _routes(nimbus_host, nimbus_port)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlparse(self.path)
            try:
                body, status = answer(url.path, parse_qs(url.query)), 200
            except NotFound as exc:
                body, status = {"error": "Not Found", "errorMessage": str(exc)}, 404
            except BadRequest as exc:
                body, status = {"error": "Bad Request", "errorMessage": str(exc)}, 400
            except Exception as exc:  # Nimbus down or refusing: say so, keep serving
                LOG.exception("answering %s", self.path)
                body, status = (
                    {
                        "error": "Internal Server Error",
                        "errorMessage": f"{type(exc).__name__}: {exc}",
                    },
                    500,
                )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            LOG.info("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="storm ui", description="Storm UI's REST API")
    parser.add_argument(
        "--conf",
        required=True,
        help="storm.yaml to read nimbus.seeds, nimbus.thrift.port, ui.port from",
    )
    args = parser.parse_args(argv)
    conf = yaml.safe_load(Path(args.conf).read_text()) or {}
    seeds = conf.get("nimbus.seeds") or ["localhost"]
    nimbus_port = int(conf.get("nimbus.thrift.port", 6627))
    host, port = str(conf.get("ui.host", "127.0.0.1")), int(conf.get("ui.port", 8080))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s [%(levelname)s] %(message)s"
    )
    server = make_server(host, port, str(seeds[0]), nimbus_port)
    LOG.info(
        "Storm UI REST API on http://%s:%d/api/v1/ (Nimbus %s:%d)",
        host,
        port,
        seeds[0],
        nimbus_port,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

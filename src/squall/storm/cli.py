"""Provision Apache Storm and run a single-node Storm cluster on this machine.

``squall storm provision | start | stop | status | env | view`` (see :mod:`squall.storm.provision`,
:mod:`squall.storm.cluster`, :mod:`squall.storm.sparse_env` and :mod:`squall.ui.storm_view`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from squall.storm.cluster import DEFAULT_NIMBUS_PORT, DEFAULT_UI_PORT, StormCluster
from squall.storm.provision import provision
from squall.storm.sparse_env import shell_exports, sparse_environment
from squall.ui.storm_view import add_parser as add_view_parser


def _cluster(args: argparse.Namespace) -> StormCluster:
    return StormCluster(Path(args.dir) if args.dir else None)


def _provision(args: argparse.Namespace) -> int:
    provision(force=args.force)
    return 0


def _start(args: argparse.Namespace) -> int:
    provision(progress=lambda _m: None)
    _cluster(args).start(
        nimbus_port=args.nimbus_port, ui_port=args.ui_port, zookeeper_port=args.zookeeper_port
    )
    return 0


def _stop(args: argparse.Namespace) -> int:
    _cluster(args).stop()
    return 0


def _status(args: argparse.Namespace) -> int:
    report = _cluster(args).status()
    print(json.dumps(report, indent=2))
    return 0 if report["running"] else 1


def _env(args: argparse.Namespace) -> int:
    print(shell_exports(sparse_environment()))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "storm",
        help="Apache Storm: provision it, run a single-node cluster",
        description=__doc__.splitlines()[0],
    )
    commands = parser.add_subparsers(dest="storm_command", required=True)

    prov = commands.add_parser("provision", help="assemble Storm into .runtime/storm (idempotent)")
    prov.add_argument("--force", action="store_true", help="redo every step")
    prov.set_defaults(func=_provision)

    folder_help = "the cluster's folder (default: .runtime/storm/cluster)"
    start = commands.add_parser(
        "start", help="start ZooKeeper, Nimbus, a Supervisor (2 slots) and the UI"
    )
    start.add_argument("--dir", help=folder_help)
    start.add_argument(
        "--nimbus-port",
        type=int,
        default=DEFAULT_NIMBUS_PORT,
        help="Nimbus Thrift port (config.json's env must match; 0 = any free port)",
    )
    start.add_argument(
        "--ui-port", type=int, default=DEFAULT_UI_PORT, help="UI REST port (0 = any free port)"
    )
    start.add_argument(
        "--zookeeper-port", type=int, default=0, help="ZooKeeper port (default: any free port)"
    )
    start.set_defaults(func=_start)

    stop = commands.add_parser("stop", help="stop the cluster's daemons and workers (by pid)")
    stop.add_argument("--dir", help=folder_help)
    stop.set_defaults(func=_stop)

    status = commands.add_parser(
        "status", help="daemons, ports, topologies (JSON); exit 1 if not running"
    )
    status.add_argument("--dir", help=folder_help)
    status.set_defaults(func=_status)

    env = commands.add_parser(
        "env",
        help='the environment sparse needs, as an export line: eval "$(squall storm env)"',
    )
    env.set_defaults(func=_env)

    add_view_parser(commands)

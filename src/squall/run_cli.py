"""``squall run``: a topology on the embedded runner, with live progress and a summary."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from squall.engine.results import Snapshot
from squall.engine.runner import run_topology
from squall.errors import ConfigError
from squall.loading import load_topology, parse_option, run_conf, topology_name
from squall.log_lines import log_one_line_per_record
from squall.plan.topology import DEFAULT_CALIBRATE_S
from squall.ui.launch import add_arguments as add_ui_arguments
from squall.ui.launch import check_arguments as check_ui_arguments
from squall.ui.launch import start_live_view


class Progress:
    """One status line: rewritten in place on a terminal, printed every few seconds otherwise."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last_emitted = 0
        self.last_t = 0.0
        self.last_print = -1e9

    def __call__(self, elapsed: float, snap: Snapshot) -> None:
        emitted = snap.spout_emitted
        rate = (emitted - self.last_emitted) / max(elapsed - self.last_t, 1e-9)
        self.last_emitted, self.last_t = emitted, elapsed
        line = (
            f"[{elapsed:6.1f}s] spouts emitted {emitted} ({rate:,.0f}/s), "
            f"trees acked {snap.trees_acked}, failed {snap.trees_failed}, "
            f"in flight {snap.in_flight}, errors {snap.errors}"
        )
        if self.tty:
            self.stream.write("\r" + line + "   ")
            self.stream.flush()
        elif elapsed - self.last_print >= 5:
            self.last_print = elapsed
            print(line, file=self.stream, flush=True)

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a topology on the embedded runner (no JVM)",
        description="Run a streamparse Topology in pure Python with Storm's semantics. Options "
        "resolve as sparse does: -o > the Topology's config > config.json's environment options.",
    )
    p.add_argument("topology", help="a topology file (topologies/x.py) or module:Class")
    p.add_argument(
        "--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)"
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a topology option, e.g. -o topology.max.spout.pending=500 (repeatable)",
    )
    p.add_argument("-e", "--environment", default=None, help="config.json environment for options")
    p.add_argument(
        "--config", default="config.json", help="streamparse config file (default config.json)"
    )
    p.add_argument(
        "--until-idle", action="store_true", help="stop when no spout emits and all is processed"
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    admission = p.add_argument_group(
        "admission (squall plan before the run; docs/realtime.md)",
        "With --admit the run starts only if the topology plan at --rate meets every hard "
        "--deadline on --workers; a refusal exits 2 naming the analysis and its numbers.",
    )
    admission.add_argument(
        "--admit", action="store_true", help="plan first; refuse a run that misses"
    )
    admission.add_argument("--force", action="store_true", help="run even when --admit refuses")
    admission.add_argument(
        "--rate", type=float, default=None, help="offered readings/s (for --admit)"
    )
    admission.add_argument(
        "--deadline",
        action="append",
        default=[],
        metavar="COMPONENT=MS",
        help="a hard end-to-end deadline up to COMPONENT (repeatable; for --admit)",
    )
    admission.add_argument(
        "--calibrate-secs",
        type=float,
        default=DEFAULT_CALIBRATE_S,
        help=f"length of --admit's calibration run (default {DEFAULT_CALIBRATE_S:g}: windows fill)",
    )
    admission.add_argument(
        "--calibrate-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the calibration run only, e.g. an unpaced spout (repeatable)",
    )
    add_ui_arguments(p)
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    log_one_line_per_record(logging.INFO)
    # kafka-python narrates every connection and group join at INFO; its warnings still show.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: need at least 1")
    check_ui_arguments(args)
    if ":" in args.topology and os.getcwd() not in sys.path:
        sys.path.insert(
            0, os.getcwd()
        )  # module:Class resolves from the current folder, as `python -m` does
    topology = load_topology(args.topology)
    options = dict(parse_option(o) for o in args.option)
    conf = run_conf(topology, options, Path(args.config), args.environment)
    name = topology_name(args.topology)
    if args.admit and not _admitted(args, topology, conf, name):
        return 2
    view = start_live_view(args, topology, name) if args.ui else None
    progress = None if args.quiet else Progress()
    try:
        result = run_topology(
            topology,
            conf,
            seconds=args.seconds,
            workers=args.workers,
            name=name,
            until_idle=args.until_idle,
            progress=progress,
            live=None if view is None else view.feed,
        )
        if progress is not None:
            progress.done()
        print(result.summary_table(), flush=True)
        for err in result.errors[:5]:
            print(f"error: {err}", file=sys.stderr)
        if view is not None:
            view.finish(result)
            view.linger()
    finally:
        if view is not None:
            view.close()
    return 0


def declared_hard_deadlines(
    topology: Any, conf: dict[str, Any], name: str | None
) -> dict[str, float]:
    """The hard stream declarations as ``--deadline``s (seconds by component): each hard spout stream's D on every
    sink (component without subscribers) its tuples reach. On the safe side: a sink reached
    only through an unanchored hop (a trend feed) gets the deadline too."""
    from squall.engine.model import build_model
    from squall.engine.realtime_runtime import load_deadlines
    from squall.engine.runner import resolve_conf

    model = build_model(topology, name)
    declared = load_deadlines(model, resolve_conf(topology, conf))
    readers: dict[str, set[str]] = {}
    for (source, _stream), subs in model.subscribers.items():
        readers.setdefault(source, set()).update(sub.consumer for sub in subs)
    out: dict[str, float] = {}
    for d in declared:
        if d.criticality != "hard" or not model.components[d.component].is_spout:
            continue
        first = {s.consumer for s in model.subscribers.get((d.component, d.stream), [])}
        seen, todo = set(first), list(first)
        while todo:
            for nxt in readers.get(todo.pop(), set()) - seen:
                seen.add(nxt)
                todo.append(nxt)
        for sink in (c for c in seen if not readers.get(c)):
            out[sink] = min(out.get(sink, d.deadline_s), d.deadline_s)  # seconds, as parsed
    return out


def _admitted(
    args: argparse.Namespace, topology: Any, conf: dict[str, Any], name: str | None
) -> bool:
    """Plan the run first (``--admit``): False, with the reason printed, when a hard deadline
    would be missed and ``--force`` was not given."""
    from squall.plan.topology_cli import parse_deadlines, plan_topology, refusal

    deadlines = parse_deadlines(args.deadline) if args.deadline else {}
    if not deadlines:
        deadlines = declared_hard_deadlines(topology, conf, name)
    if args.rate is None or not deadlines:
        raise ConfigError(
            "--admit needs the offered --rate (readings/s) and a hard deadline to check: "
            "--deadline COMPONENT=MS, or a hard stream declared in the topology's config "
            "(squall.realtime.<spout>.<stream>.criticality: hard; docs/realtime.md)"
        )
    calibration = {**conf, **dict(parse_option(o) for o in args.calibrate_option)}
    result, _ = plan_topology(
        topology, calibration, name, args.rate, args.workers, deadlines, args.calibrate_secs
    )
    reason = refusal(result)
    if reason is None:
        print(
            f"squall run: admitted: every deadline holds at {args.rate:,.0f} readings/s",
            file=sys.stderr,
        )
        return True
    if args.force:
        print(f"squall run: --force: running although {reason}", file=sys.stderr)
        return True
    print(f"squall run: refused: {reason}; --force runs anyway", file=sys.stderr)
    return False

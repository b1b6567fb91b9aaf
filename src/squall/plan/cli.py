"""``squall plan TASKSET.yaml`` and ``squall plan TOPOLOGY.py --rate R``: will it meet its
deadlines? A table by default, ``--json`` for tools (the shape is in docs/realtime.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from squall.plan.model import PlanError, TaskSet, TestResult, as_number, task
from squall.plan.topology import DEFAULT_CALIBRATE_S

POLICIES = ("edf", "llf", "rm", "dm", "fixed")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plan",
        help="schedulability analysis of a task set (YAML) or a topology at a rate",
        description="Schedulability analysis in the course's notation (C, T, D, J, B): "
        "utilization bounds, response-time analysis, EDF processor demand, density, LLF and a "
        "cyclic executive for a task-set file; per-worker utilization, the bottleneck and the "
        "sustainable rate for a topology file.",
    )
    p.add_argument(
        "target", help="a task-set file (.yaml/.yml) or a topology (.py or module:Class)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--gantt", metavar="PNG", help="task set: draw the cyclic executive's grid")
    p.add_argument(
        "--admit",
        metavar="NAME:C:T[:D]",
        help="task set: does this sporadic task fit too? (exit 2 when it does not)",
    )
    p.add_argument(
        "--policy", choices=POLICIES, default="edf", help="scheduling policy for --admit"
    )
    p.add_argument("--rate", type=float, help="topology: total readings/s offered")
    p.add_argument("--workers", type=int, default=1, help="topology: worker processes")
    p.add_argument(
        "--deadline",
        action="append",
        default=[],
        metavar="COMPONENT=MS",
        help="topology: end-to-end deadline of what COMPONENT emits (repeatable)",
    )
    p.add_argument(
        "--calibrate-secs",
        type=float,
        default=DEFAULT_CALIBRATE_S,
        help=f"topology: calibration run length (default {DEFAULT_CALIBRATE_S:g}: windows fill)",
    )
    p.add_argument(
        "--calibrations",
        type=int,
        default=1,
        metavar="N",
        help="topology: calibrate N times and plan from the median one (default 1)",
    )
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="topology: an option for the calibration run, as `squall run -o`",
    )
    p.set_defaults(func=plan_command)


def plan_command(args: argparse.Namespace) -> int:
    target = args.target
    if target.endswith((".yaml", ".yml")):
        return _plan_taskset(args)
    from squall.plan.topology_cli import plan_topology_command

    return plan_topology_command(args)


def _plan_taskset(args: argparse.Namespace) -> int:
    from squall.plan.analysis import analyse
    from squall.plan.cyclic import cyclic_schedule, text_grid
    from squall.plan.taskset_file import load_taskset

    ts = load_taskset(args.target)
    results = analyse(ts)
    schedule = cyclic_schedule(ts)
    admission = None
    if args.admit:
        from squall.plan.admission import admit

        admission = admit(ts, parse_task(args.admit), args.policy)
    if args.gantt:
        from squall.plan.gantt import write_gantt

        write_gantt(schedule, Path(args.gantt))
    if args.json:
        out: dict[str, Any] = {
            "units": ts.units,
            "utilization": as_number(ts.U),
            "tests": [r.to_json() for r in results],
            "cyclic_executive": schedule.to_json(),
        }
        if admission is not None:
            out["admission"] = {
                "admitted": admission.admitted,
                "test": admission.decided_by.to_json(),
                "message": admission.message(),
            }
        print(json.dumps(out, indent=2))
    else:
        print(taskset_table(ts))
        print()
        print(results_table(results))
        print()
        print(text_grid(schedule))
        if args.gantt:
            print(f"Gantt chart: {args.gantt}")
        if admission is not None:
            print()
            print(admission.message())
    if admission is not None and not admission.admitted:
        return 2
    return 0


def parse_task(text: str) -> Any:
    """``NAME:C:T[:D]`` (the --admit task)."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or not parts[0]:
        raise PlanError(f"--admit {text!r}: expected NAME:C:T or NAME:C:T:D, e.g. alerts:2:10:5")
    return task(parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else None)


def _n(value: Any) -> str:
    number = as_number(value)
    if number is None:
        return "-"
    return f"{number:g}" if isinstance(number, float) else str(number)


def taskset_table(ts: TaskSet) -> str:
    rows = [("task", "C", "T", "D", "J", "B", "prio", "U")]
    for t in ts.tasks:
        prio = "-" if t.priority is None else str(t.priority)
        rows.append(
            (t.name, _n(t.C), _n(t.T), _n(t.D), _n(t.J), _n(t.B), prio, f"{float(t.U):.4f}")
        )
    lines = _columns(rows)
    lines.append(f"{len(ts.tasks)} tasks, U = {float(ts.U):.4f} ({_n(ts.U)}), times in {ts.units}")
    return "\n".join(lines)


def results_table(results: list[TestResult]) -> str:
    rows = [("test", "policy", "kind", "verdict", "value", "bound", "details")]
    for r in results:
        details = r.note
        if r.response_times is not None:
            shown = ", ".join(
                f"{k}={_n(v) if v is not None else '>D'}" for k, v in r.response_times.items()
            )
            details = f"R: {shown}" + (f"; {r.note}" if r.note else "")
        if r.first_violation is not None:
            details = f"demand > t first at t={_n(r.first_violation)}" + (
                f"; {r.note}" if r.note else ""
            )
        value = f"{float(r.value):.4f}" if r.value is not None else "-"
        bound = f"{float(r.bound):.4f}" if r.bound is not None else "-"
        rows.append((r.name, r.policy, r.kind.value, r.verdict.value, value, bound, details))
    return "\n".join(_columns(rows))


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        out.append("  ".join(cells + [r[-1]]).rstrip())
    return out

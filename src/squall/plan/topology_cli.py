"""``squall plan TOPOLOGY.py --rate R``: measure the components' costs, then plan at that rate.

The costs come from a calibration run on the embedded runner (one worker): each bolt's mean and
longest execute time and tuples per reading from the run's counters, the runner's own cost per
reading from the process's CPU time (so a paced spout's idle time does not count as work), the
rate it ran at and its longest garbage-collection pause. A windowed bolt's periodic work comes
once per slide (read from its window), which may be several ticks.

``--json`` prints ``{"topology": ...}`` (``TopologyPlan.to_json``): the costs, each worker's
utilization, ``max_rate``, ``max_rate_meeting_deadlines``, ``bottleneck``, ``deadlines`` (each
``deadline_ms``, ``response_ms``, ``holds``), ``smallest_workers`` (the smallest worker count
that fits, null: none up to the cores) and ``smallest_parallelism`` (``{"component", "par"}``:
the smallest parallelism of the bottleneck component that fits on ``--workers``; ``par`` null:
none up to ``MAX_PARALLELISM``).
Calibrate unpaced where the spout allows it, e.g. for the health topology
``-o health.producers.rate.per.producer.hz=0``: more readings, steadier means.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import time
from typing import Any

from squall.engine.run_settings import RunSettings
from squall.plan.model import PlanError
from squall.plan.topology import MAX_PARALLELISM, ComponentCost, Costs, TopologyPlan, plan

# Readings in flight the calibration allows: a reading that raises an alert stays in flight
# while its alert sits in the windows (the health topology's: window + slide + lag, ~13 s), and
# an unpaced spout held back by max.spout.pending would leave the worker idle.
CALIBRATION_PENDING = 500_000


def _pending(conf: dict[str, Any]) -> int:
    value = conf.get("topology.max.spout.pending")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class _GcPauses:
    """Garbage-collection pauses while installed (``gc.callbacks``): the longest, and when
    each longer one happened (on ``perf_counter``, as the executors time their executes)."""

    KEEP_S = 0.001  # shorter pauses (young collections) are not kept: they cannot matter here

    def __init__(self) -> None:
        self.longest_s = 0.0
        self._start = 0.0
        self.pauses: list[tuple[float, float]] = []  # (start, end) of each pause >= KEEP_S

    def __call__(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        end = time.perf_counter()
        pause = end - self._start
        self.longest_s = max(self.longest_s, pause)
        if pause >= self.KEEP_S:
            self.pauses.append((self._start, end))

    def within(self, start: float, length: float) -> float:
        """Seconds of pauses inside ``[start, start + length]``."""
        end = start + length
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.pauses)


def _evaluation_period_s(cls: type, conf: dict[str, Any]) -> float:
    """How often a windowed bolt evaluates its windows: its slide when that is a duration, 0
    otherwise (not a windowed bolt, or a count slide: the tick period stands for it).

    Its ticks only advance the watermark; the evaluation, its longest execute, comes once per
    slide (measured on the health topology: 1 s ticks, an evaluation every 2 s).
    """
    from squall.windowed_bolt import WindowedBolt
    from squall.windows.spec import Duration, WindowSpec

    if not (isinstance(cls, type) and issubclass(cls, WindowedBolt)):
        return 0.0
    spec = cls.window
    if spec is None:
        try:
            # window_spec(conf) builds the window from the Storm config alone, before
            # initialize; an instance without __init__ is enough to call it
            spec = cls.window_spec(cls.__new__(cls), conf)
        except Exception:  # noqa: BLE001 - a bolt that needs more: the tick period stands
            return 0.0
    if not isinstance(spec, WindowSpec) or not isinstance(spec.slide, Duration):
        return 0.0
    return spec.slide.ms / 1000.0


def calibrate(
    topology: Any, conf: dict[str, Any], seconds: float, name: str | None = None
) -> Costs:
    """Run ``topology`` for ``seconds`` on one worker and read its costs."""
    from squall import run_topology
    from squall.engine.model import build_model
    from squall.engine.runner import resolve_conf

    model = build_model(topology, name)
    # Saturate the worker: a small max.spout.pending (with windows holding tuples) would idle
    # it and make polling look like work. The CPU per reading is read between progress
    # samples, past start-up (imports, component initialization).
    conf = {**conf, "topology.max.spout.pending": max(CALIBRATION_PENDING, _pending(conf))}
    settings = RunSettings.from_conf(resolve_conf(topology, conf))
    samples: list[tuple[float, float, int]] = []

    def sample(_elapsed: float, snap: Any) -> None:
        samples.append((time.monotonic(), time.process_time(), snap.spout_emitted))

    pauses = _GcPauses()
    gc.callbacks.append(pauses)
    try:
        result = run_topology(
            topology, conf, seconds=seconds, name=name, progress=sample, progress_every_s=0.25
        )
    finally:
        gc.callbacks.remove(pauses)
    steady = samples[1:] if len(samples) > 2 else samples
    if len(steady) < 2 or steady[-1][2] == steady[0][2]:
        raise PlanError(
            f"the calibration run ({seconds:g} s) emitted too few tuples from its spouts to "
            "measure; run longer (--calibrate-secs) or give the spout input"
        )
    wall = steady[-1][0] - steady[0][0]
    cpu = steady[-1][1] - steady[0][1]
    readings = steady[-1][2] - steady[0][2]
    emitted = sum(result.stats[c.name].emitted for c in model.spouts if c.name in result.stats)
    components: dict[str, ComponentCost] = {}
    for comp in model.components.values():
        stats = result.stats.get(comp.name)
        executed = stats.executed if stats else 0
        mean = stats.exec_seconds / executed if stats and executed else 0.0
        visits = (stats.emitted if comp.is_spout else executed) / emitted if stats else 0.0
        tick = settings.component_conf(comp).get("topology.tick.tuple.freq.secs")
        ticked = bool(tick)
        components[comp.name] = ComponentCost(
            comp.name,
            comp.par,
            comp.is_spout,
            0.0 if comp.is_spout else mean,
            visits,
            tuple(sorted({s.source for s in comp.inputs})),
            # net of the garbage collections inside it: B counts one GC pause of its own, and
            # a collection that struck during the longest evaluation was counted twice (a
            # 15 s calibration's longest trend execute ranged 483-1,090 ms at one rate)
            longest_s=max(
                0.0,
                stats.exec_max_seconds
                - pauses.within(stats.exec_max_started, stats.exec_max_seconds),
            )
            if stats
            else 0.0,
            ticked=ticked and not comp.is_spout,
            tick_s=float(tick) if tick else 0.0,
            period_s=_evaluation_period_s(comp.cls, settings.component_conf(comp)),
        )
    work = sum(c.per_tuple_s * c.visits for c in components.values())
    overhead = max(0.0, cpu / readings - work)
    rate = readings / wall if wall > 0 else 0.0
    source = (
        f"calibration run: {seconds:g} s, {emitted} readings ({rate:,.0f}/s in steady state), "
        f"{cpu / readings * 1e3:.4f} ms CPU per reading, longest GC pause "
        f"{pauses.longest_s * 1e3:.1f} ms"
    )
    return Costs(components, overhead, source, calibration_rate=rate, gc_pause_s=pauses.longest_s)


def plan_topology(
    topology: Any,
    conf: dict[str, Any],
    name: str | None,
    rate: float,
    workers: int,
    deadlines: dict[str, float],
    calibrate_secs: float,
    calibrations: int = 1,
) -> tuple[TopologyPlan, Costs]:
    """Calibrate ``topology`` with ``conf`` and plan it at ``rate`` on ``workers``.

    With ``calibrations`` > 1 it calibrates that many times, one after the other, and plans
    from the median one: the one whose plan sustains the median rate. On a shared machine
    single 15 s calibrations of the health topology, a minute apart, predicted rates ±17%
    around their median (bench/README.md); a real calibration is kept rather than a mix of
    several, so that every number the plan shows comes from one run."""
    from squall.engine.runner import resolve_conf

    if rate <= 0:
        raise PlanError(f"--rate {rate:g}: a topology plan needs the offered rate (readings/s) > 0")
    if workers < 1:
        raise PlanError(f"--workers {workers}: need at least 1")
    if calibrations < 1:
        raise PlanError(f"--calibrations {calibrations}: need at least 1")
    settings = RunSettings.from_conf(resolve_conf(topology, conf))
    candidates = []
    for _ in range(calibrations):
        costs = calibrate(topology, conf, calibrate_secs, name)
        unknown = sorted(set(deadlines) - set(costs.components))
        if unknown:
            raise PlanError(
                f"--deadline names {unknown}, not components of the topology; components: "
                f"{sorted(costs.components)}"
            )
        candidates.append((plan_at(costs, settings, rate, workers, deadlines), costs))
    if calibrations == 1:
        return candidates[0]
    return _median_plan(candidates)


def _sustained(result: TopologyPlan) -> float:
    """The rate a plan says the topology sustains: with its deadlines when it has any."""
    meeting = result.max_rate_meeting_deadlines
    return meeting if meeting is not None else result.max_rate


def _median_plan(candidates: list[tuple[TopologyPlan, Costs]]) -> tuple[TopologyPlan, Costs]:
    """The calibration whose plan sustains the median rate (the lower one of an even count),
    its source saying which and the others' range."""
    ranked = sorted(candidates, key=lambda pc: _sustained(pc[0]))
    result, costs = ranked[(len(ranked) - 1) // 2]
    low, high = _sustained(ranked[0][0]), _sustained(ranked[-1][0])
    source = (
        f"median of {len(ranked)} calibrations by the rate their plans sustain "
        f"({low:,.0f}-{high:,.0f} readings/s): {costs.source}"
    )
    return result, dataclasses.replace(costs, source=source)


def plan_at(
    costs: Costs,
    settings: RunSettings,
    rate: float,
    workers: int,
    deadlines: dict[str, float],
) -> TopologyPlan:
    """``plan`` with the runner's batch sizes from ``settings`` and this machine's cores: a
    spout task emits up to ``squall.spout.batch`` readings a turn, released together."""
    spouts = [c for c in costs.components.values() if c.is_spout]
    burst = max(settings.spout_batch * sum(c.par for c in spouts), 1)
    return plan(costs, rate, workers, os.cpu_count() or 1, deadlines, settings.batch, burst)


def refusal(result: TopologyPlan) -> str | None:
    """Why a run at this plan would miss a hard deadline (None: every deadline holds)."""
    missed = [n for n in result.deadlines_s if not result.holds(n)]
    if not missed:
        return None
    parts = []
    for name in missed:
        r = result.responses_s[name]
        shown = "unbounded" if r is None else f"{r * 1000:.2f} ms"
        parts.append(
            f"{name} worst-case response {shown} > deadline {result.deadlines_s[name] * 1000:g} ms"
        )
    busiest = max(result.worker_utilization)
    return (
        f"topology plan (non-preemptive response-time analysis, {result.workers} worker(s)): "
        f"{'; '.join(parts)} at {result.rate:,.0f} readings/s (busiest worker's utilization "
        f"{busiest:.2f}; sustainable up to {result.max_rate:,.0f} readings/s)"
    )


def plan_topology_command(args: argparse.Namespace) -> int:
    from squall.loading import load_topology, parse_option, run_conf, topology_name

    topology = load_topology(args.target)
    conf = run_conf(topology, dict(parse_option(o) for o in args.option))
    result, costs = plan_topology(
        topology,
        conf,
        topology_name(args.target),
        args.rate if args.rate is not None else 0.0,
        args.workers,
        parse_deadlines(args.deadline),
        args.calibrate_secs,
        args.calibrations,
    )
    if args.json:
        print(json.dumps({"topology": result.to_json(costs)}, indent=2))
    else:
        print(topology_report(result, costs))
    return 0


def parse_deadlines(items: list[str]) -> dict[str, float]:
    """``COMPONENT=MS`` items -> seconds by component."""
    out: dict[str, float] = {}
    for item in items:
        comp, sep, ms = item.partition("=")
        try:
            value = float(ms)
        except ValueError:
            value = -1.0
        if not sep or not comp or value <= 0:
            raise PlanError(
                f"--deadline {item!r}: expected COMPONENT=MS with MS > 0, e.g. console=50"
            )
        out[comp] = value / 1000.0
    return out


def topology_report(result: TopologyPlan, costs: Costs) -> str:
    lines = [f"costs from the {costs.source}", ""]
    lines.append(
        f"{'component':<14}{'par':>4}{'per tuple ms':>14}{'tuples/reading':>16}{'ms/reading':>12}"
    )
    for name in sorted(costs.components):
        c = costs.components[name]
        lines.append(
            f"{name:<14}{c.par:>4}{c.per_tuple_s * 1000:>14.4f}{c.visits:>16.3f}"
            f"{costs.loaded_s(name) * 1000:>12.4f}"
        )
    lines.append(
        f"one reading costs {costs.reading_s() * 1000:.4f} ms "
        f"(runner overhead {costs.overhead_s * 1000:.4f} ms)"
    )
    lines.append("")
    lines.append(
        f"at {result.rate:,.0f} readings/s on {result.workers} worker(s), "
        f"{result.processors} processor(s):"
    )
    for w, u in enumerate(result.worker_utilization):
        lines.append(f"  worker {w}: utilization {u:.2f}  ({', '.join(result.assignment[w])})")
    lines.append(
        f"  sustainable up to {result.max_rate:,.0f} readings/s; bottleneck: worker "
        f"{result.bottleneck_worker}, task {result.bottleneck_task}"
    )
    lines.append(
        f"  blocking B = {result.blocking_s * 1000:.2f} ms (one batch, or one periodic "
        "evaluation of a ticked component at this rate, plus one GC pause)"
    )
    periodic = [
        f"{n} every {c.evaluation_period_s:g} s"
        for n, c in sorted(costs.components.items())
        if c.ticked and c.evaluation_period_s > 0
    ]
    if periodic:
        lines.append(f"  periodic evaluations: {', '.join(periodic)}")
    if result.max_rate_meeting_deadlines is not None:
        lines.append(
            f"  every deadline holds up to {result.max_rate_meeting_deadlines:,.0f} readings/s"
        )
    for name, deadline in result.deadlines_s.items():
        r = result.responses_s[name]
        shown = "unbounded (past the sustainable rate)" if r is None else f"{r * 1000:.2f} ms"
        verdict = "holds" if result.holds(name) else "MISSED"
        lines.append(
            f"  {name}: worst-case response {shown}, deadline {deadline * 1000:g} ms: {verdict}"
        )
    if result.deadlines_s or result.max_rate <= result.rate:
        smallest = result.smallest_workers
        lines.append(
            f"  smallest worker count that fits: {smallest}"
            if smallest is not None
            else "  no worker count up to the cores fits: lower the rate or the per-reading cost"
        )
        comp, par = result.smallest_parallelism
        lines.append(
            f"  smallest parallelism of {comp} (the bottleneck) that fits on "
            f"{result.workers} worker(s): {par}"
            if par is not None
            else f"  no parallelism of {comp} (the bottleneck) up to {MAX_PARALLELISM} fits on "
            f"{result.workers} worker(s)"
        )
    return "\n".join(lines)

"""A topology at a rate, modelled as the embedded runner really schedules it.

Inputs are measured costs (``Costs``: per component, the mean execute time of one tuple and how
many tuples it executes per reading; plus the runner's own cost per reading) and the topology's
shape. The model:

- **Utilization.** Each reading costs its components' work plus the runner's overhead (emit,
  route, ack: spread over the components in proportion to the tuples they handle). A task's
  share of its component's work is 1/par (shuffle and fields groupings spread evenly). Tasks are
  dealt to worker processes round-robin by task id, as ``squall run --workers`` deals them. A
  worker's utilization is rate x the per-reading cost of its tasks.
- **Processors.** A worker is a processor only when it really has a core: with more workers than
  cores, the cores are shared, so the total utilization must also stay within the core count.
- **Sustainable rate**: the largest rate keeping every worker below 1 and the total within the
  cores. The **bottleneck** is the busiest worker and its costliest task.
- **Worst-case response** of a reading up to a component X (RTA on one non-preemptive
  processor): the busy window ``w = B + (burst - 1) * C_reading + C_path(X)`` plus the work of
  the readings released during it, ``U_own * w``, plus the periodic evaluations that come due
  in it after the one in B (``E * floor(w / P)``, P the evaluation period); ``R`` is the least
  fixed point, with U_own the readings' own utilization (without the periodic work, which is
  counted as itself: its share E / P is taken out of U). Below one period this is
  ``R = w / (1 - U_own)``. The runner runs one executor's
  batch, and one execute, to the end before the next (non-preemptive), so a reading can be
  blocked by the longest of: one batch of the costliest work (``squall.batch * max per-tuple
  cost``), or one periodic evaluation of a ticked component (a window: its longest execute in
  the calibration, scaled by rate / the calibration's rate since a window holds rate x length
  tuples); plus one garbage-collection pause (the longest in the calibration, scaled alike:
  the heap a full collection walks is mostly the tuples in flight). A window is evaluated once
  per slide, not once per tick: P is the slide when it is longer than the tick (the health
  topology's trend: ticks every 1 s, evaluations every 2 s, measured). ``burst`` readings can be
  released together (the producers are synchronous in the worst case; the spout emits up to
  ``squall.spout.batch`` per turn), and FIFO order makes the last of them wait for the others'
  whole work ``C_reading``. ``C_path(X)`` is the costliest spout-to-X path's work. It holds
  while the worker is below full utilization; above, the backlog (and R) grows without bound.

Tick-driven work counts twice, as it costs twice: in the mean execute times it inflates (the
utilization) and as the blocking above (the response). Cross-process transfer costs are not
modelled (about 7% measured, bench/).

**Smallest parallelism.** Only a component's tasks move when its parallelism changes (each
takes 1/par of its work, dealt round-robin), so the search is over the bottleneck component's
parallelism at the given worker count. On one worker every task shares the one loop and
parallelism changes nothing: the answer is 1 when the plan fits, none when it does not. The
calibrated window evaluation is kept as measured (a fields grouping by key need not split a
window further with more tasks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

# Long enough for the health topology's 10 s windows to fill and be evaluated a few times: a
# shorter run sees nearly empty windows, and so too little window work (bench/README.md, plan).
DEFAULT_CALIBRATE_S = 15.0
# How far the search for the smallest parallelism of the bottleneck component goes.
MAX_PARALLELISM = 64


@dataclass(frozen=True)
class ComponentCost:
    name: str
    par: int
    is_spout: bool
    per_tuple_s: float  # mean execute time of one tuple (0 for spouts: their cost is overhead)
    visits: float  # tuples executed per reading (emitted per reading for spouts)
    inputs: tuple[str, ...] = ()
    # the longest single execute seen, and whether the component gets tick tuples: a ticked
    # component's longest execute is its periodic work (a window evaluation), which holds the
    # loop for as long as the window's content takes, so it grows with the rate
    longest_s: float = 0.0
    ticked: bool = False
    tick_s: float = 0.0  # the tick period of a ticked component
    # How often its periodic work (the longest execute) runs: a window is evaluated once per
    # slide, which may be several ticks (0: every tick). Its share of the processor is
    # longest / period, so a period taken too short overstates the share taken out of the
    # readings' utilization, and understates the response (it did: 1 s ticks, 2 s slides).
    period_s: float = 0.0

    @property
    def evaluation_period_s(self) -> float:
        """The periodic work's period: the evaluation period, at least a tick."""
        return max(self.period_s, self.tick_s)


@dataclass(frozen=True)
class Costs:
    components: dict[str, ComponentCost]
    overhead_s: float  # the runner's cost per reading beyond the components' execute time
    source: str  # where the numbers come from (a calibration run, a results file)
    calibration_rate: float = 0.0  # readings/s while the costs were measured (0: unknown)
    gc_pause_s: float = 0.0  # the longest garbage-collection pause seen

    def periodic_share(self, rate: float) -> float:
        """The share of the processor periodic evaluations take at ``rate`` (each ticked
        component's longest execute, scaled like the blocking, once per evaluation period)."""
        scale = rate / self.calibration_rate if self.calibration_rate > 0 else 1.0
        return sum(
            c.longest_s * scale / c.evaluation_period_s
            for c in self.components.values()
            if c.ticked and c.evaluation_period_s > 0
        )

    def blocking_s(self, rate: float, batch: int) -> float:
        """The longest the loop can be held by work that is not the reading's own, at ``rate``.

        The runner never interrupts an executor's batch or a single execute: a reading can wait
        for one batch of the costliest work, or for one periodic evaluation of a ticked
        component (scaled from the calibration's rate to ``rate``: a window holds rate x its
        length tuples), whichever is longer, plus one garbage-collection pause (scaled alike).
        """
        scale = rate / self.calibration_rate if self.calibration_rate > 0 else 1.0
        periodic_s = max(self.evaluations_s(rate).values(), default=0.0)
        # the heap a full collection walks is mostly the tuples in flight, which grow with rate
        return max(self.batch_s(batch), periodic_s) + self.gc_pause_s * scale

    def batch_s(self, batch: int) -> float:
        """One batch of the costliest work: what a non-periodic execute can hold the loop for."""
        return batch * max((c.per_tuple_s for c in self.components.values()), default=0.0)

    def evaluations_s(self, rate: float) -> dict[str, float]:
        """Each ticked component's periodic evaluation at ``rate`` (its longest execute in the
        calibration, scaled by rate: a window holds rate x its length tuples)."""
        scale = rate / self.calibration_rate if self.calibration_rate > 0 else 1.0
        return {n: c.longest_s * scale for n, c in self.components.items() if c.ticked}

    def work_s(self, name: str) -> float:
        """Per-reading execute work of a component."""
        c = self.components[name]
        return c.per_tuple_s * c.visits

    def reading_s(self) -> float:
        """Everything one reading costs a processor."""
        return sum(self.work_s(n) for n in self.components) + self.overhead_s

    def loaded_s(self, name: str) -> float:
        """Per-reading cost of a component with its share of the runner's overhead."""
        total_visits = sum(c.visits for c in self.components.values()) or 1.0
        share = self.overhead_s * self.components[name].visits / total_visits
        return self.work_s(name) + share


@dataclass
class TopologyPlan:
    rate: float
    workers: int
    processors: int
    worker_utilization: list[float]
    total_utilization: float
    max_rate: float
    bottleneck_worker: int
    bottleneck_task: str
    responses_s: dict[str, float | None]  # component -> worst-case response (None: unbounded)
    deadlines_s: dict[str, float]
    smallest_workers: int | None
    # the bottleneck component and its smallest parallelism that fits on ``workers`` (None:
    # none up to MAX_PARALLELISM)
    smallest_parallelism: tuple[str, int | None] = ("-", None)
    blocking_s: float = 0.0  # B at this rate
    batch: int = 1  # squall.batch: the tuples a task runs per turn
    burst: int = 1  # readings released together (squall.spout.batch x spout tasks)
    # the highest rate at which every deadline holds (None: no deadline given; 0: none holds)
    max_rate_meeting_deadlines: float | None = None
    assignment: dict[int, list[str]] = field(default_factory=dict)  # worker -> "comp#task"

    def holds(self, component: str) -> bool:
        r = self.responses_s.get(component)
        return r is not None and r <= self.deadlines_s[component]

    def to_json(self, costs: Costs) -> dict[str, Any]:
        ms = 1000.0
        return {
            "blocking_ms": self.blocking_s * ms,
            "batch": self.batch,
            "burst": self.burst,
            "units": "ms",
            "rate": self.rate,
            "workers": self.workers,
            "processors": self.processors,
            "calibration": {
                "source": costs.source,
                "reading_ms": costs.reading_s() * ms,
                "overhead_ms": costs.overhead_s * ms,
            },
            "components": {
                n: {
                    "par": c.par,
                    "per_tuple_ms": c.per_tuple_s * ms,
                    "visits": c.visits,
                    "per_reading_ms": costs.loaded_s(n) * ms,
                }
                for n, c in costs.components.items()
            },
            "worker_utilization": self.worker_utilization,
            "total_utilization": self.total_utilization,
            "max_rate": self.max_rate,
            "max_rate_meeting_deadlines": self.max_rate_meeting_deadlines,
            "bottleneck": {"worker": self.bottleneck_worker, "task": self.bottleneck_task},
            "assignment": {str(w): tasks for w, tasks in self.assignment.items()},
            "deadlines": {
                n: {
                    "deadline_ms": d * ms,
                    "response_ms": None
                    if self.responses_s[n] is None
                    else self.responses_s[n] * ms,  # type: ignore[operator]
                    "holds": self.holds(n),
                }
                for n, d in self.deadlines_s.items()
            },
            "smallest_workers": self.smallest_workers,
            "smallest_parallelism": {
                "component": self.smallest_parallelism[0],
                "par": self.smallest_parallelism[1],
            },
        }


def deal_tasks(costs: Costs, workers: int) -> dict[int, list[tuple[str, int]]]:
    """(component, task index) per worker: task ids in Storm's order (components sorted by
    name, counting up), dealt round-robin as the multi-process runner does."""
    ordered = [(n, i) for n in sorted(costs.components) for i in range(costs.components[n].par)]
    out: dict[int, list[tuple[str, int]]] = {w: [] for w in range(workers)}
    for k, item in enumerate(ordered):
        out[k % workers].append(item)
    return out


def path_work_s(costs: Costs, target: str) -> float:
    """The costliest spout-to-``target`` path's per-reading work (the topology is a DAG)."""
    memo: dict[str, float] = {}

    def best(name: str, seen: frozenset[str]) -> float:
        if name in memo:
            return memo[name]
        comp = costs.components[name]
        upstream = [best(i, seen | {name}) for i in comp.inputs if i not in seen]
        # one visit's cost, times the visits one reading causes (at least the one that counts)
        per_visit = costs.loaded_s(name) / comp.visits if comp.visits > 0 else comp.per_tuple_s
        memo[name] = per_visit * max(comp.visits, 1.0) + (max(upstream) if upstream else 0.0)
        return memo[name]

    return best(target, frozenset())


def _per_worker_s(
    costs: Costs, workers: int
) -> tuple[dict[int, list[tuple[str, int]]], list[float]]:
    dealt = deal_tasks(costs, workers)
    loads = [
        sum(costs.loaded_s(n) / costs.components[n].par for n, _ in dealt[w])
        for w in range(workers)
    ]
    return dealt, loads


def _max_rate(per_worker: list[float], processors: int) -> float:
    limits = [1.0 / c for c in per_worker if c > 0]
    if sum(per_worker) > 0:
        limits.append(processors / sum(per_worker))
    return min(limits) if limits else float("inf")


# A busy window longer than this is as good as unbounded (and stops the fixed-point iteration
# when the periodic work and the readings leave nothing to catch up with).
HORIZON_S = 3600.0


def _response_s(
    costs: Costs, target: str, rate: float, batch: int, burst: int, workers: int
) -> float:
    """Response-time analysis for one reading: the least w with
    ``w = B + (burst - 1) C + C_path + U w + sum_j E_j n_j(w)``: the blocking, the readings
    released together, the path, the readings released meanwhile (U, the readings' own
    utilization) and the periodic evaluations that come due meanwhile (E_j every P_j).

    The periodic work is counted as itself, not in U (its share E_j / P_j is taken out). One
    evaluation is in B already: the one B holds comes again floor(w / P) times, any other
    ceil(w / P) times. Without the later evaluations (w below a period) this is the classic
    w = base / (1 - U); with them, a busy window longer than a period (which the readings' own
    catch-up makes, at U near 1 - E / P) meets the next evaluation and grows again, which
    ``base / (1 - U)`` alone does not see. Infinite when nothing is left to catch up.
    """
    base = costs.blocking_s(rate, batch) + (burst - 1) * costs.reading_s()
    base += path_work_s(costs, target)
    # the busiest worker's readings' work (all of it on one worker)
    _, per_worker = _per_worker_s(costs, workers)
    own = max(rate * max(per_worker) - costs.periodic_share(rate), 0.0)
    if own >= 1.0:
        return math.inf
    evaluations = {
        n: (e, costs.components[n].evaluation_period_s)
        for n, e in costs.evaluations_s(rate).items()
        if costs.components[n].evaluation_period_s > 0
    }
    # the evaluation B holds, if B is an evaluation rather than a batch
    longest = max(evaluations, key=lambda n: evaluations[n][0], default=None)
    in_blocking = (
        longest if longest is not None and evaluations[longest][0] >= costs.batch_s(batch) else None
    )
    w = base / (1.0 - own)
    while w <= HORIZON_S:
        later = sum(
            e * (math.floor(w / p) if n == in_blocking else math.ceil(w / p))
            for n, (e, p) in evaluations.items()
        )
        grown = (base + later) / (1.0 - own)
        if grown <= w:  # the interference is a step function of w: a fixed point is exact
            return w
        w = grown
    return math.inf


def plan(
    costs: Costs,
    rate: float,
    workers: int,
    cores: int,
    deadlines_s: dict[str, float],
    batch: int,
    burst: int,
) -> TopologyPlan:
    """Utilization per worker, sustainable rate, bottleneck and worst-case responses."""
    dealt, per_worker = _per_worker_s(costs, workers)
    processors = min(workers, cores)
    max_rate = _max_rate(per_worker, processors)
    busiest = max(range(workers), key=lambda w: per_worker[w])
    worst = max(
        dealt[busiest],
        key=lambda t: costs.loaded_s(t[0]) / costs.components[t[0]].par,
        default=None,
    )
    responses: dict[str, float | None] = {}
    for name in deadlines_s:
        # at or past the sustainable rate the backlog, and so the response, grows without bound
        r = math.inf if rate >= max_rate else _response_s(costs, name, rate, batch, burst, workers)
        responses[name] = r if math.isfinite(r) else None
    meeting = _max_rate_meeting(costs, max_rate, deadlines_s, batch, burst, workers)
    smallest = next(
        (
            n
            for n in range(1, max(cores, workers) + 1)
            if _fits(costs, rate, n, cores, deadlines_s, batch, burst)
        ),
        None,
    )
    return TopologyPlan(
        rate=rate,
        workers=workers,
        processors=processors,
        worker_utilization=[rate * c for c in per_worker],
        total_utilization=rate * sum(per_worker),
        max_rate=max_rate,
        bottleneck_worker=busiest,
        bottleneck_task=f"{worst[0]}#{worst[1]}" if worst else "-",
        responses_s=responses,
        deadlines_s=dict(deadlines_s),
        smallest_workers=smallest,
        smallest_parallelism=(
            (
                worst[0],
                smallest_parallelism(
                    costs, worst[0], rate, workers, cores, deadlines_s, batch, burst
                ),
            )
            if worst
            else ("-", None)
        ),
        blocking_s=costs.blocking_s(rate, batch),
        batch=batch,
        burst=burst,
        max_rate_meeting_deadlines=meeting,
        assignment={w: [f"{n}#{i}" for n, i in dealt[w]] for w in range(workers)},
    )


def smallest_parallelism(
    costs: Costs,
    component: str,
    rate: float,
    workers: int,
    cores: int,
    deadlines_s: dict[str, float],
    batch: int,
    burst: int,
) -> int | None:
    """The smallest parallelism of ``component`` with which the topology fits on ``workers``
    at ``rate`` (sustainable and every deadline met), up to ``MAX_PARALLELISM``; None if none.

    Only that component's tasks change: each takes 1/par of its work, and the tasks are dealt
    again round-robin, so a parallelism spreads it over the workers (on one worker, nothing
    moves: parallelism cannot help there).
    """
    for par in range(1, MAX_PARALLELISM + 1):
        comps = {**costs.components, component: replace(costs.components[component], par=par)}
        if _fits(replace(costs, components=comps), rate, workers, cores, deadlines_s, batch, burst):
            return par
    return None


def _all_hold(
    costs: Costs,
    rate: float,
    workers: int,
    deadlines_s: dict[str, float],
    batch: int,
    burst: int,
) -> bool:
    return all(
        _response_s(costs, n, rate, batch, burst, workers) <= d for n, d in deadlines_s.items()
    )


def _fits(
    costs: Costs,
    rate: float,
    workers: int,
    cores: int,
    deadlines_s: dict[str, float],
    batch: int,
    burst: int,
) -> bool:
    _, per_worker = _per_worker_s(costs, workers)
    return rate < _max_rate(per_worker, min(workers, cores)) and _all_hold(
        costs, rate, workers, deadlines_s, batch, burst
    )


def _max_rate_meeting(
    costs: Costs,
    max_rate: float,
    deadlines_s: dict[str, float],
    batch: int,
    burst: int,
    workers: int,
) -> float | None:
    """The highest rate below ``max_rate`` at which every deadline holds, by bisection.

    Responses only grow with the rate (the blocking of periodic work and of garbage collection
    scales with it, the rest does not depend on it), so the rates that hold form an interval
    from 0. None when there is no deadline or no cost to bound the rate.
    """
    if not deadlines_s or not math.isfinite(max_rate):
        return None
    lo, hi = 0.0, max_rate
    if not _all_hold(costs, lo, workers, deadlines_s, batch, burst):
        return 0.0
    if _all_hold(costs, hi, workers, deadlines_s, batch, burst):
        return hi
    for _ in range(60):
        mid = (lo + hi) / 2
        if _all_hold(costs, mid, workers, deadlines_s, batch, burst):
            lo = mid
        else:
            hi = mid
    return lo

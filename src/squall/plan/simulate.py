"""A discrete-time preemptive schedule of synchronously released periodic jobs, to check analysis.

Deliberately naive so that it is obviously right: every task releases a job at 0, T, 2T, ...;
at each moment the processor runs the pending job of highest priority (a fixed order of tasks,
or EDF: the earliest absolute deadline), ties going to the earlier task, then the earlier job.
Times are scaled to integers by the LCM of the denominators, and the clock jumps from event to
event (a release or a completion), which gives the same schedule as stepping one slot at a time.
Jobs that miss their deadline keep running to completion ("deadline loss"), so every task
still gets a response time.

The horizon is [0, H + max D), H the hyperperiod. With synchronous release the worst case is
in the busy period that starts at 0 (the critical instant), which ends by H when U <= 1; every
job released in it has its deadline before H + max D. So a miss, if there is one, shows up, and
so does each task's worst response time. With U > 1 and every D <= T, the work due by H is
U * H > H, so a miss shows up by H; with U > 1 and some D > T the first miss may come later than
the horizon (the simulation is not meant for that case).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from squall.plan.model import PlanError, TaskSet

MAX_SLOTS = 10**6


@dataclass(frozen=True)
class Miss:
    """The first deadline miss: which task, which of its jobs (0 = the one released at 0), when."""

    task: str
    job: int
    time: Fraction  # the absolute deadline that passed with the job unfinished


@dataclass(frozen=True)
class Schedule:
    """What the simulation observed over [0, horizon)."""

    worst_response: dict[str, Fraction | None]  # None: no job of the task finished in time
    first_miss: Miss | None
    horizon: Fraction

    @property
    def schedulable(self) -> bool:
        return self.first_miss is None


def simulate(
    ts: TaskSet, scheduler: str | Sequence[str] = "edf", max_slots: int = MAX_SLOTS
) -> Schedule:
    """Simulate ``ts`` under ``scheduler``: "edf", or task names from highest priority down.

    Release jitter and blocking are not simulated (every job is released exactly on its period
    and runs alone), so a task with J or B > 0 is refused rather than silently ignored.
    """
    names = [t.name for t in ts.tasks]
    if isinstance(scheduler, str):
        if scheduler != "edf":
            raise PlanError(f"scheduler={scheduler!r}: give 'edf' or a list of task names")
        rank = list(range(len(names)))
    else:
        if sorted(scheduler) != sorted(names):
            raise PlanError(
                f"scheduler order {list(scheduler)} must name every task once: {', '.join(names)}"
            )
        rank = [list(scheduler).index(n) for n in names]
    for t in ts.tasks:
        if t.J or t.B:
            raise PlanError(f"simulate: task {t.name!r} has J={t.J}, B={t.B}; only J = B = 0")
    if not ts.tasks:
        return Schedule({}, None, Fraction(0))

    scale = math.lcm(*(x.denominator for t in ts.tasks for x in (t.C, t.T, t.D)))
    cost = [int(t.C * scale) for t in ts.tasks]
    period = [int(t.T * scale) for t in ts.tasks]
    deadline = [int(t.D * scale) for t in ts.tasks]
    horizon = math.lcm(*period) + max(deadline)
    if horizon > max_slots:
        raise PlanError(
            f"simulation horizon of {horizon} slots (hyperperiod + max D, in steps of "
            f"{'1' if scale == 1 else f'1/{scale}'}) exceeds the limit of {max_slots}"
        )

    edf = scheduler == "edf"
    # a pending job: [priority key..., task, job number, release, remaining work]
    pending: list[list[int]] = []
    next_release = [0] * len(ts.tasks)
    jobs_released = [0] * len(ts.tasks)
    worst: list[int | None] = [None] * len(ts.tasks)
    misses: list[tuple[int, int, int]] = []  # (absolute deadline, task, job)
    now = 0
    while now < horizon:
        for i in range(len(ts.tasks)):
            while next_release[i] <= now:
                k, release = jobs_released[i], next_release[i]
                key = release + deadline[i] if edf else rank[i]
                pending.append([key, i, k, release, cost[i]])
                jobs_released[i] += 1
                next_release[i] += period[i]
        upcoming = min(min(next_release), horizon)
        if not pending:
            now = upcoming
            continue
        job = min(pending)  # (key, task, job number): ties to the earlier task, then job
        _, i, k, release, remaining = job
        step = min(remaining, upcoming - now)
        now += step
        job[4] -= step
        if job[4] == 0:
            pending.remove(job)
            response = now - release
            before = worst[i]
            worst[i] = response if before is None else max(before, response)
            if now > release + deadline[i]:
                misses.append((release + deadline[i], i, k))
    for _, i, k, release, _ in pending:
        if release + deadline[i] <= horizon:  # unfinished at the horizon, so late
            misses.append((release + deadline[i], i, k))

    first = min(misses, default=None)
    return Schedule(
        worst_response={
            t.name: None if w is None else Fraction(w, scale)
            for t, w in zip(ts.tasks, worst, strict=True)
        },
        first_miss=None
        if first is None
        else Miss(names[first[1]], first[2], Fraction(first[0], scale)),
        horizon=Fraction(horizon, scale),
    )

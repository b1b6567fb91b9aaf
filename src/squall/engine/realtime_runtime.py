"""The real-time runtime of one worker: tree deadlines, the worker-wide scheduler, overload.

Issue 11, wired into the engine. Idle unless the topology declares deadlines
(``squall.realtime.*``) or picks a scheduler other than ``fifo`` (``squall.scheduler``); a plain
run takes none of these paths.

- **Time through the tree.** A spout's root whose (component, stream) declares a deadline gets a
  :class:`Tree`: release time (the spout's ``set_release``, else the emit), absolute deadline =
  release + D, its stream's metrics. Every tuple of the tree shares the one object through its
  ``Track`` (never copied per value); a tuple anchored to several trees answers to the earliest
  deadline. When the tree is fully acked the stream's metrics record latency, miss and lateness.
- **One scheduler per worker** (``edf``, ``llf``, ``dm``, ``rm``): every executor's inbox is a
  :class:`ScheduledInbox` feeding the same :mod:`squall.realtime.scheduling` queue, so the job
  with the earliest deadline anywhere in the worker runs next. ``fifo`` keeps today's per-task
  inboxes visited in turn (and its compiled emit paths).
- **Hopeless firm jobs** (firm streams with the ``discard`` policy) are not run: a late firm
  result is worthless, and running it would make the jobs behind it late too (EDF's domino
  effect). They are acked as shed, counted, never failed or replayed; a tree's (m,k) weight
  goes to its key's next kept job (``RealtimeContext.hand_on``). Hard and soft jobs run, late
  or not.
- **Overload** (``Overload``, hysteresis): entered when, over one check interval, the loop was
  busy above ``squall.overload.enter.utilization`` with a growing backlog, or deadlines were
  missed; left only after ``squall.overload.hold.secs`` of calm. Components see it through
  their ``RealtimeContext`` (discard at the spout, imprecise windows); spouts whose streams
  declare ``rate`` are asked for fewer tuples. A hard stream that still misses while every
  policy is in force raises an overload alarm naming the stream and the backlog's growth.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from squall.engine.clock import Clock, ManualClock, MonotonicClock, cpu_demand_s
from squall.engine.model import TopologyModel
from squall.engine.remaining_cost import downstream, remaining_costs
from squall.engine.run_settings import RunSettings
from squall.realtime.context import ATTRIBUTE as CONTEXT_ATTRIBUTE
from squall.realtime.context import RELEASE_ATTRIBUTE, Overload, RealtimeContext
from squall.realtime.deadlines import Deadlines, StreamDeadline
from squall.realtime.metrics import Metrics, StreamMetrics
from squall.realtime.scheduling import Edf, Job, PriorityScheduler, Scheduler, make_scheduler
from squall.realtime.tree import Tree

SLACK_EVERY = 8  # one dispatched job in this many has its slack recorded
# A dispatch turn lasts at most the shortest hard deadline / QUANTUM_SHARE: then the spouts of
# hard streams are asked for what is due (their roots are not jobs in the queue: a long turn
# would hold them back whatever their deadline)
QUANTUM_SHARE = 20
URGENT_TURN = 1024  # next_tuple calls a hard stream's spout gets per turn, at most
# ``Executor.inline_runner`` returns its end on ``perf_counter``: the dispatch loop's next ``now`` when
# that is the run clock's own (Linux: both are CLOCK_MONOTONIC), one clock read per job less
_SAME_CLOCK = (
    time.get_clock_info("perf_counter").implementation
    == time.get_clock_info("monotonic").implementation
)
_new_job = tuple.__new__  # skips the namedtuple's Python-level __new__: same object, less work

if TYPE_CHECKING:
    from squall.engine.executor import Executor


def _not_started(_tup: Any) -> float:
    raise RuntimeError("a scheduled job ran before the worker started its components")


def declared_streams(model: TopologyModel) -> set[tuple[str, str]]:
    """Every (component, stream) of the topology: the streams a deadline may be declared on."""
    return {(c.name, s) for c in model.components.values() for s in c.streams}


def load_deadlines(model: TopologyModel, conf: dict[str, Any]) -> Deadlines:
    """The topology's deadline declarations, checked against its streams (DeadlineError)."""
    return Deadlines.from_conf(conf, declared=declared_streams(model))


class ScheduledInbox:
    """An executor's view of the worker's scheduler: pushes go to the shared queue.

    ``push(item, entered, tree=None)`` is a closure the runtime makes for this inbox
    (``RealtimeRuntime.pusher``): one Python call per job, not three (inbox, runtime, policy).
    """

    __slots__ = ("runtime", "executor", "n", "push", "run")

    def __init__(self, runtime: RealtimeRuntime, executor: Executor) -> None:
        self.runtime = runtime
        self.executor = executor
        self.n = 0  # this executor's jobs in the queue: back-pressure and locality read it
        # the dispatch loop calls it per job: ``Executor.inline_runner``, bound at start
        self.run: Callable[[Any], float] = _not_started
        self.push: Callable[..., None] = runtime.pusher(self)

    def pop(self) -> Any:
        # the worker's scheduler hands each job to its executor (``Executor.inline_runner``)
        raise RuntimeError(f"task {self.executor.task}: a scheduled inbox is not popped")

    def __len__(self) -> int:
        return self.n


class RealtimeRuntime:
    """Deadlines, metrics, scheduler and overload state of one worker (see the module doc)."""

    def __init__(
        self,
        model: TopologyModel,
        settings: RunSettings,
        deadlines: Deadlines,
        clock: Clock,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.deadlines = deadlines
        self.clock = clock
        self.metrics = Metrics()
        self.overload = Overload()
        if settings.overload_force:
            self.overload.active, self.overload.reason = True, "squall.overload.force"
        self.scheduler: Scheduler | None = (
            None if settings.scheduler == "fifo" else make_scheduler(settings.scheduler)
        )
        self.active = bool(len(deadlines)) or self.scheduler is not None or settings.overload_force
        # the run clock's time = epoch seconds - offset (a manual clock's time is the epoch's)
        self.manual = isinstance(clock, ManualClock)
        self.wall_offset = 0.0 if self.manual else time.time() - clock.now()
        self.roots: dict[tuple[str, str], tuple[StreamDeadline, StreamMetrics, bool]] = {}
        for d in deadlines:
            if (
                model.components.get(d.component) is not None
                and model.components[d.component].is_spout
            ):
                sheddable = d.criticality == "firm" and "discard" in d.policies
                self.roots[(d.component, d.stream)] = (
                    d,
                    self.metrics.stream(f"{d.component}.{d.stream}"),
                    sheddable,
                )
        hard = [d for d in deadlines if d.criticality == "hard"]
        self._urgent = {d.component for d in hard}
        self.quantum_s = (
            min(d.deadline_s for d in hard) / QUANTUM_SHARE
            if hard and self.scheduler is not None  # (an empty scheduler is falsy: len 0)
            else math.inf
        )
        self._rate_limited = {d.component for d in deadlines if "rate" in d.policies}
        # a policy that gives up work for others: without one, overload cannot be shed
        self.shedding = any(d.policies - {"late"} for d in deadlines)
        self.rates: dict[str, float] = {}  # spout component.stream -> measured roots/s (RM)
        self._emitted: dict[str, int] = {}
        self.remaining: dict[str, float] = dict.fromkeys(model.components, 0.0)
        self._spent: dict[str, float] = dict.fromkeys(model.components, 0.0)
        self._runs: dict[str, int] = dict.fromkeys(model.components, 0)
        self._downstream = downstream(model)
        self._slack_countdown = 1  # the first job with a deadline is sampled
        self.hopeless = 0  # firm jobs dropped unrun because they could no longer make it
        self._last_hopeless = 0
        self.seq = itertools.count().__next__
        self._next: Any = None  # EDF's next entry, off the heap (``pusher``)
        self.report = report or (lambda line: print(line, file=sys.stderr))
        # overload detection state
        self._next_check = clock.now() + settings.overload_check_s
        self._last_busy = 0.0 if self.manual else cpu_demand_s()
        self._last_queued = 0
        self._last_misses = 0
        self._calm_since: float | None = None
        self._alarmed: set[str] = set()
        self.alarms: list[str] = []  # hard streams an OVERLOAD ALARM named, in order
        self.overload_episodes = 0
        self.rate_factor = 1.0  # share of the loop's turns the ``rate`` spouts are asked on
        self.rate_factor_min = 1.0

    # ------------------------------------------------------------------ components
    def context(self, component: str) -> RealtimeContext:
        return RealtimeContext(component, self.deadlines, self.metrics, self.overload)

    def urgent(self, component: str) -> bool:
        """True when one of ``component``'s streams is hard: its spout is never held back for
        other classes' backlog (its own ``max.spout.pending`` still bounds it)."""
        return component in self._urgent

    def rate_limited(self, component: str) -> bool:
        """True when one of ``component``'s streams declares the ``rate`` policy."""
        return component in self._rate_limited

    def set_turns(self, spouts: list[Executor], default: int) -> None:
        """Each spout's ``next_tuple`` calls per turn of the loop (``ex.turn``): ``default``,
        but under a scheduler a hard stream's spout gives all that is due (the scheduler runs
        its jobs first), ``URGENT_TURN`` at most."""
        for ex in spouts:
            urgent = self.scheduler is not None and self.urgent(ex.name)
            ex.turn = URGENT_TURN if urgent else default

    def spout_turn(self, ex: Executor, paused: bool, only_backpressure: bool) -> bool:
        """Whether spout ``ex`` is asked for tuples this turn of the loop.

        Back-pressure is per class: a spout with a hard stream goes on while other classes'
        backlog holds the rest (its own ``max.spout.pending`` still bounds it; the scheduler
        runs its jobs first). Under the ``rate`` policy, in overload, a spout is asked on
        ``rate_factor`` of the turns only: its source keeps the rest (Kafka: as lag).
        """
        if paused and not (only_backpressure and self.urgent(ex.name)):
            return False
        if self.overload.active and self.rate_limited(ex.name):
            ex.rate_credit += self.rate_factor
            if ex.rate_credit < 1.0:
                return False
            ex.rate_credit -= 1.0
        return True

    # ------------------------------------------------------------------ trees
    def root_tree(self, ex: Executor, stream: str, now: float) -> Tree | None:
        """The tree of a root ``ex`` (a spout) emits on ``stream`` now; None: best effort."""
        released = ex.instance.__dict__.pop(RELEASE_ATTRIBUTE, None)
        key = f"{ex.name}.{stream}"
        self._emitted[key] = self._emitted.get(key, 0) + 1
        entry = self.roots.get((ex.name, stream))
        if entry is None:
            return None
        decl, metrics, sheddable = entry
        release = now if released is None else float(released) - self.wall_offset
        tree = Tree(release, release + decl.deadline_s, decl, metrics, sheddable)
        ctx = ex.instance.__dict__.get(CONTEXT_ATTRIBUTE)
        if sheddable and isinstance(ctx, RealtimeContext):
            claim = ctx.take_claim()  # the (m,k) weight this root carries, if the spout kept it
            if claim is not None:
                tree.claim = (ctx, *claim)
        return tree

    def remote_tree(self, wire: tuple[float, float, str, str] | None) -> Tree | None:
        """A tree of another worker's root, as its tuples arrive here (no metrics: not ours)."""
        if wire is None:
            return None
        release, deadline, component, stream = wire
        decl = self.deadlines.get(component, stream)
        if decl is None:
            return None
        sheddable = decl.criticality == "firm" and "discard" in decl.policies
        return Tree(release, deadline, decl, None, sheddable)

    def tree_done(self, tree: Tree, ok: bool) -> None:
        """The tree's root is fully acked (``ok``) or failed: record when it finished."""
        if tree.shed or tree.metrics is None:
            return  # a shed tree was counted when it was shed
        if ok:
            tree.metrics.complete(tree.release, tree.deadline, self.clock.now())

    # ------------------------------------------------------------------ scheduling
    def pusher(self, inbox: ScheduledInbox) -> Callable[..., None]:
        """``inbox.push(item, entered, tree=None)``; called with the item alone, it is the
        executor's ``fifo_append`` under a scheduler (the compiled emit paths hand a tuple over
        as to a FIFO inbox; its release and deadline come from the ``Track`` just made for it).

        Every scheduled tuple's hot path, so one closure does it all: the job is a plain tuple
        in ``Job``'s field order plus its tree (a ``Job`` only for a policy's own ``push``);
        an EDF job is queued here, as the ``(deadline, seq, job)`` entry ``Edf.push`` makes.
        EDF's next-job slot (``_next``) holds an entry smaller than every queued one, off the
        heap: a chain's child (its tree's deadline, a newer seq) usually runs next, and one
        comparison replaces a push and a pop of O(log n) each. The order is the heap's exactly.
        """
        sched, name, inflight = self.scheduler, inbox.executor.name, inbox.executor.inflight
        assert isinstance(sched, PriorityScheduler), "a ScheduledInbox means a heap scheduler"
        heap, seq, remaining, rates = sched.heap, self.seq, self.remaining, self.rates
        timeout = self.settings.message_timeout_s
        sched_push = None if type(sched) is Edf else sched.push
        rt = self
        now = time.monotonic if type(self.clock) is MonotonicClock else self.clock.now

        def push(item: Any, entered: float | None = None, tree: Tree | None = None) -> None:
            job: Any
            if entered is None:  # fifo_append(tup): the Track the emit path has just made
                track = inflight.get(item[0])
                if track is None:
                    entered = now()  # untracked: best effort, entered now
                else:
                    entered, tree = track.entered, track.tree
            s = seq()
            if tree is None:
                # best effort: ordered as if due a message timeout after it entered
                deadline = entered + timeout
                job = (item, inbox, entered, deadline, remaining[name], timeout, 0.0, s, False,
                       None)  # fmt: skip
            else:
                deadline = tree.deadline
                job = (item, inbox, tree.release, deadline, remaining[name],
                       tree.decl.deadline_s, rates.get(tree.key, 0.0), s, tree.sheddable,
                       tree)  # fmt: skip
            inbox.n += 1
            if sched_push is not None:
                sched_push(_new_job(Job, job))
                return
            entry: Any = (deadline, s, job)
            top = rt._next
            if top is None:
                if heap and heap[0] < entry:
                    heappush(heap, entry)
                else:
                    rt._next = entry
            elif entry < top:
                heappush(heap, top)
                rt._next = entry
            else:
                heappush(heap, entry)

        return push

    def run(self, budget: int) -> bool:
        """Dispatch up to ``budget`` jobs, the scheduler's choice each time; True if any ran.

        ``pop_feasible`` inlined: a hopeless sheddable job is shed, not run, and is not counted
        against the budget. The turn ends after ``quantum_s`` too, for the hard streams' spouts.
        """
        assert isinstance(self.scheduler, PriorityScheduler)
        heap = self.scheduler.heap
        # the monotonic clock's own C function: the same time, without a Python call per job
        monotonic = type(self.clock) is MonotonicClock
        clock = time.monotonic if monotonic else self.clock.now
        ends_now = monotonic and _SAME_CLOCK  # a job's end (its runner's) is the clock's now
        manual, spent, runs = self.manual, self._spent, self._runs
        n, sample = 0, self._slack_countdown
        now = clock()
        stop = now + self.quantum_s
        entry: Any
        while n < budget and now < stop:
            entry = self._next
            if entry is not None:  # the minimum, kept off the heap (``pusher``)
                self._next = None
            elif heap:
                entry = heappop(heap)
            else:
                break
            job = entry[2]  # (item, inbox, release, deadline, remaining_s, D, rate, seq, ...)
            if job[8] and job[3] - now < job[4]:  # sheddable and hopeless: droppable()
                self._shed_hopeless((job,))
                continue
            n += 1
            tree = job[9]
            if tree is not None:
                sample -= 1
                if not sample:
                    # slack as the scheduler sees it at dispatch, one job in SLACK_EVERY (a
                    # histogram add per job would cost more than the dispatch itself)
                    sample = SLACK_EVERY
                    if tree.metrics is not None:
                        tree.metrics.record_slack(job[3] - now - job[4])
            inbox = job[1]
            inbox.n -= 1
            end = inbox.run(job[0])
            if not ends_now:
                end = clock()
            if manual:
                # on a manual clock (tests) a job's cost is the time it moved the clock: the
                # remaining-cost estimates add these up (else the executors' execute times)
                spent[inbox.executor.name] += end - now
                runs[inbox.executor.name] += 1
            now = end
        self._slack_countdown = sample
        return n > 0

    def _shed_hopeless(self, jobs: Any) -> None:
        self.hopeless += len(jobs)
        for job in jobs:
            inbox, tree = job[1], job[9]
            inbox.n -= 1
            if not tree.shed:
                tree.shed = True
                metrics = tree.metrics or self.metrics.stream(
                    f"{tree.decl.component}.{tree.decl.stream}"
                )
                metrics.add_shed("discard")
                if tree.claim is not None:  # its readings weigh on with the key's next kept job
                    ctx, stream, key, weight = tree.claim
                    ctx.hand_on(stream, key, weight)
            # acked, not failed: a shed job is done, its spout must not replay it
            inbox.executor.instance.ack(job[0])

    # ------------------------------------------------------------------ overload
    def check(self, now: float, executors: list[Executor], queued_now: Callable[[], int]) -> None:
        """Once per ``squall.overload.check.secs``: costs, rates and the overload state
        (``queued_now`` counts the worker's queued tuples: asked only then)."""
        if now < self._next_check:
            return
        queued = queued_now()
        interval = self.settings.overload_check_s + max(0.0, now - self._next_check)
        self._next_check = now + self.settings.overload_check_s
        self._update_costs(executors)
        for key, n in self._emitted.items():
            self.rates[key] = n / interval
        self._emitted = dict.fromkeys(self._emitted, 0)
        # The loop's busy share: the process's CPU time (spouts and the runner's own work
        # included: a worker is one thread) plus its wait for a CPU (a starved loop is a busy
        # one: cpu_demand_s). On a manual clock (tests) the work done on that clock instead:
        # each job's cost under a scheduler, else the executors' execute times.
        if not self.manual:
            busy = cpu_demand_s()
        elif self.scheduler is not None:
            busy = sum(self._spent.values())
        else:
            busy = sum(ex.stats.exec_seconds for ex in executors)
        utilization = (busy - self._last_busy) / interval
        misses = sum(m.misses for m in self.metrics.streams.values())
        # a job dropped as hopeless is a deadline lost too, only not run
        missed = misses - self._last_misses + self.hopeless - self._last_hopeless
        self._last_hopeless = self.hopeless
        growth = queued - self._last_queued
        growing = growth > 0
        self._last_busy, self._last_misses, self._last_queued = busy, misses, queued
        s = self.settings
        # Misses alone are not overload: late work from a blocked loop (an I/O wait) is not
        # helped by shedding. Misses while busy, or a busy loop falling behind, are.
        pressed = (
            (missed > 0 and utilization >= s.overload_exit_utilization)
            or (utilization >= s.overload_enter_utilization and growing)
            or queued >= s.queue_capacity
        )
        ov = self.overload
        if pressed:
            self._calm_since = None
            if not ov.active:
                ov.active = True
                self.overload_episodes += 1
                ov.reason = (
                    f"{missed} deadline miss(es)"
                    if missed
                    else f"utilization {utilization:.0%}, {queued} queued and growing"
                )
            if self._rate_limited:  # halve the ``rate`` spouts' share of turns, down to 1/10
                self.rate_factor = max(0.1, self.rate_factor * 0.5)
                self.rate_factor_min = min(self.rate_factor_min, self.rate_factor)
        elif ov.active and not s.overload_force:
            if self._calm_since is None:
                self._calm_since = now
            if (
                now - self._calm_since >= s.overload_hold_s
                and utilization < s.overload_exit_utilization
            ):
                ov.active = False
                ov.reason = ""
                self._calm_since = None
                self.rate_factor = 1.0
        if ov.active and missed:
            self._alarm(growth, interval)

    def _alarm(self, growth: int, interval: float) -> None:
        for name, m in self.metrics.streams.items():
            decl = self._decl_of(name)
            if decl is None or decl.criticality != "hard" or not m.misses or name in self._alarmed:
                continue
            self._alarmed.add(name)
            self.alarms.append(name)
            rate = f"backlog {'+' if growth >= 0 else ''}{growth / interval:.0f} tuples/s"
            if self.shedding:
                why = (
                    "while the overload policies shed other work: the offered load exceeds what "
                    "the mandatory work alone can sustain, and no policy keeps hard deadlines here"
                )
            else:
                why = (
                    "and no stream declares a policy that sheds work (discard, imprecise, rate) "
                    "to make room for it"
                )
            self.report(
                f"squall: OVERLOAD ALARM: hard stream {name} misses its "
                f"{decl.deadline_s * 1000:g} ms deadline {why} ({m.misses} of {m.completed} late "
                f"so far, {rate}); add workers, lower the rate, or relax the deadline"
            )

    def _decl_of(self, name: str) -> StreamDeadline | None:
        component, _, stream = name.partition(".")
        return self.deadlines.get(component, stream)

    def _update_costs(self, executors: list[Executor]) -> None:
        """Remaining cost along the path from each component: its mean cost + the costliest
        path after it (the measured means so far)."""
        if self.manual and self.scheduler is not None:  # measured on the manual clock
            spent, runs = self._spent, self._runs
        else:
            spent, runs = {}, {}
            for ex in executors:
                spent[ex.name] = spent.get(ex.name, 0.0) + ex.stats.exec_seconds
                runs[ex.name] = runs.get(ex.name, 0) + ex.stats.executed
        # in place: the push closures hold this dict
        self.remaining.update(remaining_costs(self.model.components, self._downstream, spent, runs))

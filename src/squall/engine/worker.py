"""One worker: a set of tasks run by a cooperative loop, with Storm's delivery semantics.

Single-process mode is one worker with every task. In multi-process mode each process runs a
worker with its share of tasks; tuples and acks for other workers go through a ``Transport``.
The loop is deliberately single-threaded: a component's methods are never called concurrently,
as under Storm's one-executor-thread-per-task model.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

from pystorm.component import Tuple

from squall.engine.acker import Acker, new_edge_id
from squall.engine.chaining import chain_executors, install_runners
from squall.engine.clock import Clock
from squall.engine.executor import Executor
from squall.engine.hosting import values_type
from squall.engine.model import TopologyModel
from squall.engine.realtime_runtime import RealtimeRuntime, ScheduledInbox, load_deadlines
from squall.engine.results import ComponentError, ComponentStats, RunResult, Snapshot
from squall.engine.routing import SHUFFLE_LIKE, build_routes, prefer_local_tasks
from squall.engine.run_settings import RunSettings
from squall.engine.tracking import (
    RootIds,
    Track,
    check_values,
    deliver_chained,
    forget_abandoned,
    link_anchors,
    owner_of,
    tuple_ids,
)
from squall.errors import TopologyError

_new_tuple = tuple.__new__  # skips namedtuple's Python-level __new__: same object, less work


class Transport(Protocol):
    def send(self, worker: int, msg: tuple[Any, ...]) -> None: ...
    def send_ack(self, worker: int, root: int, value: int) -> None: ...
    def flush(self) -> None: ...
    def receive(self) -> list[tuple[Any, ...]]: ...
    def backlog_exceeded(self) -> bool: ...


class Worker:
    def __init__(
        self,
        model: TopologyModel,
        settings: RunSettings,
        tasks: list[int],
        clock: Clock,
        index: int = 0,
        task_worker: dict[int, int] | None = None,
        transport: Transport | None = None,
        capture: bool = False,
    ) -> None:
        self.model = model
        self.settings = settings
        self.clock = clock
        self.index = index
        self.task_worker = task_worker or {t: 0 for t in model.task_component}
        self.transport = transport
        self.capture = capture
        self.local = set(tasks)
        self.routes = build_routes(model, self.local)
        self.vtypes: dict[tuple[str, str], Any] = {
            (c.name, s.name): values_type(c.name, s.name, s.fields)
            for c in model.components.values()
            for s in c.streams.values()
        }
        self.chain_spent = [0.0]  # time spent in chained tasks (Executor.inline_runner)
        self.executors: dict[int, Executor] = {}
        for task in tasks:
            comp = model.components[model.task_component[task]]
            self.executors[task] = Executor(self, comp, task, settings.component_conf(comp))
        self.rt = RealtimeRuntime(model, settings, load_deadlines(model, settings.conf), clock)
        self.realtime_active = self.rt.active
        if self.rt.scheduler is not None:
            for ex in self.executors.values():
                if not ex.is_spout:
                    inbox = ex.inbox = ScheduledInbox(self.rt, ex)
                    ex.fifo_append = inbox.push  # see RealtimeRuntime.pusher
        if transport is not None and settings.load_aware:
            prefer_local_tasks(self.routes, self.executors, settings.queue_capacity)
        self.chain_reasons = chain_executors(model, self.executors, settings, self.rt.scheduler)
        self.spouts = [e for e in self.executors.values() if e.is_spout]
        self.bolts = [e for e in self.executors.values() if not e.is_spout]
        self.rt.set_turns(self.spouts, settings.spout_batch)
        self.acker = Acker(self._tree_done, self.rt.tree_done if self.rt.active else None)
        self.result = RunResult()
        self.new_tuple_id = tuple_ids()
        self.new_root = RootIds(index)
        self.acking = settings.acking
        self.now = clock.now()
        if transport is None:
            # one worker owns every root: acks go straight to the acker
            self.ack_root = self.acker.ack  # type: ignore[method-assign]
            self.fail_root = self.acker.fail  # type: ignore[method-assign]
        self._ticks: list[list[Any]] = []
        self._next_expiry = 0.0
        self._next_sweep = self.now + self.settings.message_timeout_s
        self.spouts_stopped = False
        self.backpressured = False
        self.stop_error: ComponentError | None = None
        self.on_error: Callable[[ComponentError], None] | None = None
        # components (by name) that read time through a ``clock`` attribute get this clock's
        self.clocked: frozenset[str] = frozenset()
        self.pollers: list[Executor] = []

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        now = self.clock.now()
        for ex in self.executors.values():
            ex.start()
            freq = ex.conf.get("topology.tick.tuple.freq.secs")
            if freq and not ex.is_spout:
                self._ticks.append([now + float(freq), float(freq), ex])
        for ex in self.executors.values():
            ex.install_default_plan()
            ex.install_local_ack()
            ex.instance.realtime = self.rt.context(ex.name)
        install_runners(self.executors, self.rt.scheduler is not None)
        for ex in self.spouts:
            ex.instance.activate()
        # components waiting on I/O (a sink on its broker's answers) look once per turn
        self.pollers = [e for e in self.executors.values() if hasattr(e.instance, "squall_poll")]

    def close(self) -> None:
        for ex in self.spouts:
            self._call(ex, ex.instance.deactivate)
        for ex in self.executors.values():
            close = getattr(ex.instance, "close", None)
            if callable(close):
                self._call(ex, close)

    # ----------------------------------------------------------------- the loop
    def step(self) -> bool:
        """Run one round; True if anything happened."""
        progressed = False
        if self.transport is not None:
            for msg in self.transport.receive():
                self._handle_remote(msg)
                progressed = True
        now = self.now = self.clock.now()
        if self._ticks:
            progressed |= self._fire_ticks(now)
        if now >= self._next_expiry:
            self._next_expiry = now + min(1.0, self.settings.message_timeout_s / 4)
            if self.acker.expire(now, self.settings.message_timeout_s):
                progressed = True
        if now >= self._next_sweep:
            self._next_sweep = now + self.settings.message_timeout_s
            # trees over (timed out, failed) whose tuples a bolt never acked: Storm keeps
            # nothing for them either; only trees this worker's acker owns can be checked
            cutoff = now - self.settings.message_timeout_s
            for ex in self.bolts:
                forget_abandoned(ex.inflight, cutoff, self.index, self.acker.entered)
        batch = self.settings.batch
        if self.rt.scheduler is not None:
            # one queue for the worker: the scheduler picks each job, across tasks
            progressed |= self.rt.run(batch * len(self.bolts))
        else:
            for ex in self.bolts:
                n = len(ex.inbox)
                if n:
                    progressed = True
                    ex.run_batch(n if n < batch else batch)
        for ex in self.pollers:
            try:
                progressed |= bool(ex.instance.squall_poll())
            except Exception as exc:  # noqa: BLE001 - reported like any component error
                ex.instance.raise_exception(exc)
        if self.realtime_active:
            self.rt.check(now, self.bolts, self.queued)
        progressed |= self._run_spouts()
        if self.transport is not None:
            self.transport.flush()
        return progressed

    def _run_spouts(self) -> bool:
        progressed = False
        self.backpressured = self._backpressure()
        paused = self.spouts_stopped or self.backpressured
        pending_by_task = self.acker.pending_by_task
        rt = self.rt
        for ex in self.spouts:
            comp = ex.instance
            while ex.completions:
                ok, msg_id = ex.completions.popleft()
                progressed = True
                if ok:
                    ex.stats.acked += 1
                    if self.capture:
                        self.result.spout_acked.setdefault(ex.name, []).append(msg_id)
                    self._call(ex, comp.ack, msg_id)
                else:
                    ex.stats.failed += 1
                    if self.capture:
                        self.result.spout_failed.setdefault(ex.name, []).append(msg_id)
                    self._call(ex, comp.fail, msg_id)
            if self.realtime_active:
                if not rt.spout_turn(ex, paused, self.backpressured and not self.spouts_stopped):
                    continue
            elif paused:
                continue
            max_pending = ex.max_pending
            stats = ex.stats
            next_tuple = comp.next_tuple
            # a tree is pending until the spout is told (Storm): one completed within this
            # turn (a chained task acked it) still counts until its ack is delivered
            told = ex.completions if self.acking else ()
            for _ in range(ex.turn):
                if (
                    max_pending is not None
                    and pending_by_task.get(ex.task, 0) + len(told) >= max_pending
                ):
                    break
                before = stats.emitted
                try:
                    next_tuple()
                except Exception as exc:  # noqa: BLE001
                    comp.raise_exception(exc)
                if stats.emitted == before:
                    break
                progressed = True
        return progressed

    def _backpressure(self) -> bool:
        cap = self.settings.queue_capacity
        for ex in self.bolts:
            if len(ex.inbox) >= cap:
                return True
        return self.transport is not None and self.transport.backlog_exceeded()

    def _call(self, ex: Executor, method: Callable[..., Any], *args: Any) -> None:
        try:
            method(*args)
        except Exception as exc:  # noqa: BLE001
            ex.instance.raise_exception(exc)

    def _fire_ticks(self, now: float) -> bool:
        fired = False
        for tick in self._ticks:
            while tick[0] <= now:
                tick[0] += tick[1]
                ex = tick[2]
                tid = self.new_tuple_id()
                ex.inbox.push(Tuple(tid, "__system", "__tick", -1, (int(tick[1]),)), now)
                fired = True
        return fired

    # ----------------------------------------------------------------- emits
    def emit_values(
        self,
        ex: Executor,
        values: Any,
        stream: str | None,
        msg_id: Any,
        anchors: Any,
        direct: int | None,
        need_task_ids: bool,
    ) -> list[int] | None:
        """One emit from ``ex``: route it, track it, deliver it. Returns the receiving tasks."""
        stream = stream or "default"
        out = ex.out.get(stream)
        if out is None:
            out = ex.out[stream] = self._stream_out(ex, stream)
        sdef, vtype, nfields, shuffle_only = out
        if type(values) is not list or (nfields and len(values) != nfields):
            check_values(ex.name, stream, values, sdef.fields)
        if shuffle_only is not None and direct is None:
            targets = [shuffle_only()]  # the common case: one shuffle subscriber
        else:
            targets = self._targets(ex, stream, values, direct, sdef.direct)
        ex.stats.emitted += 1
        if self.capture:
            self.result.outputs.setdefault(ex.name, {}).setdefault(stream, []).append(list(values))
        tvalues = _new_tuple(vtype, values) if vtype is not None else tuple(values)
        now = self.now
        deliver = self._deliver
        if ex.is_spout:
            tree = self.rt.root_tree(ex, stream, now) if self.realtime_active else None
            entered = now if tree is None else tree.release
            if msg_id is None or not self.settings.acking:
                for t in targets:
                    deliver(t, ex, stream, tvalues, None, entered, tree)
                if msg_id is not None:  # acking disabled: Storm acks at once
                    ex.completions.append((True, msg_id))
                return targets if need_task_ids else None
            root = self.new_root()
            edges = [new_edge_id() for _ in targets]
            xor = 0
            for edge in edges:
                xor ^= edge
            # the tree exists before its first tuple is delivered: a chained task acks it at once
            self.acker.init(root, xor, ex.task, msg_id, entered, tree)
            for t, edge in zip(targets, edges, strict=True):
                deliver(t, ex, stream, tvalues, {root: edge}, entered, tree)
            return targets if need_task_ids else None
        inflight = ex.inflight
        if not anchors or not inflight:  # nothing tracked (acking off): no anchor can be
            for t in targets:
                deliver(t, ex, stream, tvalues, None, now)
            return targets if need_task_ids else None
        single = len(anchors) == 1
        for t in targets:
            target = self.executors.get(t)
            if single and target is not None and target.chained:
                anchor = anchors[0]
                track = inflight.get(anchor.id if isinstance(anchor, Tuple) else anchor)
                if track is not None:  # its edge is linked only if the chained task holds it
                    tup = _new_tuple(
                        Tuple, (self.new_tuple_id(), ex.name, stream, ex.task, tvalues)
                    )
                    deliver_chained(target.inflight, target.fifo_append, tup, track, new_edge_id)
                    continue
            roots, entered, tree = link_anchors(inflight, anchors, new_edge_id)
            deliver(t, ex, stream, tvalues, roots, entered if roots is not None else now, tree)
        return targets if need_task_ids else None

    def _stream_out(self, ex: Executor, stream: str) -> tuple[Any, Any, int, Any]:
        sdef = ex.spec.streams.get(stream)
        if sdef is None:
            raise TopologyError(
                f"component {ex.name!r} emitted on undeclared stream {stream!r}; "
                f"declared: {sorted(ex.spec.streams)}"
            )
        routes = self.routes[(ex.name, stream)]
        shuffle_only = None
        # The round-robin shortcut, unless a multi-process worker prefers its own tasks there.
        if (
            len(routes) == 1
            and routes[0].sub.grouping in SHUFFLE_LIKE
            and routes[0].prefer_local is None
        ):
            shuffle_only = routes[0]._cycle.__next__
        return sdef, self.vtypes[(ex.name, stream)], len(sdef.fields), shuffle_only

    def _targets(
        self, ex: Executor, stream: str, values: Any, direct: int | None, is_direct: bool
    ) -> list[int]:
        routes = self.routes[(ex.name, stream)]
        if is_direct:
            if direct is None:
                raise TopologyError(
                    f"component {ex.name!r} emitted on direct stream {stream!r} without direct_task"
                )
            # as Storm: only a task that reads the stream with a direct grouping may be named
            direct_routes = [r for r in routes if r.sub.grouping == "direct"]
            for r in direct_routes:
                if direct in r.tasks:
                    return [direct]
            valid = sorted(t for r in direct_routes for t in r.tasks)
            raise TopologyError(
                f"component {ex.name!r} emitted to direct task {direct} on stream {stream!r}; "
                f"tasks reading {stream!r} with a direct grouping: {valid}"
            )
        if direct is not None:
            raise TopologyError(
                f"component {ex.name!r} gave direct_task={direct} on stream {stream!r}, "
                "which is not declared direct"
            )
        targets: list[int] = []
        for r in routes:
            picked = r.pick(values)
            if type(picked) is int:
                targets.append(picked)
            else:
                targets.extend(picked)  # type: ignore[arg-type]
        return targets

    def _deliver(
        self,
        task: int,
        ex: Executor,
        stream: str,
        values: Any,
        roots: dict[int, int] | None,
        entered: float,
        tree: Any = None,
    ) -> None:
        target = self.executors.get(task)
        if target is None:
            assert self.transport is not None
            wire = None if tree is None else tree.wire()
            self.transport.send(
                self.task_worker[task],
                ("T", task, ex.name, stream, ex.task, list(values), roots, entered, wire),
            )
            return
        tid = self.new_tuple_id()
        if roots is not None:
            target.inflight[tid] = Track(roots, entered, tree)
        # tuple.__new__ skips namedtuple's Python-level __new__: same object, less overhead
        tup = _new_tuple(Tuple, (tid, ex.name, stream, ex.task, values))
        if (tree is None or target.chained) and target.fifo_append is not None:
            target.fifo_append(tup)  # a chained task runs it now: its tree is in the Track
        else:  # the tree's deadline goes with the tuple, tracked or not
            target.inbox.push(tup, entered, tree)

    def local_target(self, task: int) -> Executor | None:
        """The executor of ``task`` when it runs in this worker."""
        return self.executors.get(task)

    def capture_list(self, component: str, stream: str) -> list[list[Any]] | None:
        """Where emits of ``component`` on ``stream`` are recorded, when outputs are captured."""
        if not self.capture:
            return None
        return self.result.outputs.setdefault(component, {}).setdefault(stream, [])

    # ----------------------------------------------------------------- acking
    def ack_root(self, root: int, value: int) -> None:
        owner = owner_of(root)
        if owner == self.index:
            self.acker.ack(root, value)
        else:
            assert self.transport is not None
            self.transport.send_ack(owner, root, value)

    def fail_root(self, root: int) -> None:
        owner = owner_of(root)
        if owner == self.index:
            self.acker.fail(root)
        else:
            assert self.transport is not None
            self.transport.send(owner, ("F", root))

    def _tree_done(self, spout_task: int, msg_id: Any, ok: bool, entered: float) -> None:
        self.executors[spout_task].completions.append((ok, msg_id))

    def _handle_remote(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "T":
            _, task, source, stream, src_task, values, roots, entered, wire = msg
            vtype = self.vtypes[(source, stream)]
            target = self.executors[task]
            tid = self.new_tuple_id()
            tree = self.rt.remote_tree(wire)
            if roots is not None:
                target.inflight[tid] = Track(roots, entered, tree)
            tvalues = vtype._make(values) if vtype is not None else tuple(values)
            target.inbox.push(Tuple(tid, source, stream, src_task, tvalues), entered, tree)
        elif kind == "A":
            self.acker.ack(msg[1], msg[2])
        elif kind == "F":
            self.acker.fail(msg[1])

    # ----------------------------------------------------------------- errors and state
    def report_error(self, err: ComponentError) -> None:
        self.result.errors.append(err)
        print(f"squall: error in {err}", file=sys.stderr)
        if self.settings.fail_fast and self.stop_error is None:
            self.stop_error = err
        if self.on_error is not None:
            self.on_error(err)

    def queued(self) -> int:
        return sum(len(ex.inbox) for ex in self.bolts)

    def idle(self) -> bool:
        """Nothing left to do without new input or the clock moving."""
        return (
            self.queued() == 0
            and not any(ex.completions for ex in self.spouts)
            # a spout held back by another worker's full queue still has work to do
            and not (self.backpressured and not self.spouts_stopped)
        )

    def snapshot(self) -> Snapshot:
        spouts = [ex.stats for ex in self.spouts]
        return Snapshot(
            spout_emitted=sum(s.emitted for s in spouts),
            trees_acked=sum(s.acked for s in spouts),
            trees_failed=sum(s.failed for s in spouts),
            errors=len(self.result.errors),
            in_flight=len(self.acker),
        )

    def collect(self) -> RunResult:
        result = self.result
        result.stats = {}
        for ex in self.executors.values():
            result.stats.setdefault(ex.name, ComponentStats()).merge(ex.stats)
        result.chaining = dict(self.chain_reasons)
        result.timed_out = self.acker.timed_out
        result.pending_at_stop = len(self.acker)
        if self.realtime_active:
            result.realtime = self.rt.metrics
            result.overload_episodes = self.rt.overload_episodes
            result.rate_factor_min = self.rt.rate_factor_min
            result.overload_alarms = list(self.rt.alarms)
        return result

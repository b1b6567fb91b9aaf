"""One worker: a set of tasks run by a cooperative loop, with Storm's delivery semantics.

Single-process mode is one worker with every task. In multi-process mode each process runs a
worker with its share of tasks; tuples and acks for other workers go through a ``Transport``.
The loop is deliberately single-threaded: a component's methods are never called concurrently,
as under Storm's one-executor-thread-per-task model.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from pystorm.component import Tuple

from squall.acker import Acker, new_edge_id
from squall.clock import Clock
from squall.errors import TopologyError
from squall.hosting import build_component, values_type
from squall.model import ComponentDef, TopologyModel
from squall.queues import make_inbox
from squall.results import ComponentError, ComponentStats, RunResult, Snapshot
from squall.routing import build_routes
from squall.settings import RunSettings

WORKER_BITS = 8  # root ids carry the owning worker in their low bits


class Transport(Protocol):
    def send(self, worker: int, msg: tuple[Any, ...]) -> None: ...
    def flush(self) -> None: ...
    def receive(self) -> list[tuple[Any, ...]]: ...
    def backlog_exceeded(self) -> bool: ...


class Track:
    """Ack bookkeeping of one delivered tuple: its roots with their edge XOR, its children's XOR."""

    __slots__ = ("roots", "ackval", "entered")

    def __init__(self, roots: dict[int, int], entered: float) -> None:
        self.roots = roots
        self.ackval = 0
        self.entered = entered


class Executor:
    """One task: the hosted component and its counters."""

    def __init__(self, worker: Worker, comp: ComponentDef, task: int, conf: dict[str, Any]) -> None:
        self.worker = worker
        self.comp = comp
        self.name = comp.name
        self.task = task
        self.conf = conf
        self.is_spout = comp.is_spout
        self.stats = ComponentStats()
        self.inbox = make_inbox(worker.settings.queue_policy)
        self.inflight: dict[int, Track] = {}
        self.completions: deque[tuple[bool, Any]] = deque()
        self.current: Tuple | None = None
        self.component: Any = None

    def start(self) -> None:
        self.component = build_component(
            self.comp.cls, self.conf, self.worker.model.context_for(self.task), self.on_message
        )
        self.component.read_tuple = self._read_tuple

    def _read_tuple(self) -> Tuple:
        return self.current  # type: ignore[return-value]

    def on_message(self, msg: dict[str, Any]) -> None:
        command = msg.get("command")
        w = self.worker
        if command == "emit":
            w.emit(self, msg)
        elif command == "ack":
            self.stats.acked += 1
            track = self.inflight.pop(msg["id"], None)
            if track is not None:
                for root, edge in track.roots.items():
                    w.ack_root(root, edge ^ track.ackval)
        elif command == "fail":
            self.stats.failed += 1
            track = self.inflight.pop(msg["id"], None)
            if track is not None:
                for root in track.roots:
                    w.fail_root(root)
        elif command == "error":
            self.stats.errors += 1
            w.report_error(ComponentError(self.name, self.task, str(msg.get("msg", ""))))
        elif command == "log":
            self.component.logger.info("%s", msg.get("msg", ""))
        # sync, metrics, pid: nothing to do in-process


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
        self.vtypes = {
            (c.name, s.name): values_type(c.name, s.name, s.fields)
            for c in model.components.values()
            for s in c.streams.values()
        }
        self.executors: dict[int, Executor] = {}
        for task in tasks:
            comp = model.components[model.task_component[task]]
            self.executors[task] = Executor(self, comp, task, settings.component_conf(comp))
        self.spouts = [e for e in self.executors.values() if e.is_spout]
        self.bolts = [e for e in self.executors.values() if not e.is_spout]
        self.acker = Acker(self._tree_done)
        self.result = RunResult()
        self._next_tuple_id = 1
        self._next_root = 1
        self._ticks: list[list[Any]] = []
        self._next_expiry = 0.0
        self.spouts_stopped = False
        self.stop_error: ComponentError | None = None
        self.on_error: Callable[[ComponentError], None] | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        now = self.clock.now()
        for ex in self.executors.values():
            ex.start()
            freq = ex.conf.get("topology.tick.tuple.freq.secs")
            if freq and not ex.is_spout:
                self._ticks.append([now + float(freq), float(freq), ex])
        for ex in self.spouts:
            ex.component.activate()

    def close(self) -> None:
        for ex in self.spouts:
            self._call(ex, ex.component.deactivate)
        for ex in self.executors.values():
            close = getattr(ex.component, "close", None)
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
        now = self.clock.now()
        if self._ticks:
            progressed |= self._fire_ticks(now)
        if now >= self._next_expiry:
            self._next_expiry = now + min(1.0, self.settings.message_timeout_s / 4)
            if self.acker.expire(now, self.settings.message_timeout_s):
                progressed = True
        batch = self.settings.batch
        for ex in self.bolts:
            inbox = ex.inbox
            n = min(len(inbox), batch)
            if n:
                progressed = True
                for _ in range(n):
                    self._execute(ex, inbox.pop())
        progressed |= self._run_spouts()
        if self.transport is not None:
            self.transport.flush()
        return progressed

    def _run_spouts(self) -> bool:
        progressed = False
        paused = self.spouts_stopped or self._backpressure()
        max_pending = self.settings.max_spout_pending
        for ex in self.spouts:
            comp = ex.component
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
            if paused:
                continue
            for _ in range(self.settings.spout_batch):
                if max_pending is not None and self.acker.pending_by_task.get(ex.task, 0) >= max_pending:
                    break
                before = ex.stats.emitted
                self._call(ex, comp.next_tuple)
                if ex.stats.emitted == before:
                    break
                progressed = True
        return progressed

    def _backpressure(self) -> bool:
        cap = self.settings.queue_capacity
        for ex in self.bolts:
            if len(ex.inbox) >= cap:
                return True
        return self.transport is not None and self.transport.backlog_exceeded()

    def _execute(self, ex: Executor, tup: Tuple) -> None:
        ex.current = tup
        start = time.perf_counter()
        try:
            ex.component._run()
        except Exception as exc:  # noqa: BLE001 - any user exception fails the tree, the run goes on
            ex.component._handle_run_exception(exc)
            ex.component._current_tups = []
        elapsed = time.perf_counter() - start
        stats = ex.stats
        stats.executed += 1
        stats.exec_seconds += elapsed
        if elapsed > stats.exec_max_seconds:
            stats.exec_max_seconds = elapsed
        ex.current = None

    def _call(self, ex: Executor, method: Callable[..., Any], *args: Any) -> None:
        try:
            method(*args)
        except Exception as exc:  # noqa: BLE001
            ex.component.raise_exception(exc)

    def _fire_ticks(self, now: float) -> bool:
        fired = False
        for tick in self._ticks:
            while tick[0] <= now:
                tick[0] += tick[1]
                ex = tick[2]
                tid = self._new_tuple_id()
                ex.inbox.push(Tuple(tid, "__system", "__tick", -1, (int(tick[1]),)), now)
                fired = True
        return fired

    # ----------------------------------------------------------------- emits
    def _new_tuple_id(self) -> int:
        tid = self._next_tuple_id
        self._next_tuple_id = tid + 1
        return tid

    def emit(self, ex: Executor, msg: dict[str, Any]) -> None:
        stream = msg.get("stream") or "default"
        values = msg["tuple"]
        sdef = ex.comp.streams.get(stream)
        if sdef is None:
            raise TopologyError(
                f"{ex.name} emitted on undeclared stream {stream!r}; declared: {sorted(ex.comp.streams)}"
            )
        if sdef.fields and len(values) != len(sdef.fields):
            raise TopologyError(
                f"{ex.name} emitted {len(values)} values on stream {stream!r}, "
                f"which declares {len(sdef.fields)} fields {list(sdef.fields)}: {values!r}"
            )
        direct = msg.get("task")
        targets = self._targets(ex, stream, values, direct, sdef.direct)
        ex.stats.emitted += 1
        if self.capture:
            self.result.outputs.setdefault(ex.name, {}).setdefault(stream, []).append(list(values))
        if msg.get("need_task_ids", True) and direct is None:
            ex.component._pending_task_ids.append(list(targets))
        vtype = self.vtypes[(ex.name, stream)]
        tvalues = vtype._make(values) if vtype is not None else tuple(values)
        now = self.clock.now()
        if ex.is_spout:
            msg_id = msg.get("id")
            if msg_id is None or not self.settings.acking:
                for t in targets:
                    self._deliver(t, ex, stream, tvalues, None, now)
                if msg_id is not None:  # acking disabled: Storm acks at once
                    ex.completions.append((True, msg_id))
                return
            root = (self._next_root << WORKER_BITS) | self.index
            self._next_root += 1
            xor = 0
            for t in targets:
                edge = new_edge_id()
                xor ^= edge
                self._deliver(t, ex, stream, tvalues, {root: edge}, now)
            self.acker.init(root, xor, ex.task, msg_id, now)
            return
        anchors = msg.get("anchors")
        tracks = []
        if anchors:
            inflight = ex.inflight
            for a in anchors:
                tr = inflight.get(a)
                if tr is not None:
                    tracks.append(tr)
        for t in targets:
            if not tracks:
                self._deliver(t, ex, stream, tvalues, None, now)
                continue
            roots: dict[int, int] = {}
            entered = now
            for tr in tracks:
                edge = new_edge_id()
                tr.ackval ^= edge
                entered = min(entered, tr.entered)
                for r in tr.roots:
                    roots[r] = roots.get(r, 0) ^ edge
            self._deliver(t, ex, stream, tvalues, roots, entered)

    def _targets(
        self, ex: Executor, stream: str, values: Any, direct: int | None, is_direct: bool
    ) -> list[int]:
        routes = self.routes[(ex.name, stream)]
        if is_direct:
            if direct is None:
                raise TopologyError(f"{ex.name} emitted on direct stream {stream!r} without direct_task")
            for r in routes:
                if direct in r.tasks:
                    return [direct]
            valid = sorted(t for r in routes for t in r.tasks)
            raise TopologyError(
                f"{ex.name} emitted to direct task {direct} on {stream!r}; "
                f"tasks subscribed with a direct grouping: {valid}"
            )
        if direct is not None:
            raise TopologyError(
                f"{ex.name} gave direct_task={direct} on stream {stream!r}, which is not declared direct"
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
        self, task: int, ex: Executor, stream: str, values: Any,
        roots: dict[int, int] | None, entered: float,
    ) -> None:
        target = self.executors.get(task)
        if target is None:
            assert self.transport is not None
            self.transport.send(
                self.task_worker[task],
                ("T", task, ex.name, stream, ex.task, list(values), roots, entered),
            )
            return
        tid = self._new_tuple_id()
        if roots is not None:
            target.inflight[tid] = Track(roots, entered)
        target.inbox.push(Tuple(tid, ex.name, stream, ex.task, values), entered)

    # ----------------------------------------------------------------- acking
    def ack_root(self, root: int, value: int) -> None:
        owner = root & ((1 << WORKER_BITS) - 1)
        if owner == self.index:
            self.acker.ack(root, value)
        else:
            assert self.transport is not None
            self.transport.send(owner, ("A", root, value))

    def fail_root(self, root: int) -> None:
        owner = root & ((1 << WORKER_BITS) - 1)
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
            _, task, source, stream, src_task, values, roots, entered = msg
            vtype = self.vtypes[(source, stream)]
            target = self.executors[task]
            tid = self._new_tuple_id()
            if roots is not None:
                target.inflight[tid] = Track(roots, entered)
            tvalues = vtype._make(values) if vtype is not None else tuple(values)
            target.inbox.push(Tuple(tid, source, stream, src_task, tvalues), entered)
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
        return self.queued() == 0 and not any(ex.completions for ex in self.spouts)

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
        result.timed_out = self.acker.timed_out
        result.pending_at_stop = len(self.acker)
        return result


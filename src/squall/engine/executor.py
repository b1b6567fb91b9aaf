"""One task of a worker: the hosted component instance, its inbox, its tracking and counters.

An executor connects a user's streamparse component to its worker: it replaces the component's
``emit``/``ack``/``fail`` with direct calls (or a compiled emit plan) when the class keeps
pystorm's own, and answers the multilang messages of classes that override them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import Any, Protocol

from pystorm.bolt import Bolt as PystormBolt
from pystorm.component import Component, Tuple
from pystorm.spout import Spout as PystormSpout

from squall.engine.clock import Clock
from squall.engine.emit_plans import PlanHost, bolt_plan, spout_plan
from squall.engine.hosting import build_component
from squall.engine.model import ComponentDef, TopologyModel
from squall.engine.queues import FifoInbox, Inbox
from squall.engine.results import ComponentError, ComponentStats
from squall.engine.run_settings import RunSettings
from squall.engine.tracking import Track
from squall.errors import TopologyError

_UNSET = object()


class ExecutorHost(PlanHost, Protocol):
    """What an executor asks of its worker (``Worker`` provides it), beyond what plans need."""

    clocked: frozenset[str]
    clock: Clock
    chain_spent: list[float]
    model: TopologyModel
    settings: RunSettings

    def emit_values(
        self,
        ex: Executor,
        values: Any,
        stream: str | None,
        msg_id: Any,
        anchors: Any,
        direct: int | None,
        need_task_ids: bool,
    ) -> list[int] | None: ...
    def ack_root(self, root: int, value: int) -> None: ...
    def fail_root(self, root: int) -> None: ...
    def report_error(self, err: ComponentError) -> None: ...


class Executor:
    """One task: ``spec`` is the component as the topology declares it, ``instance`` the
    running object of the user's class."""

    def __init__(
        self, worker: ExecutorHost, spec: ComponentDef, task: int, conf: dict[str, Any]
    ) -> None:
        self.worker = worker
        self.spec = spec
        self.name = spec.name
        self.task = task
        self.conf = conf
        self.is_spout = spec.is_spout
        self.stats = ComponentStats()
        self.inbox: Inbox = FifoInbox()
        # None when the worker's scheduler owns the queue: then every push goes through it
        self.fifo_append: Any = self.inbox.push_item
        self.inflight: dict[int, Track] = {}
        # the worker's one cell of time spent in chained tasks (``inline_runner``); a list so that
        # every executor shares it without an attribute lookup on the worker per execute
        self.chain_spent: list[float] = worker.chain_spent
        self.chained = False  # tuples bound for this task run at once (``inline_runner``)
        self.completions: deque[tuple[bool, Any]] = deque()
        self.current: Tuple | None = None
        self.instance: Any = None
        self.stock_run = False
        self.plans: dict[str | None, Any] = {}
        pending = conf.get("topology.max.spout.pending")
        self.max_pending: int | None = None if pending is None else int(pending)
        self.rate_credit = 0.0  # a spout under the ``rate`` policy runs when this reaches 1
        self.turn = 0  # a spout's next_tuple calls per turn of the loop (RealtimeRuntime.set_turns)
        # per output stream, what the worker's general emit path needs (its ``_stream_out``)
        self.out: dict[str, tuple[Any, Any, int, Any]] = {}

    def start(self) -> None:
        """Build and initialize the component, and install the direct emit/ack/fail paths."""
        host = self.worker
        try:
            instance: Component = build_component(
                self.spec.cls,
                self.conf,
                host.model.context_for(self.task),
                self.on_message,
                clock=host.clock.now if self.name in host.clocked else None,
            )
        except Exception as exc:
            raise TopologyError(
                f"component {self.name!r} (task {self.task}, class {self.spec.cls.__name__}) "
                f"failed to initialize: {type(exc).__name__}: {exc}"
            ) from exc
        self.instance = instance
        instance.read_tuple = self._read_tuple
        cls = type(instance)
        # Fast paths: when a class keeps pystorm's own emit/ack/fail/_run, call the runner
        # directly instead of building and parsing a message dict per call. Classes that
        # override them (BatchingBolt, user code) keep the generic send_message path.
        if self.is_spout:
            if cls.emit is PystormSpout.emit:
                instance.emit = self._spout_emit
        else:
            if cls.emit is PystormBolt.emit:
                instance.emit = self._bolt_emit
            if cls.ack is PystormBolt.ack:
                instance.ack = self._ack
            if cls.fail is PystormBolt.fail:
                instance.fail = self._fail
            self.stock_run = cls._run is PystormBolt._run

    def run_batch(self, n: int) -> None:
        """Run ``n`` queued tuples (the hot loop: locals on purpose)."""
        comp = self.instance
        pop = self.inbox.pop
        stats = self.stats
        clock = perf_counter
        total = 0.0
        peak = stats.exec_max_seconds
        peak_at = stats.exec_max_started
        stock = self.stock_run
        if stock:
            process, process_tick, ack = comp.process, comp.process_tick, comp.ack
            auto_ack = comp.auto_ack
        cell = self.chain_spent
        for _ in range(n):
            tup = pop()
            inner = cell[0]
            start = clock()
            try:
                if stock:
                    # pystorm's Bolt._run, minus reading the tuple from a pipe
                    comp._current_tups = [tup]
                    if tup[2] == "__tick" and tup[1] == "__system":
                        process_tick(tup)
                    else:
                        process(tup)
                    if auto_ack:
                        ack(tup)
                    comp._current_tups = []
                else:
                    self.current = tup
                    comp._run()
                    self.current = None
            except Exception as exc:  # noqa: BLE001 - any user exception fails the tree, the run goes on
                comp._current_tups = [tup]
                comp._handle_run_exception(exc)
                comp._current_tups = []
            # what chained tasks ran inside this execute is theirs (``inline_runner``)
            elapsed = clock() - start - (cell[0] - inner)
            total += elapsed
            if elapsed > peak:
                peak, peak_at = elapsed, start
        stats.executed += n
        stats.exec_seconds += total
        stats.exec_max_seconds = peak
        stats.exec_max_started = peak_at

    def inline_runner(self) -> Callable[[Any], float]:
        """``run(tup)``: run one tuple now and return when it ended (``perf_counter``). Built
        after ``start``, for two callers that run one tuple at a time: a chained task's
        ``fifo_append`` (the tuple runs inside its emitter's execute; the emit paths deliver to
        it as to a queue), and the worker's scheduler, which picks every job itself (its next
        ``now`` is the end returned, without another clock read). ``run_batch``'s body, with
        everything bound once as ``run_batch`` hoists it out of its loop: a batch set-up per
        tuple would cost more than the tuple's own dispatch.

        Its execute time is its own: what chained tasks below it took is taken out, and its
        own time is added to the worker's ``chain_spent``, so that every task up the chain can
        take out the whole of what ran inside it (execute times stay per component, as the
        plan's calibration and the overload detection read them).
        """
        comp, cell, stats, clock = self.instance, self.chain_spent, self.stats, perf_counter
        stock = self.stock_run
        if stock:
            process, process_tick, ack = comp.process, comp.process_tick, comp.ack
            auto_ack = comp.auto_ack

        def run(tup: Any) -> float:
            inner = cell[0]
            start = clock()
            try:
                if stock:
                    comp._current_tups = [tup]
                    if tup[2] == "__tick" and tup[1] == "__system":
                        process_tick(tup)
                    else:
                        process(tup)
                    if auto_ack:
                        ack(tup)
                    comp._current_tups = []
                else:
                    previous, self.current = self.current, tup
                    comp._run()
                    self.current = previous
            except Exception as exc:  # noqa: BLE001 - as in run_batch
                comp._current_tups = [tup]
                comp._handle_run_exception(exc)
                comp._current_tups = []
            end = clock()
            elapsed = end - start - (cell[0] - inner)
            cell[0] += elapsed
            stats.executed += 1
            stats.exec_seconds += elapsed
            if elapsed > stats.exec_max_seconds:
                stats.exec_max_seconds = elapsed
                stats.exec_max_started = start
            return end

        return run

    def _read_tuple(self) -> Tuple | None:
        return self.current

    def _spout_emit(
        self,
        tup: Any,
        tup_id: Any = None,
        stream: str | None = None,
        direct_task: int | None = None,
        need_task_ids: bool = False,
    ) -> list[int] | None:
        if direct_task is None and not need_task_ids:
            plan = self.plans.get(stream, _UNSET)
            if plan is _UNSET:
                plan = self.plans[stream] = spout_plan(self.worker, self, stream or "default")
            if plan is not None:
                return plan(tup, tup_id, stream)  # type: ignore[no-any-return]
        return self.spout_emit_general(tup, tup_id, stream, direct_task, need_task_ids)

    def spout_emit_general(
        self,
        tup: Any,
        tup_id: Any,
        stream: str | None,
        direct_task: int | None,
        need_task_ids: bool,
    ) -> list[int] | None:
        return self.worker.emit_values(self, tup, stream, tup_id, None, direct_task, need_task_ids)

    def _bolt_emit(
        self,
        tup: Any,
        stream: str | None = None,
        anchors: Any = None,
        direct_task: int | None = None,
        need_task_ids: bool = False,
    ) -> list[int] | None:
        if direct_task is None and not need_task_ids:
            plan = self.plans.get(stream, _UNSET)
            if plan is _UNSET:
                plan = self.plans[stream] = bolt_plan(self.worker, self, stream or "default")
            if plan is not None:
                return plan(tup, stream, anchors)  # type: ignore[no-any-return]
        return self.bolt_emit_general(tup, stream, anchors, direct_task, need_task_ids)

    def bolt_emit_general(
        self,
        tup: Any,
        stream: str | None,
        anchors: Any,
        direct_task: int | None,
        need_task_ids: bool,
    ) -> list[int] | None:
        if anchors is None:
            instance = self.instance
            anchors = instance._current_tups if instance.auto_anchor else ()
        return self.worker.emit_values(self, tup, stream, None, anchors, direct_task, need_task_ids)

    def install_default_plan(self) -> None:
        """Once every task exists: make the default stream's plan the component's ``emit``."""
        instance = self.instance
        if "default" not in self.spec.streams:
            return
        if self.is_spout and instance.emit == self._spout_emit:
            plan = self.plans[None] = spout_plan(self.worker, self, "default")
        elif not self.is_spout and instance.emit == self._bolt_emit:
            plan = self.plans[None] = bolt_plan(self.worker, self, "default")
        else:
            return
        if plan is not None:
            instance.emit = plan

    def install_local_ack(self) -> None:
        """Once the worker's acker exists: acks of roots it owns skip the worker entirely."""
        if not self.is_spout and self.instance.ack == self._ack:
            w = self.worker
            self.instance.ack = w.acker.local_ack(self.inflight, self.stats, w.index, w.ack_root)

    def _ack(self, tup: Any) -> None:
        self.stats.acked += 1
        track = self.inflight.pop(tup.id if isinstance(tup, Tuple) else tup, None)
        if track is not None:
            ack_root = self.worker.ack_root
            ackval = track.ackval
            for root, edge in track.roots.items():
                ack_root(root, edge ^ ackval)

    def _fail(self, tup: Any) -> None:
        self.stats.failed += 1
        track = self.inflight.pop(tup.id if isinstance(tup, Tuple) else tup, None)
        if track is not None:
            for root in track.roots:
                self.worker.fail_root(root)

    def on_message(self, msg: dict[str, Any]) -> Any:
        """A multilang message from a component that overrides pystorm's emit/ack/fail."""
        command = msg.get("command")
        w = self.worker
        if command == "emit":
            need = msg.get("need_task_ids", True)
            targets = w.emit_values(
                self,
                msg["tuple"],
                msg.get("stream"),
                msg.get("id"),
                msg.get("anchors"),
                msg.get("task"),
                need,
            )
            if need and msg.get("task") is None:
                self.instance._pending_task_ids.append(targets)  # what read_task_ids returns
        elif command == "ack":
            self._ack(msg["id"])
        elif command == "fail":
            self._fail(msg["id"])
        elif command == "error":
            self.stats.errors += 1
            w.report_error(ComponentError(self.name, self.task, str(msg.get("msg", ""))))
        elif command == "log":
            self.instance.logger.info("%s", msg.get("msg", ""))
        # sync, metrics, pid: nothing to do in-process

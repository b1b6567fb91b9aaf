"""Specialised emit functions for the common case, compiled once per (task, stream).

``Worker.emit_values`` handles every case Storm allows (several subscribers, fields/all/global/
direct groupings, remote tasks, need_task_ids, output capture). Most emits are simpler: one
shuffle-like subscriber whose tasks all live in this process and FIFO queues. For those a closure
with everything pre-bound does the same work with far fewer lookups; it must stay equivalent to
``emit_values`` (the fidelity tests cover both: shuffle-like streams take these plans, the other
groupings and tuples bound for another process take the general path). Both paths share
``tracking`` (ids, anchoring, the values check).

A plan needs little from its worker and its executor; ``PlanHost`` and ``PlanSource`` say
exactly what, so this module imports neither.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any, Protocol

from pystorm.component import Tuple

from squall.engine.acker import Acker
from squall.engine.model import ComponentDef
from squall.engine.routing import SHUFFLE_LIKE, Route
from squall.engine.tracking import Track, check_values, deliver_chained, link_anchors

_new_tuple = tuple.__new__

BoltPlan = Callable[..., Any]
SpoutPlan = Callable[..., Any]


class PlanTarget(Protocol):
    """A receiving task of this process."""

    inflight: dict[int, Track]
    fifo_append: Callable[[Any], None] | None
    chained: bool  # fifo_append runs the tuple at once (engine.chaining)


class PlanHost(Protocol):
    """What a plan reads from its worker."""

    index: int
    now: float  # the loop's time of this round
    acking: bool
    acker: Acker
    routes: dict[tuple[str, str], list[Route]]
    vtypes: dict[tuple[str, str], Any]
    new_tuple_id: Callable[[], int]
    new_root: Callable[[], int]
    realtime_active: bool  # roots get deadlines: spouts take the general path, which sets them

    def local_target(self, task: int) -> PlanTarget | None: ...
    def capture_list(self, component: str, stream: str) -> list[list[Any]] | None: ...


class PlanSource(Protocol):
    """What a plan reads from the emitting executor."""

    name: str
    task: int
    spec: ComponentDef
    stats: Any  # ComponentStats: ``emitted`` is counted
    inflight: dict[int, Track]
    instance: Any  # the hosted component: auto_anchor and _current_tups for bolts

    def bolt_emit_general(
        self,
        tup: Any,
        stream: str | None,
        anchors: Any,
        direct_task: int | None,
        need_task_ids: bool,
    ) -> Any: ...

    def spout_emit_general(
        self,
        tup: Any,
        tup_id: Any,
        stream: str | None,
        direct_task: int | None,
        need_task_ids: bool,
    ) -> Any: ...


def _simple_targets(host: PlanHost, ex: PlanSource, stream: str) -> tuple[Any, ...] | None:
    """(vtype, fields, has_route, next_target) when the fast path applies, else None.

    ``next_target()`` returns the receiving executor, or None when this tuple must go to
    another process (multi-process mode): the plan then hands the emit to the general path.
    """
    sdef = ex.spec.streams.get(stream)
    if sdef is None or sdef.direct:
        return None
    routes = host.routes[(ex.name, stream)]
    if len(routes) > 1 or (routes and routes[0].sub.grouping not in SHUFFLE_LIKE):
        return None
    next_target: Callable[[], PlanTarget | None] | None = None
    if routes:
        route = routes[0]
        local = [t for t in map(host.local_target, route.tasks) if t is not None]
        if any(t.fifo_append is None for t in local):
            return None
        if len(local) == len(route.tasks):
            random.shuffle(local)
            next_target = itertools.cycle(local).__next__
        elif route.prefer_local is not None:
            prefer, local_target = route.prefer_local, host.local_target

            def next_target() -> PlanTarget | None:
                task = prefer()
                return None if task is None else local_target(task)
        else:
            return None
    return host.vtypes[(ex.name, stream)], sdef.fields, bool(routes), next_target


def bolt_plan(host: PlanHost, ex: PlanSource, plan_stream: str) -> BoltPlan | None:
    simple = _simple_targets(host, ex, plan_stream)
    if simple is None:
        return None
    vtype, fields, has_route, next_target = simple
    nfields = len(fields)
    comp, stats, inflight = ex.instance, ex.stats, ex.inflight
    name, task = ex.name, ex.task
    new_id = host.new_tuple_id
    getrandbits = random.Random().getrandbits

    def new_edge() -> int:
        return getrandbits(64) or 1

    captured = host.capture_list(name, plan_stream)
    fallback = ex.bolt_emit_general

    def emit(
        tup: Any,
        stream: str | None = None,
        anchors: Any = None,
        direct_task: int | None = None,
        need_task_ids: bool = False,
    ) -> Any:
        # the signature is pystorm Bolt.emit's: installed as the component's own ``emit``
        if (
            (stream is not None and stream != plan_stream)
            or direct_task is not None
            or need_task_ids
        ):
            return fallback(tup, stream, anchors, direct_task, need_task_ids)
        values = tup
        if type(values) is not list or (nfields and len(values) != nfields):
            check_values(name, plan_stream, values, fields)
        if has_route:
            target = next_target()
            if target is None:  # another process's task: the general path sends it
                return fallback(tup, stream, anchors, direct_task, need_task_ids)
        stats.emitted += 1
        if captured is not None:
            captured.append(list(values))
        if not has_route:
            return  # nobody subscribes: no edge, nothing to track
        if anchors is None:
            anchors = comp._current_tups if comp.auto_anchor else ()
        tid = new_id()
        if target.chained and inflight and len(anchors) == 1:
            anchor = anchors[0]
            track = inflight.get(anchor.id if type(anchor) is Tuple else anchor)
            if track is not None:  # the chained task's edge is linked only if it holds it
                tvalues = _new_tuple(vtype, values) if vtype is not None else tuple(values)
                tup = _new_tuple(Tuple, (tid, name, plan_stream, task, tvalues))
                deliver_chained(target.inflight, target.fifo_append, tup, track, new_edge)
                return
        if anchors and inflight:  # nothing tracked (acking off): no anchor can be
            roots, entered, tree = link_anchors(inflight, anchors, new_edge)
            if roots is not None:
                target.inflight[tid] = Track(roots, entered, tree)
        tvalues = _new_tuple(vtype, values) if vtype is not None else tuple(values)
        target.fifo_append(_new_tuple(Tuple, (tid, name, plan_stream, task, tvalues)))

    return emit


def spout_plan(host: PlanHost, ex: PlanSource, plan_stream: str) -> SpoutPlan | None:
    simple = _simple_targets(host, ex, plan_stream)
    if simple is None or not host.acking or host.realtime_active:
        return None
    vtype, fields, has_route, next_target = simple
    nfields = len(fields)
    stats, name, task = ex.stats, ex.name, ex.task
    new_id, new_root = host.new_tuple_id, host.new_root
    getrandbits = random.Random().getrandbits
    captured = host.capture_list(name, plan_stream)
    acker_init = host.acker.init
    fallback = ex.spout_emit_general

    def emit(
        tup: Any,
        tup_id: Any = None,
        stream: str | None = None,
        direct_task: int | None = None,
        need_task_ids: bool = False,
    ) -> Any:
        # the signature is pystorm Spout.emit's: installed as the component's own ``emit``
        if (
            (stream is not None and stream != plan_stream)
            or direct_task is not None
            or need_task_ids
        ):
            return fallback(tup, tup_id, stream, direct_task, need_task_ids)
        values, msg_id = tup, tup_id
        if type(values) is not list or (nfields and len(values) != nfields):
            check_values(name, plan_stream, values, fields)
        target = None
        if has_route:
            target = next_target()
            if target is None:  # another process's task: the general path sends it
                return fallback(tup, tup_id, stream, direct_task, need_task_ids)
        stats.emitted += 1
        if captured is not None:
            captured.append(list(values))
        tvalues = _new_tuple(vtype, values) if vtype is not None else tuple(values)
        tid = new_id()
        if msg_id is None:
            if target is not None:
                target.fifo_append(_new_tuple(Tuple, (tid, name, plan_stream, task, tvalues)))
            return
        now = host.now
        root = new_root()
        if target is None:
            acker_init(root, 0, task, msg_id, now)  # nobody subscribes: acked at once, as in Storm
            return
        edge = getrandbits(64) or 1
        target.inflight[tid] = Track({root: edge}, now)
        # the tree exists before its first tuple is delivered: a chained task acks it at once
        acker_init(root, edge, task, msg_id, now)
        target.fifo_append(_new_tuple(Tuple, (tid, name, plan_stream, task, tvalues)))

    return emit

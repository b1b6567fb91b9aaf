"""Specialised emit functions for the common case, compiled once per (task, stream).

``Worker.emit_values`` handles every case Storm allows (several subscribers, fields/all/global/
direct groupings, remote tasks, need_task_ids, output capture). Most emits are simpler: one
shuffle-like subscriber whose tasks all live in this process and FIFO queues. For those a closure
with everything pre-bound does the same work with far fewer lookups; it must stay equivalent to
``emit_values`` (the fidelity tests cover both: shuffle-like streams take these plans, the other
groupings and tuples bound for another process take the general path).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pystorm.component import Tuple

from squall.errors import TopologyError
from squall.routing import SHUFFLE_LIKE

if TYPE_CHECKING:
    from squall.worker import Executor, Worker

_new_tuple = tuple.__new__

BoltPlan = Callable[..., Any]
SpoutPlan = Callable[..., Any]


def _simple_targets(worker: Worker, ex: Executor, stream: str) -> tuple[Any, ...] | None:
    """(vtype, nfields, has_route, next_target) when the fast path applies, else None.

    ``next_target()`` returns the receiving executor, or None when this tuple must go to
    another process (multi-process mode): the plan then hands the emit to the general path.
    """
    sdef = ex.comp.streams.get(stream)
    if sdef is None or sdef.direct:
        return None
    routes = worker.routes[(ex.name, stream)]
    if len(routes) > 1 or (routes and routes[0].sub.grouping not in SHUFFLE_LIKE):
        return None
    next_target = None
    if routes:
        route = routes[0]
        local = [worker.executors[t] for t in route.tasks if t in worker.executors]
        if any(t.fifo_append is None for t in local):
            return None
        if len(local) == len(route.tasks):
            random.shuffle(local)
            next_target = itertools.cycle(local).__next__
        elif route.prefer_local is not None:
            prefer, executors = route.prefer_local, worker.executors

            def next_target() -> Any:
                task = prefer()
                return None if task is None else executors[task]
        else:
            return None
    return worker.vtypes[(ex.name, stream)], len(sdef.fields), bool(routes), next_target


def _capture_list(worker: Worker, name: str, stream: str) -> list[list[Any]] | None:
    if not worker.capture:
        return None
    return worker.result.outputs.setdefault(name, {}).setdefault(stream, [])


def _check(ex: Executor, stream: str, values: Any, nfields: int) -> None:
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{ex.name} emitted {values!r}: tuples must be lists or tuples of values")
    if nfields and len(values) != nfields:
        raise TopologyError(
            f"{ex.name} emitted {len(values)} values on stream {stream!r}, "
            f"which declares {nfields} fields: {values!r}"
        )


def bolt_plan(worker: Worker, ex: Executor, plan_stream: str) -> BoltPlan | None:
    simple = _simple_targets(worker, ex, plan_stream)
    if simple is None:
        return None
    vtype, nfields, has_route, next_target = simple
    comp, stats, inflight = ex.component, ex.stats, ex.inflight
    name, task = ex.name, ex.task
    new_id = worker._new_tuple_id
    getrandbits = random.Random().getrandbits
    captured = _capture_list(worker, name, plan_stream)
    from squall.worker import Track

    fallback = ex.bolt_emit_general

    def emit(
        tup: Any, stream: str | None = None, anchors: Any = None,
        direct_task: int | None = None, need_task_ids: bool = False,
    ) -> Any:
        # the signature is pystorm Bolt.emit's: installed as the component's own ``emit``
        if (stream is not None and stream != plan_stream) or direct_task is not None or need_task_ids:
            return fallback(tup, stream, anchors, direct_task, need_task_ids)
        values = tup
        if type(values) is not list or (nfields and len(values) != nfields):
            _check(ex, plan_stream, values, nfields)
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
        roots = None
        for a in anchors:
            tr = inflight.get(a.id if isinstance(a, Tuple) else a)
            if tr is None:
                continue
            edge = getrandbits(64) or 1
            tr.ackval ^= edge
            if roots is None:
                roots = {r: edge for r in tr.roots}
                entered = tr.entered
            else:
                for r in tr.roots:
                    roots[r] = roots.get(r, 0) ^ edge
                if tr.entered < entered:
                    entered = tr.entered
        if roots is not None:
            target.inflight[tid] = Track(roots, entered)
        tvalues = _new_tuple(vtype, values) if vtype is not None else tuple(values)
        target.fifo_append(_new_tuple(Tuple, (tid, name, plan_stream, task, tvalues)))

    return emit


def spout_plan(worker: Worker, ex: Executor, plan_stream: str) -> SpoutPlan | None:
    simple = _simple_targets(worker, ex, plan_stream)
    if simple is None or not worker.settings.acking:
        return None
    vtype, nfields, has_route, next_target = simple
    stats, name, task = ex.stats, ex.name, ex.task
    new_id = worker._new_tuple_id
    getrandbits = random.Random().getrandbits
    captured = _capture_list(worker, name, plan_stream)
    acker = worker.acker
    index = worker.index
    from squall.worker import WORKER_BITS, Track

    fallback = ex.spout_emit_general

    def emit(
        tup: Any, tup_id: Any = None, stream: str | None = None,
        direct_task: int | None = None, need_task_ids: bool = False,
    ) -> Any:
        # the signature is pystorm Spout.emit's: installed as the component's own ``emit``
        if (stream is not None and stream != plan_stream) or direct_task is not None or need_task_ids:
            return fallback(tup, tup_id, stream, direct_task, need_task_ids)
        values, msg_id = tup, tup_id
        if type(values) is not list or (nfields and len(values) != nfields):
            _check(ex, plan_stream, values, nfields)
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
        now = worker.now
        root = (worker._next_root << WORKER_BITS) | index
        worker._next_root += 1
        if target is None:
            acker.init(root, 0, task, msg_id, now)  # nobody subscribes: acked at once, as in Storm
            return
        edge = getrandbits(64) or 1
        target.inflight[tid] = Track({root: edge}, now)
        target.fifo_append(_new_tuple(Tuple, (tid, name, plan_stream, task, tvalues)))
        acker.init(root, edge, task, msg_id, now)

    return emit


def make_local_ack(ex: Executor, worker: Worker) -> Callable[[Any], None]:
    """pystorm Bolt.ack with this process's acker inlined; other processes' roots go by message."""
    acker = worker.acker
    roots_map, finish = acker._roots, acker._finish
    inflight, stats = ex.inflight, ex.stats
    from squall.worker import OWNER_MASK

    mask, index, ack_root = OWNER_MASK, worker.index, worker.ack_root

    def ack(tup: Any) -> None:
        stats.acked += 1
        track = inflight.pop(tup.id if isinstance(tup, Tuple) else tup, None)
        if track is None:
            return
        ackval = track.ackval
        for root, edge in track.roots.items():
            if root & mask != index:
                ack_root(root, edge ^ ackval)
                continue
            entry = roots_map.get(root)
            if entry is not None:  # else: the tree already failed or timed out
                entry.xor ^= edge ^ ackval
                if entry.xor == 0:
                    finish(root, entry, True)

    return ack

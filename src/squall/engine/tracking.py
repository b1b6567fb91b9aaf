"""Tuple tracking shared by both emit paths: ids, the ack bookkeeping of a delivered tuple,
anchoring, and the values check.

Leaf module of the engine: the general emit path (``Worker.emit_values``) and the compiled plans
(``emit_plans``) both build on it, so the root-id formula, the anchor XOR and the check of what
a component emitted are written once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pystorm.component import Tuple

from squall.errors import TopologyError

WORKER_BITS = 8
# root & OWNER_MASK = index of the worker whose acker owns the tree
OWNER_MASK = (1 << WORKER_BITS) - 1
MAX_WORKERS = 1 << WORKER_BITS


class Track:
    """Ack bookkeeping of one delivered tuple: its roots with their edge XOR, its children's XOR.

    ``entered`` is when the oldest of its roots entered the topology; ``tree`` the release and
    deadline of its tree (``engine.realtime_runtime.Tree``, shared by every tuple of the tree),
    None when no deadline applies.
    """

    __slots__ = ("roots", "ackval", "entered", "tree")

    def __init__(self, roots: dict[int, int], entered: float, tree: Any = None) -> None:
        self.roots = roots
        self.ackval = 0
        self.entered = entered
        self.tree = tree


def owner_of(root: int) -> int:
    """The index of the worker whose acker tracks ``root``."""
    return root & OWNER_MASK


class RootIds:
    """Root ids of one worker: a counter with the worker's index in the low bits.

    Any worker can then send an ack straight to the acker that owns the tree.
    """

    __slots__ = ("index", "_next")

    def __init__(self, index: int) -> None:
        if not 0 <= index < MAX_WORKERS:
            raise ValueError(f"worker index {index}: valid 0..{MAX_WORKERS - 1}")
        self.index = index
        self._next = itertools.count(1).__next__

    def __call__(self) -> int:
        return (self._next() << WORKER_BITS) | self.index


def tuple_ids() -> Callable[[], int]:
    """A fresh source of tuple ids (unique within one worker)."""
    return itertools.count(1).__next__


def check_values(component: str, stream: str, values: Any, fields: Sequence[str]) -> None:
    """Raise TopologyError unless ``values`` is a list or tuple of as many values as ``stream``
    declares fields."""
    if not isinstance(values, (list, tuple)):
        raise TopologyError(
            f"component {component!r} emitted {values!r} on stream {stream!r}: "
            "a tuple's values must be a list or a tuple"
        )
    if fields and len(values) != len(fields):
        raise TopologyError(
            f"component {component!r} emitted {_count(len(values), 'value')} on stream "
            f"{stream!r}, which declares {_count(len(fields), 'field')} {list(fields)}: {values!r}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def link_anchors(
    inflight: Mapping[Any, Track], anchors: Iterable[Any], new_edge: Callable[[], int]
) -> tuple[dict[int, int] | None, float, Any]:
    """Anchor one new tuple copy to ``anchors`` (tuples or tuple ids of the emitting task).

    Each tracked anchor gets a fresh edge id, XORed into its children's value; the copy's roots
    are the union of the anchors' roots with those edges. Returns (roots, entered, tree), or
    (None, 0.0, None) when no anchor is tracked (the copy is then untracked, as in Storm). A
    copy of several trees answers to the one due first.
    """
    roots: dict[int, int] | None = None
    entered = 0.0
    tree = None
    for anchor in anchors:
        track = inflight.get(anchor.id if isinstance(anchor, Tuple) else anchor)
        if track is None:
            continue
        edge = new_edge()
        track.ackval ^= edge
        if roots is None:
            roots = dict.fromkeys(track.roots, edge)
            entered = track.entered
            tree = track.tree
        else:
            for root in track.roots:
                roots[root] = roots.get(root, 0) ^ edge
            if track.entered < entered:
                entered = track.entered
            other = track.tree
            if other is not None and (tree is None or other.deadline < tree.deadline):
                tree = other
    return roots, entered, tree


def deliver_chained(
    inflight: dict[int, Track],
    run: Callable[[Any], None],
    tup: Any,
    anchor: Track,
    new_edge: Callable[[], int],
) -> None:
    """Deliver ``tup``, anchored to the one tracked tuple ``anchor``, to a chained task (its
    ``inflight`` and its inline ``run``): the task runs it now, inside the emitter's execute.

    If the task acks (or fails) it before returning, its edge would be XORed into the tree and
    out again while the emitter still holds its own input's edge, so the edge is left out (0).
    If the task holds the tuple (a window), the edge is linked after it returns, as
    ``link_anchors`` would have: the tree cannot have completed meanwhile, the emitter has not
    acked its input yet.
    """
    tid = tup[0]
    held = Track(dict.fromkeys(anchor.roots, 0), anchor.entered, anchor.tree)
    inflight[tid] = held
    run(tup)
    if tid in inflight:
        edge = new_edge()
        anchor.ackval ^= edge
        held.roots = dict.fromkeys(held.roots, edge)


def forget_abandoned(
    inflight: dict[int, Track], cutoff: float, index: int, alive: Callable[[int], Any]
) -> None:
    """Drop the tracking of a task's input tuples entered by ``cutoff`` whose trees are all
    over (``alive(root)`` None) and owned by worker ``index``: the bolt never acked them."""
    stale = [
        tid
        for tid, track in inflight.items()
        if track.entered <= cutoff
        and all(owner_of(r) == index and alive(r) is None for r in track.roots)
    ]
    for tid in stale:
        del inflight[tid]

"""Storm's acker: tracks tuple trees with XOR of edge ids.

Every delivered tuple copy gets a random 64-bit edge id. The spout's root starts with the XOR of
its first edges; a bolt acking a tuple sends ``edge ^ (XOR of the edges of its children)``. The
XOR returns to zero exactly when every edge was both created and acked — in any order, which is
why it works unchanged when acks cross process boundaries out of order (a premature zero needs a
64-bit collision).
"""

from __future__ import annotations

import random
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from pystorm.component import Tuple

from squall.engine.tracking import OWNER_MASK, Track

_rand = random.Random()
new_edge_id: Callable[[], int] = lambda: _rand.getrandbits(64) or 1  # noqa: E731


class AckCounter(Protocol):
    acked: int


@dataclass(slots=True)
class RootEntry:
    xor: int
    spout_task: int
    msg_id: Any
    entered: float
    tree: Any = None  # the tree's deadline (engine.realtime_runtime.Tree), if it has one


class Acker:
    """The tuple trees of one process's spout tasks.

    ``on_complete(spout_task, msg_id, ok, root_entered)`` is called once per tree: ``ok`` is
    True when the whole tree was acked, False on the first fail or a timeout.
    """

    def __init__(
        self,
        on_complete: Callable[[int, Any, bool, float], None],
        on_tree: Callable[[Any, bool], None] | None = None,
    ) -> None:
        self._roots: dict[int, RootEntry] = {}
        self._on_complete = on_complete
        # told ``(tree, ok)`` when a tree with a deadline is over, for its stream's metrics
        self._on_tree = on_tree
        self.pending_by_task: dict[int, int] = {}
        self.timed_out = 0

    def __len__(self) -> int:
        return len(self._roots)

    def init(
        self, root: int, xor: int, spout_task: int, msg_id: Any, entered: float, tree: Any = None
    ) -> None:
        """Start tracking a tree whose first edges XOR to ``xor`` (0: nobody received it)."""
        if xor == 0:
            if tree is not None and self._on_tree is not None:
                self._on_tree(tree, True)
            self._on_complete(spout_task, msg_id, True, entered)
            return
        self._roots[root] = RootEntry(xor, spout_task, msg_id, entered, tree)
        self.pending_by_task[spout_task] = self.pending_by_task.get(spout_task, 0) + 1

    def ack(self, root: int, value: int) -> None:
        entry = self._roots.get(root)
        if entry is None:  # tree already failed or timed out: late acks are ignored, as in Storm
            return
        entry.xor ^= value
        if entry.xor == 0:
            self._finish(root, entry, True)

    def fail(self, root: int) -> None:
        entry = self._roots.get(root)
        if entry is not None:
            self._finish(root, entry, False)

    def expire(self, now: float, timeout_s: float) -> int:
        """Fail every tree older than ``timeout_s``; returns how many."""
        cutoff = now - timeout_s
        expired = []
        # dicts keep insertion order, so the oldest trees come first
        for root, entry in self._roots.items():
            if entry.entered > cutoff:
                break
            expired.append((root, entry))
        for root, entry in expired:
            self._finish(root, entry, False)
        self.timed_out += len(expired)
        return len(expired)

    def entered(self, root: int) -> float | None:
        entry = self._roots.get(root)
        return None if entry is None else entry.entered

    def local_ack(
        self,
        inflight: MutableMapping[Any, Track],
        stats: AckCounter,
        index: int,
        ack_remote: Callable[[int, int], None],
    ) -> Callable[[Any], None]:
        """A bolt task's ``ack`` with this acker inlined (the hot path of every bolt).

        ``inflight`` is the task's tracking by tuple id, ``stats.acked`` counts the acks, ``index``
        is this worker's and ``ack_remote(root, value)`` sends an ack to a root another
        worker's acker owns.
        """
        roots_map, finish = self._roots, self._finish

        def ack(tup: Any) -> None:
            stats.acked += 1
            track = inflight.pop(tup.id if isinstance(tup, Tuple) else tup, None)
            if track is None:
                return
            ackval = track.ackval
            for root, edge in track.roots.items():
                if root & OWNER_MASK != index:
                    ack_remote(root, edge ^ ackval)
                    continue
                entry = roots_map.get(root)
                if entry is not None:  # else: the tree already failed or timed out
                    entry.xor ^= edge ^ ackval
                    if entry.xor == 0:
                        finish(root, entry, True)

        return ack

    def _finish(self, root: int, entry: RootEntry, ok: bool) -> None:
        del self._roots[root]
        self.pending_by_task[entry.spout_task] -= 1
        if entry.tree is not None and self._on_tree is not None:
            self._on_tree(entry.tree, ok)
        self._on_complete(entry.spout_task, entry.msg_id, ok, entry.entered)

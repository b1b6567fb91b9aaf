"""Task inboxes. Which waiting tuple a task runs next is a policy, chosen per topology.

``fifo`` is Storm's order. ``oldest-root-first`` runs first the tuple whose tree entered the
topology earliest, the order a deadline-driven scheduler wants (every tracked tuple knows when
its root entered; untracked tuples count as entering when they were queued).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from typing import Any, Protocol


class Inbox(Protocol):
    def push(self, item: Any, entered: float) -> None: ...
    def pop(self) -> Any: ...
    def __len__(self) -> int: ...


class FifoInbox:
    __slots__ = ("_items", "push_item", "pop")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self.pop = self._items.popleft
        self.push_item = self._items.append

    def push(self, item: Any, entered: float) -> None:
        self._items.append(item)

    def __len__(self) -> int:
        return len(self._items)


class OldestRootFirstInbox:
    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()  # ties keep arrival order

    def push(self, item: Any, entered: float) -> None:
        heapq.heappush(self._heap, (entered, next(self._seq), item))

    def pop(self) -> Any:
        return heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)


POLICIES: dict[str, type] = {"fifo": FifoInbox, "oldest-root-first": OldestRootFirstInbox}


def make_inbox(policy: str) -> Inbox:
    try:
        inbox: Inbox = POLICIES[policy]()
    except KeyError:
        raise ValueError(
            f"unknown queue policy {policy!r} (setting squall.queue.policy); valid: {sorted(POLICIES)}"
        ) from None
    return inbox

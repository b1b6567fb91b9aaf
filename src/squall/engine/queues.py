"""Task inboxes: Storm's FIFO order, one per task.

Any other order is the worker's scheduler (``squall.scheduler``: ``edf``, ``llf``, ``dm``,
``rm``): it replaces every task's inbox with a view of one queue for the whole worker
(``engine.realtime_runtime.ScheduledInbox``), so that the choice is made across tasks.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol


class Inbox(Protocol):
    def push(self, item: Any, entered: float, tree: Any = None) -> None: ...
    def pop(self) -> Any: ...
    def __len__(self) -> int: ...


class FifoInbox:
    __slots__ = ("_items", "push_item", "pop")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self.pop = self._items.popleft
        self.push_item = self._items.append

    def push(self, item: Any, entered: float, tree: Any = None) -> None:
        self._items.append(item)

    def __len__(self) -> int:
        return len(self._items)

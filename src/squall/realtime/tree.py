"""A tuple tree's time: release, absolute deadline and class, shared by all its tuples.

The worker's real-time runtime (``squall.engine.realtime_runtime``) makes one per root whose
stream declares a deadline; every ``Track`` of the tree points at the same object.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from squall.realtime.deadlines import StreamDeadline
from squall.realtime.metrics import StreamMetrics


class Tree:
    """Release, absolute deadline and class of one tuple tree, shared by all its tuples."""

    __slots__ = ("release", "deadline", "decl", "metrics", "sheddable", "shed", "key", "claim")

    def __init__(
        self,
        release: float,
        deadline: float,
        decl: StreamDeadline,
        metrics: StreamMetrics | None,
        sheddable: bool,
    ) -> None:
        self.release = release
        self.deadline = deadline
        self.decl = decl
        self.metrics = metrics  # None in a worker that does not own the tree's root
        self.sheddable = sheddable
        self.shed = False
        self.key = f"{decl.component}.{decl.stream}"  # its stream's name in metrics and rates
        # (context, stream, key, weight): whom a sheddable tree dropped unrun hands its (m,k)
        # weight back to (RealtimeContext.hand_on); None: nobody
        self.claim: tuple[Any, str, Hashable, int] | None = None

    def wire(self) -> tuple[float, float, str, str]:
        """What crosses to another worker: times and the declaring stream (not the metrics)."""
        return (self.release, self.deadline, self.decl.component, self.decl.stream)

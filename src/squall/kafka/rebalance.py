"""kafka-python's rebalance callbacks for ``ReliableKafkaSpout``: run inside its consumer's
``poll``, they tell the spout which partitions it lost and where the ones it got resume."""

from __future__ import annotations

from typing import Any, Protocol

from kafka import ConsumerRebalanceListener


class RebalancingSpout(Protocol):
    """What the callbacks use of ``squall.kafka.spout.ReliableKafkaSpout`` (a protocol, so
    that this module does not import the spout's)."""

    consumer: Any
    tracker: Any
    logger: Any
    resume_at: dict[tuple[str, int], tuple[int, int | None]]
    _revoked_since: float | None

    def on_revoked(self, revoked: set[tuple[str, int]]) -> None: ...


class Listener(ConsumerRebalanceListener):
    """Forwards kafka-python's rebalance callbacks (run inside ``poll``) to the spout."""

    def __init__(self, spout: RebalancingSpout) -> None:
        self.spout = spout

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.spout.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned: Any) -> None:
        # A partition this member had before resumes at its first unfinished offset (a local
        # seek: no network call, which would deadlock on kafka-python's event loop), tracked
        # from there so its acked-but-uncommitted prefix is committed. Others start from the
        # group's committed offset and are tracked from their first record.
        for tp in assigned:
            resume = self.spout.resume_at.pop((tp.topic, tp.partition), None)
            if resume is not None:
                point, committed = resume
                self.spout.consumer.seek(tp, point)
                self.spout.tracker.resume((tp.topic, tp.partition), point, committed)
        self.spout.resume_at.clear()
        self.spout._revoked_since = None
        self.spout.logger.info(
            "task %s assigned %s",
            getattr(self.spout, "task_id", "?"),
            sorted((tp.topic, tp.partition) for tp in assigned),
        )

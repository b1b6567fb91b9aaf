"""Group membership of ``ReliableKafkaSpout``: kafka-python's rebalance callbacks (run inside
its consumer's ``poll``: which partitions it lost, where the ones it got resume) and the
replacement of a consumer whose group join never completes."""

from __future__ import annotations

from typing import Any, Protocol

from kafka import ConsumerRebalanceListener


class RebalancingSpout(Protocol):
    """What this module uses of ``squall.kafka.spout.ReliableKafkaSpout`` (a protocol, so
    that it does not import the spout's)."""

    consumer: Any
    tracker: Any
    logger: Any
    settings: Any
    stats: dict[str, int]
    in_flight: dict[str, Any]
    buffered: Any
    replay: Any
    dead_letter_pending: Any
    resume_at: dict[tuple[str, int], tuple[int, int | None]]
    start_at: dict[tuple[str, int], int]
    started: set[tuple[str, int]]
    _revoked_since: float | None
    _unassigned_since: float | None

    def on_revoked(self, revoked: set[tuple[str, int]]) -> None: ...
    def _new_consumer(self) -> Any: ...


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
            key = (tp.topic, tp.partition)
            resume = self.spout.resume_at.pop(key, None)
            if resume is not None:
                point, committed = resume
                self.spout.consumer.seek(tp, point)
                self.spout.tracker.resume(key, point, committed)
            elif key in self.spout.start_at and key not in self.spout.started:
                # a backfill (squall.kafka.spout.start): once, on its first assignment here;
                # tracked from its first record, like any partition new to this member
                self.spout.consumer.seek(tp, self.spout.start_at[key])
                self.spout.logger.info("%s starts at offset %d", key, self.spout.start_at[key])
            self.spout.started.add(key)
        self.spout.resume_at.clear()
        self.spout._revoked_since = None
        self.spout.logger.info(
            "task %s assigned %s",
            getattr(self.spout, "task_id", "?"),
            sorted((tp.topic, tp.partition) for tp in assigned),
        )


def watch_assignment(spout: RebalancingSpout, now: float) -> None:
    """Replace a consumer whose group join has not completed for too long.

    A workaround, not a design: with kafka-python 3.0.12, a rejoin right after the first
    assignment sometimes never completes its SyncGroup ("Elected group leader" and then
    nothing for minutes, the member finally unknown to the broker). A fresh member joins
    within a second. Only in-flight state is lost, and it replays from the commits.

    Two signs of a stuck join: no partitions at all, or partitions revoked and none
    assigned since. The second matters because kafka-python keeps reporting the revoked
    partitions in ``assignment()`` until the new assignment arrives (seen under Storm: a
    rebalance 0.3 s after the first assignment, then nothing for 4 minutes). A task that
    legitimately has no partitions (more tasks than partitions) rejoins every
    ``stuck.join.secs``; keep task counts at most the partition count.
    """
    waiting_since = spout._revoked_since
    if waiting_since is None:
        if spout.consumer.assignment():
            spout._unassigned_since = None
            return
        if spout._unassigned_since is None:
            spout._unassigned_since = now
        waiting_since = spout._unassigned_since
    if now - waiting_since < spout.settings.stuck_join_s:
        return
    spout.logger.warning(
        "group join not complete for %.0f s: replacing the Kafka consumer (group %s)",
        now - waiting_since,
        spout.settings.group_id,
    )
    spout.stats["consumer_replacements"] += 1
    spout.tracker.revoke(spout.tracker.partitions())
    spout.in_flight.clear()
    spout.buffered.clear()
    spout.replay.clear()
    spout.dead_letter_pending.clear()
    spout.resume_at.clear()
    try:
        spout.consumer.close(autocommit=False)
    except Exception as exc:  # a broken member may fail to leave; the new one matters
        spout.logger.warning("closing the stuck consumer failed: %r", exc)
    spout.consumer = spout._new_consumer()
    spout._unassigned_since = None
    spout._revoked_since = None

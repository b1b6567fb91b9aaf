"""The Kafka spout's side of a changelog-backed state (``squall.kafka.changelog``): at start,
before its first poll, the component's first task plans the catch-up (the ranges of committed
records the state behind the changelog may not have counted; on the group's first checkpointed
run, the origin record and no range), then re-emits those records, unanchored, a few per
``next_tuple`` (:data:`PER_TURN`) and ahead of any new record (the state counts in event-time
order). They are streamed (``squall.kafka.catch_up_read``): memory O(partitions x
``catch_up_read.BUFFER``) records whatever the ranges' length, in event-time order where each
partition's timestamps are non-decreasing, in each partition's offset order where they are
not (as a live read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from squall.kafka.catch_up_read import BUFFER, MergedRead
from squall.kafka.changelog import CATCHUP_MARK, new_client, plan_catch_up
from squall.kafka.offsets import TopicPart
from squall.kafka.security import ClientSecurity

# Records re-emitted per next_tuple: a few, like a poll's batch, so the loop stays responsive.
PER_TURN = 16


class _Settings(Protocol):
    bootstrap_servers: Any
    topics: Any
    group_id: str
    auto_offset_reset: str


class CatchUpSpout(Protocol):
    """What a catch-up needs of the spout (``ReliableKafkaSpout``)."""

    settings: _Settings
    security: ClientSecurity
    logger: Any
    stats: dict[str, int]
    start_at: dict[TopicPart, int]

    def to_values(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: str,
        stands_for: int = 1,
        timestamp_ms: int | None = None,
    ) -> list[Any]: ...

    def emit(self, values: list[Any]) -> Any: ...


class CatchUp:
    """The catch-up of one spout task for the state in ``changelog``; true while records
    are left to re-emit."""

    def __init__(self, changelog: str) -> None:
        self.changelog = changelog
        self.read: MergedRead | None = None
        self.planned = False

    def __bool__(self) -> bool:
        return self.read is not None and not self.read.done

    def plan(self, spout: CatchUpSpout) -> None:
        """Plan the ranges to re-read (before the spout's first poll, so before any commit of
        this run moves the group's offsets, and after its consumer is made: a backfill's
        offsets, ``spout.start_at``, are known) and open their streamed read."""
        s = spout.settings
        plan = plan_catch_up(
            s.bootstrap_servers,
            s.topics,
            s.group_id,
            self.changelog,
            f"{s.group_id}/",
            spout.security,
            starts=spout.start_at,
            reset=s.auto_offset_reset,
        )
        self.planned = True
        if plan.problem:
            spout.logger.error("catch-up for the state in %s: %s", self.changelog, plan.problem)

        def open_consumer() -> Any:
            return new_client(
                "consumer",
                s.bootstrap_servers,
                spout.security,
                enable_auto_commit=False,  # no group: it assigns itself and never commits
                auto_offset_reset="earliest",  # a range start gone with retention: from there
                max_poll_records=BUFFER,
                client_id=f"squall-catchup-{s.group_id}",
            )

        self.read = MergedRead(open_consumer, plan.ranges)
        spout.logger.info(
            "catch-up for the state in %s: %d committed records to re-emit, %s (%s)",
            self.changelog,
            sum(end - start for start, end in plan.ranges.values()),
            {f"{t}:{p}": r for (t, p), r in sorted(plan.ranges.items())} or "none",
            plan.note,
        )

    def emit_some(self, spout: CatchUpSpout) -> None:
        """Re-emit up to PER_TURN records, unanchored, their topic marked (CATCHUP_MARK)."""
        if self.read is None:
            return
        for record in self.read.take(PER_TURN):
            try:
                text = (record.value or b"").decode("utf-8")
            except UnicodeDecodeError:
                continue  # dead-lettered when first read; nothing for a state to count
            values = spout.to_values(
                CATCHUP_MARK + record.topic,
                record.partition,
                record.offset,
                text,
                timestamp_ms=record.timestamp_ms,
            )
            spout.emit(values)  # no tup_id: unanchored, never replayed, never committed
            spout.stats["caught_up"] += 1
        if self.read.done:
            spout.logger.info(
                "catch-up for the state in %s done: %d records re-emitted, at most %d held at once",
                self.changelog,
                self.read.emitted,
                self.read.max_buffered,
            )
            self.read = None

    def suspend(self) -> None:
        """The spout deactivated: its consumer closed, the rest re-read when it goes on."""
        if self.read is not None:
            self.read.suspend()

    def close(self) -> None:
        if self.read is not None:
            self.read.close()
            self.read = None


def first_task_catch_up(changelog: str | None, context: Mapping[str, Any] | Any) -> CatchUp | None:
    """A CatchUp for the component's first task only (it reads every partition: two tasks
    would each emit the same records); None without a changelog or on the other tasks."""
    if changelog is None:
        return None
    ctx = context if isinstance(context, Mapping) else {}
    task = ctx.get("taskid", 0)
    tasks = ctx.get("component->tasks", {}).get(ctx.get("componentid")) or [task]
    return CatchUp(changelog) if task == min(tasks) else None

"""The Kafka spout's side of a changelog-backed state (``squall.kafka.changelog``): at start,
before its first poll, the component's first task reads the committed records that the state
behind the changelog may not have counted, and re-emits them, unanchored, ahead of any new
record (the state counts in event-time order)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from squall.kafka.changelog import CATCHUP_MARK, CatchUpRecord, plan_catch_up
from squall.kafka.security import ClientSecurity

# Records re-emitted per next_tuple: a few, like a poll's batch, so the loop stays responsive.
PER_TURN = 16


class _Settings(Protocol):
    bootstrap_servers: Any
    topics: Any
    group_id: str


class CatchUpSpout(Protocol):
    """What a catch-up needs of the spout (``ReliableKafkaSpout``)."""

    settings: _Settings
    security: ClientSecurity
    logger: Any
    stats: dict[str, int]

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
        self.records: deque[CatchUpRecord] = deque()
        self.planned = False

    def __bool__(self) -> bool:
        return bool(self.records)

    def plan(self, spout: CatchUpSpout) -> None:
        """Read the records to re-emit (before the spout's first poll, so before any commit of
        this run moves the group's offsets)."""
        s = spout.settings
        records, ranges = plan_catch_up(
            s.bootstrap_servers,
            s.topics,
            s.group_id,
            self.changelog,
            f"{s.group_id}/",
            spout.security,
        )
        self.planned = True
        self.records.extend(records)
        spout.logger.info(
            "catch-up for the state in %s: %d committed records to re-emit, %s",
            self.changelog,
            len(records),
            {f"{t}:{p}": r for (t, p), r in sorted(ranges.items())} or "none",
        )

    def emit_some(self, spout: CatchUpSpout) -> None:
        """Re-emit up to PER_TURN records, unanchored, their topic marked (CATCHUP_MARK)."""
        for _ in range(min(PER_TURN, len(self.records))):
            record = self.records.popleft()
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


def first_task_catch_up(changelog: str | None, context: Mapping[str, Any] | Any) -> CatchUp | None:
    """A CatchUp for the component's first task only (it reads every partition: two tasks
    would each emit the same records); None without a changelog or on the other tasks."""
    if changelog is None:
        return None
    ctx = context if isinstance(context, Mapping) else {}
    task = ctx.get("taskid", 0)
    tasks = ctx.get("component->tasks", {}).get(ctx.get("componentid")) or [task]
    return CatchUp(changelog) if task == min(tasks) else None

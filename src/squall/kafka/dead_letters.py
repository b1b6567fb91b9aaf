"""The Kafka spout's dead letters: a record that failed ``max.attempts`` times in the topology
is written to the dead-letter topic with the reason, asynchronously, and counts as done (its
offset may commit) only once the broker has it; a refused or unreachable write is retried."""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from squall.kafka.offsets import OffsetTracker, parse_tup_id


class DeadLetters:
    """Mixed into ``ReliableKafkaSpout``, whose state these methods share."""

    # set by the spout's initialize
    in_flight: dict[str, Any]
    tracker: OffsetTracker
    settings: Any
    producer: Any
    logger: Any
    stats: dict[str, int]
    dead_letter_pending: deque[tuple[str, str]]  # (tup_id, reason)
    dead_letter_sent: deque[tuple[str, str, Any]]  # + the send's future

    def _dead_letter(self, tup_id: str, reason: str) -> None:
        """Write the record to the dead-letter topic; it is done once the broker has it."""
        from kafka.errors import KafkaError

        entry = self.in_flight.get(tup_id)
        if entry is None:
            return
        topic, partition, offset = parse_tup_id(tup_id)
        raw = entry.raw or b""
        record = {
            "raw": raw.decode("utf-8", errors="backslashreplace"),
            "reason": reason,
            "source": {"topic": topic, "partition": partition, "offset": offset},
            "stage": "spout",
            "ts": time.time_ns() // 1_000_000,
        }
        try:
            future = self.producer.send(
                self.settings.dead_letter_topic,
                value=json.dumps(record).encode(),
                key=tup_id.encode(),
            )
        except KafkaError as exc:
            # The broker is unreachable: keep the record in flight and try again later.
            self.logger.warning("dead-letter write of %s failed (%s); will retry", tup_id, exc)
            self.dead_letter_pending.append((tup_id, reason))
            return
        # Asynchronous: the record is done when the broker's answer is read on a later turn
        # (``_settle_dead_letters``); the worker loop does not wait for it.
        self.dead_letter_sent.append((tup_id, reason, future))
        self._settle_dead_letters()

    def _settle_dead_letters(self) -> None:
        """Count as done the dead letters the broker has; re-queue the ones it refused."""
        for _ in range(len(self.dead_letter_sent)):
            tup_id, reason, future = self.dead_letter_sent.popleft()
            if not future.is_done:
                self.dead_letter_sent.append((tup_id, reason, future))
            elif future.failed():
                self.logger.warning(
                    "dead-letter write of %s failed (%s); will retry", tup_id, future.exception
                )
                self.dead_letter_pending.append((tup_id, reason))
            else:
                self._dead_lettered(tup_id)

    def _dead_lettered(self, tup_id: str) -> None:
        entry = self.in_flight.get(tup_id)
        if entry is None:
            return
        self.in_flight.pop(tup_id, None)
        self.tracker.acked(entry.tp, entry.offset)
        self.stats["dead_lettered"] += 1

    def _retry_dead_letters(self) -> None:
        self._settle_dead_letters()
        for _ in range(len(self.dead_letter_pending)):
            tup_id, reason = self.dead_letter_pending.popleft()
            self._dead_letter(tup_id, reason)

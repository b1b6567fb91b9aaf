"""PaneTrendBolt's checkpoints in the compacted changelog topic: restore on start, write on ticks.

Glue between ``health_core.trend_checkpoint`` (the state as data) and ``squall.kafka.changelog``
(the topic). On start a task reads the latest record of its key
(``<group>/<component>/<index>-of-<tasks>``) and resumes from it; the Kafka spout, started
with the same changelog, re-emits the committed records the checkpoint may not have counted
(docs/windows.md, "Trend windows across a crash").

Refused (an error naming the topic and the fix, raised from ``initialize``): a changelog that
is not compacted, and checkpoints of the same component written with another parallelism (the
rules were split otherwise; restoring some of them would silently lose the rest).

No checkpoint of this task (the group's first run with checkpoints, or a task that never had
anything to count): the task starts from empty. On a first run the spout has written the
origin record (``<group>/origin``, the offsets the run starts from) before its first poll, so
a crash before the first checkpoint is caught up from there (``squall.kafka.changelog``).

An unreadable checkpoint (damaged, foreign, or of other window settings) is not a crash loop:
it is logged as an error and written to the dead-letter topic with the reason, the task starts
from empty, and the spout, which finds the same unreadable record, re-reads the readings topic
as catch-up from where the windows began (the origin; the beginning of the topic for a
changelog without one), so the windows are recounted rather than lost.
"""

from __future__ import annotations

import json
import time
from typing import Any

from health_core.config import HealthConfig
from health_core.trend_checkpoint import TaskState, checkpoint_key, component_prefix
from squall.kafka.changelog import ChangelogWriter, ensure_changelog, read_latest
from squall.kafka.errors import KafkaConfigError
from squall.kafka.security import PLAIN, ClientSecurity

_RAW_PREVIEW = 1024  # characters of an unreadable checkpoint kept in its dead letter


class TrendChangelog:
    """One PaneTrendBolt task's checkpoints (made only when the changelog topic is set)."""

    def __init__(
        self,
        config: HealthConfig,
        context: dict[str, Any],
        window_ms: int,
        slide_ms: int,
        log: Any,
        security: ClientSecurity = PLAIN,
    ) -> None:
        kafka = config.kafka
        assert kafka.trends_changelog_topic is not None
        self.topic = kafka.trends_changelog_topic
        self.servers = list(kafka.bootstrap_servers)
        self.dead_letter_topic = kafka.invalid_topic
        self.window_ms, self.slide_ms = window_ms, slide_ms
        self.log = log
        component = str(context.get("componentid", "trend"))
        task_id = context.get("taskid", 0)
        tasks = sorted(context.get("component->tasks", {}).get(component) or [task_id])
        self.index, self.tasks = tasks.index(task_id), len(tasks)
        self.prefix = component_prefix(kafka.group_id, component)
        self.key = checkpoint_key(kafka.group_id, component, self.index, self.tasks)
        self.security = security  # squall.kafka.security.*, as the spout and sinks connect
        # raises if the topic is not compacted
        ensure_changelog(self.servers, self.topic, security)
        self.writer = ChangelogWriter(
            self.servers, self.topic, f"squall-trend-{self.key}", security
        )
        self.written = 0

    def restore(self) -> TaskState | None:
        """This task's latest checkpoint, or None (none yet, or unreadable: see the module)."""
        good, bad = read_latest(self.servers, self.topic, self.prefix, self.security)
        foreign = sorted(k for k in {*good, *bad} if not k.endswith(f"-of-{self.tasks}"))
        if foreign:
            raise KafkaConfigError(
                f"changelog topic {self.topic!r} holds trend checkpoints of this component "
                f"written with another parallelism ({', '.join(foreign)}); this run has "
                f"{self.tasks} task(s), and each task's checkpoint holds the rules grouped to "
                f"it. Run with the parallelism they were written with "
                f"(health.parallelism.trend), or start the windows afresh on purpose with "
                f"another kafka.group_id or kafka.trends_changelog_topic"
            )
        if self.key in bad:
            record = bad[self.key]
            self._refuse(record.offset, record.raw, record.reason)
            return None
        checkpoint = good.get(self.key)
        if checkpoint is None:
            return None
        try:
            state = TaskState.from_data(checkpoint.state, self.window_ms, self.slide_ms)
        except ValueError as exc:
            raw = json.dumps(checkpoint.state, separators=(",", ":")).encode()
            self._refuse(checkpoint.offset, raw, str(exc))
            return None
        if (state.task, state.tasks) != (self.index, self.tasks):
            self._refuse(checkpoint.offset, b"", f"written by task {state.task} of {state.tasks}")
            return None
        self.log.info(
            "trend windows restored from %s offset %d (key %s): %d live panes, watermark %s",
            self.topic,
            checkpoint.offset,
            self.key,
            state.panes.panes(),
            state.watermark,
        )
        return state

    def _refuse(self, offset: int, raw: bytes, reason: str) -> None:
        """An unreadable checkpoint: say so, dead-letter it, start from empty (the spout
        recounts from the origin or the beginning, seeing the same record)."""
        where = f"{self.topic}:0:{offset}"
        self.log.error(
            "trend checkpoint %s (key %s) is unreadable: %s; it goes to %s, and the windows are "
            "recounted from where they began (the changelog's origin record, or the beginning "
            "of the readings topic without one)",
            where,
            self.key,
            reason,
            self.dead_letter_topic,
        )
        letter = {
            "raw": raw.decode("utf-8", "backslashreplace")[:_RAW_PREVIEW],
            "reason": f"unreadable trend checkpoint (key {self.key}): {reason}",
            "ts": time.time_ns() // 1_000_000,
            "source": {"topic": self.topic, "partition": 0, "offset": offset},
            "stage": "trend-checkpoint",
        }
        self.writer.send_raw(self.dead_letter_topic, self.key, json.dumps(letter).encode())

    def write(self, state: TaskState) -> None:
        """Checkpoint ``state`` (asynchronously: the producer sends it in its own thread)."""
        self.writer.write(self.key, state.resume_from_ms, state.to_data())
        self.written += 1

    def close(self) -> None:
        self.writer.close()

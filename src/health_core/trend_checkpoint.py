"""A PaneTrendBolt task's state as a checkpoint, and back. Pure logic; no Kafka.

``bolts.trend.PaneTrendBolt`` writes one checkpoint per task to the changelog topic
(``squall.kafka.changelog``), keyed ``<group>/<component>/<index>-of-<tasks>``: all the task's
rules in one record, so a restore never mixes a rule's panes of one moment with another rule's
watermark of another moment (the task's rules share its watermark and next window).

The state (``TaskState.to_data``)::

    {"task": 0, "tasks": 1,
     "panes": PaneCounts.snapshot(),               # counts and offset bitmaps of the live panes
     "streams": [[component, stream, latest ts]],  # the watermark generator's progress
     "watermark": <ms | null>,                     # tuples behind it are late
     "previous": {rule: count}, "previous_end": <ms | null>}   # for the next record's trend

``resume_from_ms`` of the checkpoint is ``watermark``: an alert the task had not counted at the
checkpoint and whose event time is at or after it would be counted by the restored state; one
before it is late after the restore, as it would have been without the crash, since it reached
the task after the checkpoint, when the watermark was already there. ``resume_from_ms`` None (no watermark
yet) means from where the windows began: the changelog's origin record (the offsets the
group's first checkpointed run started from), or the beginning without one.

The format (``squall.changelog/1``) is the one checkpoints had before origin records existed:
those restore as they are.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from health_core.trend_panes import PaneCounts


def checkpoint_key(group_id: str, component: str, index: int, tasks: int) -> str:
    """The changelog key of one task's checkpoint. The group is part of it: the state is
    meaningful only with that group's committed offsets (a fresh group starts fresh)."""
    return f"{group_id}/{component}/{index}-of-{tasks}"


def component_prefix(group_id: str, component: str) -> str:
    """The key prefix of every task's checkpoint of ``component``."""
    return f"{group_id}/{component}/"


@dataclass
class TaskState:
    """What a PaneTrendBolt task resumes from."""

    task: int
    tasks: int
    panes: PaneCounts
    streams: dict[Hashable, int] = field(default_factory=dict)
    watermark: int | None = None
    previous: dict[str, int] = field(default_factory=dict)
    previous_end: int | None = None

    @property
    def resume_from_ms(self) -> int | None:
        """Event time from which uncounted records must be read again (None: from where the
        windows began, the origin, or the beginning)."""
        return self.watermark

    def to_data(self) -> dict[str, Any]:
        streams = [
            [*key, ts] if isinstance(key, tuple) else [key, ts] for key, ts in self.streams.items()
        ]
        return {
            "task": self.task,
            "tasks": self.tasks,
            "panes": self.panes.snapshot(),
            "streams": streams,
            "watermark": self.watermark,
            "previous": dict(self.previous),
            "previous_end": self.previous_end,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], window_ms: int, slide_ms: int) -> TaskState:
        """The state a checkpoint holds; ValueError naming what is wrong when it is damaged,
        foreign, or of other windows (``window_ms``/``slide_ms``: this run's)."""
        panes = PaneCounts.restore(_get(data, "panes", Mapping))
        if (panes.window_ms, panes.slide_ms) != (window_ms, slide_ms):
            raise ValueError(
                f"its windows are {panes.window_ms} ms sliding every {panes.slide_ms} ms, this "
                f"run's {window_ms} ms every {slide_ms} ms (health.windows changed)"
            )
        streams: dict[Hashable, int] = {}
        for item in _get(data, "streams", list):
            if not (isinstance(item, list) and item and type(item[-1]) is int):
                raise ValueError(f"streams: expected [component, stream, ts], got {item!r:.80}")
            key = tuple(item[:-1])
            streams[key if len(key) > 1 else key[0]] = item[-1]
        previous = _get(data, "previous", Mapping)
        if not all(type(v) is int for v in previous.values()):
            raise ValueError(f"previous: expected counts per rule, got {previous!r:.80}")
        return cls(
            task=_get(data, "task", int),
            tasks=_get(data, "tasks", int),
            panes=panes,
            streams=streams,
            watermark=_get(data, "watermark", int, optional=True),
            previous={str(k): v for k, v in previous.items()},
            previous_end=_get(data, "previous_end", int, optional=True),
        )


def _get(data: Mapping[str, Any], name: str, kind: type, optional: bool = False) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"the state is {type(data).__name__}, expected an object")
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{name}: expected {kind.__name__}, got {value!r:.80}")
    return value

"""Groupings: which consumer tasks receive a tuple emitted on a stream."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from squall.engine.model import Subscription, TopologyModel
from squall.errors import TopologyError

# Groupings where any task of the consumer will do (Storm: shuffle, none, local-or-shuffle).
SHUFFLE_LIKE = ("shuffle", "none", "local_or_shuffle")


def _stable_key_hash(key: tuple[Any, ...]) -> int:
    try:
        return hash(key)
    except TypeError:  # lists/dicts in a grouping field: hash their text, as Storm hashes values
        return hash(repr(key))


@dataclass
class Route:
    """One subscription of one stream, ready to pick target tasks."""

    sub: Subscription
    tasks: list[int]
    field_index: tuple[int, ...] = ()
    _cycle: Any = field(default=None, repr=False)
    # set by a multi-process worker: picks a local task while local ones keep up, else None
    prefer_local: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        shuffled = list(self.tasks)
        random.shuffle(shuffled)
        # Storm's shuffle grouping deals tasks round-robin over a shuffled list: even load.
        self._cycle = itertools.cycle(shuffled)

    def pick(self, values: Sequence[Any]) -> list[int] | int:
        kind = self.sub.grouping
        if kind in SHUFFLE_LIKE:
            if self.prefer_local is not None:
                task: int | None = self.prefer_local()
                if task is not None:
                    return task
            nxt: int = next(self._cycle)
            return nxt
        if kind == "fields":
            key = tuple(values[i] for i in self.field_index)
            return self.tasks[_stable_key_hash(key) % len(self.tasks)]
        if kind == "global":
            return self.tasks[0]
        if kind == "all":
            return self.tasks
        raise TopologyError(f"no picker for grouping {kind!r}")  # direct is handled by the caller


def build_routes(model: TopologyModel, local_tasks: set[int]) -> dict[tuple[str, str], list[Route]]:
    """Routes per (component, stream); ``local_tasks`` decides local_or_shuffle's preference."""
    routes: dict[tuple[str, str], list[Route]] = {}
    for comp in model.components.values():
        for stream in comp.streams:
            out: list[Route] = []
            for sub in model.subscribers.get((comp.name, stream), []):
                consumer = model.components[sub.consumer]
                tasks = sorted(consumer.task_ids)
                if sub.grouping == "local_or_shuffle":
                    tasks = [t for t in tasks if t in local_tasks] or tasks
                index = tuple(comp.streams[stream].fields.index(f) for f in sub.fields)
                out.append(Route(sub, tasks, index))
            routes[(comp.name, stream)] = out
    return routes


def locality_picker(local_tasks: list[int], inboxes: list[Any], threshold: int) -> Any:
    """Storm 2's load-aware shuffle in a nutshell: stay in the worker while its tasks keep up.

    Returns a picker giving the next local task (round-robin) while every local inbox holds
    fewer than ``threshold`` tuples, else None (the caller then deals over all tasks).
    """
    cycle = itertools.cycle(local_tasks).__next__

    def pick() -> int | None:
        for inbox in inboxes:
            if len(inbox) >= threshold:
                return None
        return cycle()

    return pick


def prefer_local_tasks(
    routes: dict[tuple[str, str], list[Route]], executors: dict[int, Any], queue_capacity: int
) -> None:
    """Shuffle-like routes keep tuples in this process while its tasks keep up.

    Storm 2 does the same by default (load-aware, locality-aware shuffle; off with
    ``topology.disable.loadaware.messaging``): a tuple crossing processes costs a pickle
    and a pipe, far more than the work of a light bolt.
    """
    threshold = max(1, queue_capacity // 4)
    for stream_routes in routes.values():
        for route in stream_routes:
            if route.sub.grouping not in SHUFFLE_LIKE:
                continue
            local = [t for t in route.tasks if t in executors]
            if local and len(local) < len(route.tasks):
                inboxes = [executors[t].inbox for t in local]
                route.prefer_local = locality_picker(local, inboxes, threshold)

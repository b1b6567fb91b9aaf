"""The live view's part inside each worker: taps on the declared streams, Kafka consumer lag.

A tap wraps the ``emit`` of each task of a tapped component, once the worker has started (after
the engine installed its compiled emit paths, which the wrapper then calls). Per emit it costs
one stream lookup; records of a tapped stream go to a bounded ring, emptied at every progress
tick. Components that are not tapped are not touched.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall.ui.declare import Tap

if TYPE_CHECKING:
    from squall.engine.executor import Executor


@dataclass
class Probed:
    """What a worker's probe collected since its previous tick."""

    # (component, stream) -> the latest records, each (task, values)
    records: dict[tuple[str, str], list[tuple[int, list[Any]]]]
    # (component, stream) -> records emitted since the run started (this worker's tasks)
    totals: dict[tuple[str, str], int]
    # (component, task, topic, partition) -> records in Kafka not yet fetched by the spout
    lag: dict[tuple[str, int, str, int], int]


class _Ring:
    __slots__ = ("items", "total")

    def __init__(self, keep: int) -> None:
        self.items: deque[tuple[int, list[Any]]] = deque(maxlen=keep)
        self.total = 0


class UIProbe:
    """Picklable until ``install``: built in the coordinator, installed in each worker."""

    def __init__(self, taps: Sequence[Tap]) -> None:
        self.taps = list(taps)
        self.rings: dict[tuple[str, str], _Ring] = {}
        self.consumers: list[tuple[str, int, Any]] = []

    def install(self, executors: Mapping[int, Executor]) -> None:
        by_component: dict[str, dict[str, _Ring]] = {}
        for tap in self.taps:
            ring = self.rings[(tap.component, tap.stream)] = _Ring(tap.keep)
            by_component.setdefault(tap.component, {})[tap.stream] = ring
        for task, ex in executors.items():
            streams = by_component.get(ex.name)
            if streams is not None:
                ex.instance.emit = _tapped(ex.instance.emit, streams, task, ex.is_spout)
            consumer = getattr(ex.instance, "consumer", None)
            if ex.is_spout and hasattr(consumer, "highwater") and hasattr(consumer, "assignment"):
                self.consumers.append((ex.name, task, ex.instance))

    def collect(self) -> Probed:
        records = {}
        for key, ring in self.rings.items():
            records[key] = list(ring.items)
            ring.items.clear()
        totals = {key: ring.total for key, ring in self.rings.items()}
        lag: dict[tuple[str, int, str, int], int] = {}
        for name, task, spout in self.consumers:
            for (topic, partition), n in consumer_lag(spout.consumer).items():
                lag[(name, task, topic, partition)] = n
        return Probed(records, totals, lag)


def _tapped(
    emit: Callable[..., Any], streams: dict[str, _Ring], task: int, is_spout: bool
) -> Callable[..., Any]:
    # pystorm's signatures: Spout.emit(tup, tup_id, stream, ...), Bolt.emit(tup, stream, ...)
    at = 1 if is_spout else 0

    def emit_and_keep(tup: Any, *args: Any, **kwargs: Any) -> Any:
        stream = args[at] if len(args) > at else kwargs.get("stream")
        ring = streams.get(stream or "default")
        if ring is not None:
            ring.total += 1
            ring.items.append((task, tup))
        return emit(tup, *args, **kwargs)

    return emit_and_keep


def consumer_lag(consumer: Any) -> dict[tuple[str, int], int]:
    """Per assigned partition: the highwater mark minus the consumer's fetch position, both
    as kafka-python already knows them (no request to the broker: ``position`` waits for
    nothing with ``timeout_ms=0``). Partitions with either unknown are left out."""
    lag: dict[tuple[str, int], int] = {}
    try:
        assigned = list(consumer.assignment())
    except Exception:  # noqa: BLE001 - a consumer being closed or rebalanced: no lag this tick
        return lag
    for tp in assigned:
        try:
            high = consumer.highwater(tp)
            pos = consumer.position(tp, timeout_ms=0)
        except Exception:  # noqa: BLE001 - revoked between the two calls, or a timeout
            continue
        if high is not None and pos is not None:
            lag[(tp.topic, tp.partition)] = max(0, high - pos)
    return lag

"""The course's producer model, in-process: N producers each sending readings at a rate.

Each simulated producer draws id 0-1000, age 10-50, height 100-200 cm and weight 30-100 kg
(integers, like the course's producers) from its own random generator seeded with
``(seed, producer index)``, so the k-th record of producer p is the same on every run whatever
the timing or the interleaving. Records come out in both wire forms, mixed, and a configurable
fraction is deliberately malformed so the invalid path is exercised.

Classes of readings (the ward topology, ``WardSettings``): a spout whose producers send one
class (``producers.reading_class``) runs its own producers, seeded by class, at that class's
share of the load (:func:`class_load`), and draws patient ids from that class's own range. The
id is the patient: the key of a reading's (m,k) discards. Unclassed producers (health.py) are
unchanged.

Release: every record says when it was due by its producer's schedule (``due_ms``), which a
spout reports as its tree's release time, so a spout that falls behind shows as late trees
rather than hiding its backlog.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from heapq import heapify, heappop, heapreplace
from typing import Any, Literal, NamedTuple

from health_core.config import ProducerSettings, WardSettings

Kind = Literal["course", "self", "malformed"]

ID_RANGE = (0, 1000)
AGE_RANGE = (10, 50)
HEIGHT_CM_RANGE = (100, 200)
WEIGHT_KG_RANGE = (30, 100)
_AGE_SPAN = AGE_RANGE[1] - AGE_RANGE[0] + 1
_HEIGHT_SPAN = HEIGHT_CM_RANGE[1] - HEIGHT_CM_RANGE[0] + 1
_WEIGHT_SPAN = WEIGHT_KG_RANGE[1] - WEIGHT_KG_RANGE[0] + 1


class SyntheticRecord(NamedTuple):
    """One generated record (a named tuple: made 40,000 times a second by a busy spout, and a
    frozen dataclass's field-by-field ``__setattr__`` cost 2 us of it)."""

    producer: int
    seq: int  # 0-based position in this producer's sequence
    kind: Kind
    # The values drawn for this record (also for a malformed one, before it was damaged).
    id: int
    age: int
    height_cm: int
    weight_kg: int
    reading_class: str | None = None  # None: unclassed (health.py)
    # When the record was due by its producer's schedule, epoch ms; the time it was asked
    # for when there is no schedule (rate 0).
    due_ms: float = 0.0
    ts_ms: int = 0  # when it was sent: the self-describing form's ``ts``
    malformation: int = 0  # which of the ways a feed breaks, for a malformed record

    @property
    def payload(self) -> str:
        """The wire text, rendered when asked: a reading discarded at the spout (by its
        patient, in overload) never costs the JSON encoding."""
        values = {
            "id": self.id,
            "age": self.age,
            "height_cm": self.height_cm,
            "weight_kg": self.weight_kg,
        }
        if self.kind == "malformed":
            return _MALFORMATIONS[self.malformation](values, self.ts_ms)
        if self.kind == "self":
            return _self(values, self.ts_ms)
        return _course(values)

    @property
    def tup_id(self) -> str:
        """Stable id for reliable emission: a string, so it survives Storm's JSON round trip.

        ``p<producer>-<seq>``, prefixed by the class when there is one (``routine-p0-3``).
        """
        base = f"p{self.producer}-{self.seq}"
        return base if self.reading_class is None else f"{self.reading_class}-{base}"

    @property
    def patient(self) -> int:
        """The patient the reading is about: its id, also in a malformed payload (the key)."""
        return self.id


def _course(values: dict[str, int]) -> str:
    return json.dumps(
        [
            values["id"],
            {"idade": values["age"], "altura": values["height_cm"], "peso": values["weight_kg"]},
        ]
    )


def _self(values: dict[str, int], ts_ms: int) -> str:
    return json.dumps({**values, "ts": ts_ms})


# Each damages a valid reading in one of the ways real feeds break; chosen at random.
_MALFORMATIONS: tuple[Callable[[dict[str, int], int], str], ...] = (
    lambda v, ts: _course(v)[:-3],  # truncated
    lambda v, ts: _self({**v, "weight_kg": str(v["weight_kg"])}, ts),  # type: ignore[dict-item]
    lambda v, ts: _course({**v, "height_cm": -v["height_cm"]}),
    lambda v, ts: json.dumps({k: x for k, x in v.items() if k != "age"} | {"ts": ts}),
    lambda v, ts: f"id={v['id']} weight={v['weight_kg']}",  # not JSON
    lambda v, ts: _self(v, ts).replace(f'"age": {v["age"]}', '"age": NaN'),
    lambda v, ts: json.dumps({"reading": [v["id"], v]}),  # wrong nesting
    lambda v, ts: "",
)


class SyntheticProducer:
    """One simulated producer: an endless, deterministic sequence of records."""

    def __init__(
        self, index: int, settings: ProducerSettings, patients: tuple[int, int] = ID_RANGE
    ) -> None:
        self.index = index
        self._settings = settings
        self._patients = patients
        # A string seed is hashed deterministically (unlike hash() of a tuple across runs);
        # each class has producers of its own, with sequences of their own.
        cls = settings.reading_class
        stream = f"{settings.seed}/{index}" if cls is None else f"{settings.seed}/{cls}/{index}"
        self._rng = random.Random(f"squall-health/{stream}")
        self.seq = 0

    def next_record(self, ts_ms: int, due_ms: float | None = None) -> SyntheticRecord:
        """The next record; ``ts_ms`` is the time it is sent, ``due_ms`` (default ``ts_ms``)
        the time it was due by the schedule."""
        # Seven C-level random() draws, scaled: randint is pure Python (~0.8 us a call), and at
        # 40,000 readings/s the generator, which runs inside the spout, was a fifth of the
        # worker's CPU. Every draw is made for every record, so a reading discarded at the
        # spout does not shift the values of the next ones.
        draw = self._rng.random
        low, span = self._patients[0], self._patients[1] - self._patients[0] + 1
        patient = low + int(draw() * span)
        age = AGE_RANGE[0] + int(draw() * _AGE_SPAN)
        height = HEIGHT_CM_RANGE[0] + int(draw() * _HEIGHT_SPAN)
        weight = WEIGHT_KG_RANGE[0] + int(draw() * _WEIGHT_SPAN)
        damage, form, which = draw(), draw(), int(draw() * len(_MALFORMATIONS))
        kind: Kind
        if damage < self._settings.malformed_fraction:
            kind = "malformed"
        elif form < self._settings.self_describing_fraction:
            kind = "self"
        else:
            kind = "course"
        record = SyntheticRecord(
            self.index,
            self.seq,
            kind,
            patient,
            age,
            height,
            weight,
            self._settings.reading_class,
            ts_ms if due_ms is None else due_ms,
            ts_ms,
            which,
        )
        self.seq += 1
        return record


class SyntheticSource:
    """N producers on a shared clock; ``next_due`` hands out one record at a time.

    Producer p's k-th record is due at ``start + (k + p/N) / rate`` seconds (staggered so the
    producers interleave). With ``rate_per_producer_hz == 0`` there is no pacing: producers take
    turns on every call. When the consumer falls behind, records are not skipped: they come out
    as fast as they are asked for until the schedule is caught up.
    """

    def __init__(
        self, settings: ProducerSettings, start_ms: int, patients: tuple[int, int] = ID_RANGE
    ) -> None:
        self.settings = settings
        self.start_ms = start_ms
        self.producers = [SyntheticProducer(i, settings, patients) for i in range(settings.count)]
        # (due ms, index) of each producer with records left: the next due is the heap's top,
        # O(log N) per record instead of a scan of every producer
        self._heap = [(self._due_ms(p), p.index) for p in self.producers if self._has_more(p)]
        heapify(self._heap)

    def _has_more(self, producer: SyntheticProducer) -> bool:
        limit = self.settings.max_readings_per_producer
        return limit is None or producer.seq < limit

    def _due_ms(self, producer: SyntheticProducer) -> float:
        rate = self.settings.rate_per_producer_hz
        if rate == 0:
            return self.start_ms + producer.seq  # round-robin by position
        stagger = producer.index / self.settings.count
        return self.start_ms + (producer.seq + stagger) * 1000.0 / rate

    @property
    def exhausted(self) -> bool:
        """True once every producer has sent ``max_readings_per_producer`` records."""
        return not self._heap

    def next_due(self, now_ms: int) -> SyntheticRecord | None:
        """The earliest record due at ``now_ms``, or None if nothing is due yet."""
        heap = self._heap
        if not heap:
            return None
        due_ms, index = heap[0]
        producer = self.producers[index]
        paced = bool(self.settings.rate_per_producer_hz)
        if paced and due_ms > now_ms:
            return None
        # no schedule: due when asked
        record = producer.next_record(now_ms, due_ms if paced else None)
        if self._has_more(producer):
            heapreplace(heap, (self._due_ms(producer), index))
        else:
            heappop(heap)
        return record


def class_load(
    producers: ProducerSettings, ward: WardSettings
) -> tuple[ProducerSettings, tuple[int, int]]:
    """The producers of a spout sending ``producers.reading_class``, and its patient ids.

    A class's spout runs ``count`` producers of its own at its share of the rate; a bounded
    run (``max_readings_per_producer``) splits each producer's readings by the same share, so
    the share holds in counts too, also unpaced. Unclassed: ``producers`` and the course's ids.
    """
    cls = producers.reading_class
    if cls is None:
        return producers, ID_RANGE
    limit = producers.max_readings_per_producer
    if limit is not None:
        critical = round(limit * ward.critical_share)
        limit = critical if cls == "critical" else limit - critical
    settings = replace(
        producers,
        rate_per_producer_hz=producers.rate_per_producer_hz * ward.share(cls),
        max_readings_per_producer=limit,
    )
    return settings, ward.patients(cls)


def generate(
    settings: ProducerSettings,
    per_producer: int,
    ts_ms: int = 1_700_000_000_000,
    patients: tuple[int, int] = ID_RANGE,
) -> list[SyntheticRecord]:
    """The first ``per_producer`` records of every producer (for tests and offline checks)."""
    out: list[SyntheticRecord] = []
    for index in range(settings.count):
        producer = SyntheticProducer(index, settings, patients)
        out.extend(producer.next_record(ts_ms) for _ in range(per_producer))
    return out


def record_values(record: SyntheticRecord) -> dict[str, Any]:
    """The drawn values of a record as a plain dict."""
    return {
        "id": record.id,
        "age": record.age,
        "height_cm": record.height_cm,
        "weight_kg": record.weight_kg,
    }

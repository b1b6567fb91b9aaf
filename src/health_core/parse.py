"""Parse one raw health reading (either input form) into a typed ``Reading``.

Two forms arrive on the wire:

* the course's producers' form, ``[id, {"idade": age, "altura": height_cm, "peso": weight_kg}]``;
  it carries no timestamp, so the reading's ``ts`` is the event time the caller gives (from
  Kafka: the record's timestamp, the same on every delivery), else the arrival time;
* the self-describing form, ``{"id": …, "age": …, "height_cm": …, "weight_kg": …, "ts": epoch_ms}``.

``parse_payload`` never raises: anything it cannot accept comes back as ``Invalid`` with a
reason naming the bad value, where it was, and what is valid, so the caller can route it to a
dead-letter stream instead of crashing the worker or dropping it silently.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Literal

Form = Literal["course", "self"]

# Physical plausibility, deliberately wider than the course's producers (age 10-50,
# height 100-200 cm, weight 30-100 kg) so real data is not rejected, but narrow enough that
# unit mistakes (metres for cm, grams for kg) and garbage are caught.
AGE_RANGE: tuple[float, float] = (0, 130)
HEIGHT_CM_RANGE: tuple[float, float] = (30, 280)
WEIGHT_KG_RANGE: tuple[float, float] = (1, 700)
# Largest integer that survives a JSON round trip through a double (other languages, Storm).
MAX_ID = 2**53
# Epoch milliseconds between 2000-01-01 and 2100-01-01: catches epoch *seconds* and garbage.
TS_MS_RANGE: tuple[int, int] = (946_684_800_000, 4_102_444_800_000)

DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024
COURSE_KEYS = {"idade": "age", "altura": "height_cm", "peso": "weight_kg"}
SELF_KEYS = ("id", "age", "height_cm", "weight_kg", "ts")


def epoch_ms() -> int:
    """The wall clock in epoch milliseconds (the unit of every ``ts``)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted reading, in the self-describing vocabulary and units."""

    id: int
    age: float
    height_cm: float
    weight_kg: float
    # epoch milliseconds: the reading's own for the self-describing form; for the course form
    # the event time its caller gave (a Kafka record's timestamp), else the arrival time
    ts: int
    form: Form

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (what travels in tuples).

        Spelled out rather than ``dataclasses.asdict``, which deep-copies recursively and was
        40% of a reading's processing time (bench/README.md).
        """
        return {
            "id": self.id,
            "age": self.age,
            "height_cm": self.height_cm,
            "weight_kg": self.weight_kg,
            "ts": self.ts,
            "form": self.form,
        }


@dataclass(frozen=True, slots=True)
class Invalid:
    """A payload that was not accepted, and why."""

    reason: str


class _Reject(Exception):
    """Internal: carries a reason out of the nested checks."""


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN/Infinity by default; they are not JSON and not a measurement.
    raise _Reject(f"{name} is not valid JSON (only finite numbers are accepted)")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Reject(f"duplicate key {key!r} in a JSON object")
        obj[key] = value
    return obj


# one decoder for every payload: json.loads with hooks builds a new JSONDecoder per call
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_object)


def _decode(payload: object, max_payload_bytes: int) -> Any:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        data = bytes(payload)
        if len(data) > max_payload_bytes:
            raise _Reject(f"payload is {len(data)} bytes; the limit is {max_payload_bytes} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Reject(
                f"payload is not UTF-8: byte {data[exc.start]:#04x} at offset {exc.start}"
            ) from None
    elif isinstance(payload, str):
        text = payload
        # A char is at least one byte: a text longer than the limit is rejected unencoded.
        if len(text) > max_payload_bytes:
            raise _Reject(
                f"payload is {len(text)} characters (at least as many bytes); "
                f"the limit is {max_payload_bytes} bytes"
            )
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size > max_payload_bytes:
            raise _Reject(f"payload is {size} bytes; the limit is {max_payload_bytes} bytes")
    else:
        raise _Reject(
            f"payload must be str or bytes (a JSON document); got {type(payload).__name__}"
        )
    # A UTF-8 byte order mark is not JSON, but RFC 8259 (8.1) lets a parser ignore it, and
    # Windows tools write it: ignored, not a reason to reject a reading
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise _Reject("payload is empty; expected a JSON array or object")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _Reject(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise _Reject("JSON nesting is too deep; expected an array or a flat object") from None
    except ValueError as exc:
        # an integer literal with more digits than int() accepts (CVE-2020-10735's limit)
        if "integer string conversion" in str(exc):
            limit = sys.get_int_max_str_digits()
            raise _Reject(f"a number in the payload has more than {limit} digits") from None
        raise _Reject(f"not valid JSON: {exc}") from None


def _number(value: Any, where: str, valid: tuple[float, float], unit: str) -> float:
    low, high = valid
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Reject(
            f"{where} must be a number of {unit} in [{low}, {high}]; "
            f"got {type(value).__name__} {_short(value)}"
        )
    # an int compares exactly with the bounds whatever its size; math.isfinite of one too
    # large for a float would raise OverflowError
    if isinstance(value, float) and not math.isfinite(value):
        raise _Reject(f"{where} must be a finite number of {unit}; got {value!r}")
    if not low <= value <= high:
        raise _Reject(f"{where} must be in [{low}, {high}] {unit}; got {_shown(value)}")
    return float(value) if isinstance(value, float) else value


def _integer(value: Any, where: str, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Reject(
            f"{where} must be an integer {what} in [{low}, {high}]; "
            f"got {type(value).__name__} {_short(value)}"
        )
    if not low <= value <= high:
        raise _Reject(f"{where} must be an integer {what} in [{low}, {high}]; got {_shown(value)}")
    return value


def _shown(number: float) -> str:
    """A number for a reason: as written, or its size when it is too long to read."""
    text = repr(number)
    return text if len(text) <= 24 else f"an integer of {len(text.lstrip('-'))} digits"


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _key_set_problem(found: set[str], expected: set[str], where: str) -> str | None:
    missing = sorted(expected - found)
    extra = sorted(found - expected)
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected {', '.join(extra)}")
    if not parts:
        return None
    return f"{where} has {'; '.join(parts)}; expected exactly {', '.join(sorted(expected))}"


def _course(doc: list[Any], arrival_ms: int) -> Reading:
    if len(doc) != 2:
        raise _Reject(
            f"course form must be [id, {{idade, altura, peso}}] (2 elements); got {len(doc)} elements"
        )
    raw_id, body = doc
    if not isinstance(body, dict):
        raise _Reject(
            f"course form element 2 must be an object {{idade, altura, peso}}; "
            f"got {type(body).__name__}"
        )
    problem = _key_set_problem(set(body), set(COURSE_KEYS), "course form object")
    if problem:
        raise _Reject(problem)
    return Reading(
        id=_integer(raw_id, "id (element 1)", 0, MAX_ID, "id"),
        age=_number(body["idade"], "idade (age)", AGE_RANGE, "years"),
        height_cm=_number(body["altura"], "altura (height)", HEIGHT_CM_RANGE, "cm"),
        weight_kg=_number(body["peso"], "peso (weight)", WEIGHT_KG_RANGE, "kg"),
        ts=arrival_ms,
        form="course",
    )


def _self_describing(doc: dict[str, Any]) -> Reading:
    problem = _key_set_problem(set(doc), set(SELF_KEYS), "reading object")
    if problem:
        raise _Reject(problem)
    return Reading(
        id=_integer(doc["id"], "id", 0, MAX_ID, "id"),
        age=_number(doc["age"], "age", AGE_RANGE, "years"),
        height_cm=_number(doc["height_cm"], "height_cm", HEIGHT_CM_RANGE, "cm"),
        weight_kg=_number(doc["weight_kg"], "weight_kg", WEIGHT_KG_RANGE, "kg"),
        ts=_integer(doc["ts"], "ts", *TS_MS_RANGE, "of epoch milliseconds"),
        form="self",
    )


def parse_payload(
    payload: object,
    arrival_ms: int,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    event_ms: int | None = None,
) -> Reading | Invalid:
    """Parse a raw payload (str or bytes holding JSON) in either form.

    A course-form reading carries no time: its ``ts`` is ``event_ms`` when given (the Kafka
    record's timestamp: stable across replays, so a replay lands in the same window), else
    ``arrival_ms``. An ``event_ms`` outside ``TS_MS_RANGE`` makes it ``Invalid`` (never a
    silent fall-back to the arrival time). A self-describing reading keeps its own ``ts``.
    Returns ``Invalid`` (never raises) for anything not accepted.
    """
    try:
        doc = _decode(payload, max_payload_bytes)
        if isinstance(doc, list):
            if event_ms is None:
                return _course(doc, arrival_ms)
            ts = _integer(
                event_ms,
                "the Kafka record's timestamp (the event time of a course-form reading)",
                *TS_MS_RANGE,
                "of epoch milliseconds",
            )
            return _course(doc, ts)
        if isinstance(doc, dict):
            return _self_describing(doc)
        raise _Reject(
            "expected a JSON array [id, {idade, altura, peso}] or an object "
            f"{{id, age, height_cm, weight_kg, ts}}; got {type(doc).__name__} {_short(doc)}"
        )
    except _Reject as exc:
        return Invalid(str(exc))


def raw_preview(payload: object, limit_chars: int = 1024) -> str:
    """The payload as text for a dead-letter record: JSON-safe, bounded in size.

    Bytes that are not UTF-8 are shown as ``\\xNN`` escapes; anything longer than
    ``limit_chars`` is cut and says how long it was, so one 10 MB payload cannot flood the
    invalid stream or the sinks.
    """
    if isinstance(payload, (bytes, bytearray, memoryview)):
        data = bytes(payload)
        size = len(data)
        text = data[: limit_chars * 4].decode("utf-8", errors="backslashreplace")
        unit = "bytes"
    elif isinstance(payload, str):
        text, size, unit = payload, len(payload), "chars"
    else:
        text, size, unit = repr(payload), len(repr(payload)), "chars of repr"
    if len(text) > limit_chars or (unit == "bytes" and size > limit_chars * 4):
        return f"{text[:limit_chars]}… [truncated; {size} {unit} in all]"
    return text

"""health.parse: both wire forms accepted, everything else rejected with a reason."""

import json
import math

import pytest

from health_core.parse import Invalid, Reading, parse_payload, raw_preview

ARRIVAL = 1_700_000_000_000
TS = 1_700_000_123_456


def test_course_form_takes_arrival_time() -> None:
    got = parse_payload('[7, {"idade": 30, "altura": 170, "peso": 82.5}]', ARRIVAL)
    assert got == Reading(id=7, age=30, height_cm=170, weight_kg=82.5, ts=ARRIVAL, form="course")


def test_self_describing_form_keeps_its_ts() -> None:
    doc = {"id": 9, "age": 41, "height_cm": 155.5, "weight_kg": 60, "ts": TS}
    got = parse_payload(json.dumps(doc).encode(), ARRIVAL)
    assert got == Reading(id=9, age=41, height_cm=155.5, weight_kg=60, ts=TS, form="self")
    assert got.to_dict() == {**doc, "form": "self"}


def test_whitespace_and_key_order_do_not_matter() -> None:
    got = parse_payload(
        '  {"ts": ' + str(TS) + ', "weight_kg": 50, "height_cm": 160, "age": 20, "id": 0}\n', 0
    )
    assert isinstance(got, Reading) and got.id == 0


@pytest.mark.parametrize(
    ("payload", "reason_part"),
    [
        ('[1, {"idade": 30, "altura": 170, "peso": "80"}]', "peso (weight) must be a number"),
        (
            '{"id": 1, "age": 30, "height_cm": 0, "weight_kg": 80, "ts": ' + str(TS) + "}",
            "height_cm must be in [30, 280]",
        ),
        (
            '{"id": 1, "age": 30, "height_cm": 170, "weight_kg": 80, "ts": 1700000000}',
            "epoch milliseconds",
        ),
        (
            '{"id": 1.5, "age": 30, "height_cm": 170, "weight_kg": 80, "ts": ' + str(TS) + "}",
            "id must be an integer",
        ),
        ('[1, {"idade": NaN, "altura": 170, "peso": 80}]', "NaN is not valid JSON"),
        ('[1, {"idade": 1e999, "altura": 170, "peso": 80}]', "finite"),
        ("[1, 2, 3]", "2 elements"),
    ],
)
def test_reasons_name_the_value_and_what_is_valid(payload: str, reason_part: str) -> None:
    got = parse_payload(payload, ARRIVAL)
    assert isinstance(got, Invalid)
    assert reason_part in got.reason


def test_never_raises_on_odd_python_values() -> None:
    for payload in (None, 42, 3.5, ["a"], {"id": 1}, object()):
        got = parse_payload(payload, ARRIVAL)
        assert isinstance(got, Invalid) and "must be str or bytes" in got.reason


def test_deep_nesting_is_rejected_not_a_crash() -> None:
    got = parse_payload("[" * 100_000 + "]" * 100_000, ARRIVAL)
    assert isinstance(got, Invalid)


def test_size_limit_is_checked_before_decoding() -> None:
    got = parse_payload(b"[" + b" " * 100 + b"]", ARRIVAL, max_payload_bytes=50)
    assert isinstance(got, Invalid) and "102 bytes; the limit is 50" in got.reason


def test_raw_preview_is_bounded_and_json_safe() -> None:
    assert raw_preview(b"ok") == "ok"
    assert raw_preview(b"\xff\xfeA") == "\\xff\\xfeA"
    big = raw_preview("x" * 5000, limit_chars=100)
    assert big.startswith("x" * 100) and "5000 chars in all" in big and len(big) < 200
    huge = raw_preview(b"y" * 10_000_000, limit_chars=100)
    assert "10000000 bytes in all" in huge and len(huge) < 200
    json.dumps(raw_preview(b"\x00\xc3("))  # serialisable


def test_values_are_finite_numbers() -> None:
    got = parse_payload('[1000, {"idade": 10, "altura": 100, "peso": 30}]', ARRIVAL)
    assert isinstance(got, Reading)
    assert all(math.isfinite(v) for v in (got.age, got.height_cm, got.weight_kg))

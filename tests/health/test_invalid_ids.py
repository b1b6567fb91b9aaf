"""The reading id of an invalid record, found in its raw payload for the live view's feed."""

from __future__ import annotations

import pytest

from health_core.invalid import reading_id_of


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('[44, {"idade": 1, "altura": -170, "peso": 80}]', "44"),  # course form, bad value
        ('[12, {"idade": 3', "12"),  # course form, truncated
        ('{"id": 3, "weight_kg": "80"}', "3"),  # self-describing, wrong type
        ('{"id": 5, "age": NaN}', "5"),  # not JSON (NaN), still id-shaped text
        ('{"reading": [9, {"id": 9}]}', "9"),  # wrong nesting
        ("id=7 weight=80", "7"),  # not JSON at all
        ('{"id": "p-1"}', "p-1"),
        ("", None),
        ("garbage", None),
        ('{"age": 3}', None),
    ],
)
def test_the_id_is_found_in_every_shape_the_feeds_break_in(raw, expected):
    assert reading_id_of({"raw": raw, "reason": "r", "ts": 0}) == expected


def test_a_record_without_a_text_payload_has_no_id():
    assert reading_id_of({"reason": "r"}) is None
    assert reading_id_of({"raw": 42}) is None

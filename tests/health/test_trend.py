"""health.trend: counting alerts per rule and classifying the trend (pure)."""

from __future__ import annotations

import pytest

from health_core.trend import (
    TREND_FIELDS,
    RuleTrend,
    classify,
    count_distinct_by_rule,
    trends,
)


@pytest.mark.parametrize(
    "count,previous,expected",
    [
        (3, 1, "rising"),
        (1, 3, "falling"),
        (2, 2, "steady"),
        (1, 0, "rising"),
        (0, 1, "falling"),
        (0, 0, "steady"),
    ],
)
def test_classify(count: int, previous: int, expected: str) -> None:
    assert classify(count, previous) == expected


def test_count_distinct_by_rule_counts_each_source_once_per_rule() -> None:
    alerts = [
        ("a", "t:0:1"),
        ("a", "t:0:1"),
        ("b", "t:0:1"),
        ("a", "t:0:2"),
        ("a", None),
        ("a", None),
    ]
    assert count_distinct_by_rule(alerts) == {"a": 4, "b": 1}
    assert count_distinct_by_rule([]) == {}


def test_trends_cover_rules_of_both_windows_sorted() -> None:
    got = trends({"weight_kg > 80": 4, "bmi > 35": 1}, {"bmi > 35": 3, "age < 18": 2}, 0, 10_000)
    assert [t.as_values() for t in got] == [
        ["age < 18", 0, 10_000, 0, "falling", 2],  # stopped firing: reported once with 0
        ["bmi > 35", 0, 10_000, 1, "falling", 3],
        ["weight_kg > 80", 0, 10_000, 4, "rising", 0],
    ]
    assert list(TREND_FIELDS) == [f for f in RuleTrend.__slots__]


@pytest.mark.parametrize(
    "current,previous,start,end,message",
    [
        ({"a": -1}, {}, 0, 1, "current count of rule 'a' must be an int >= 0; got -1"),
        ({"a": 1}, {"b": 1.5}, 0, 1, "previous count of rule 'b' must be an int >= 0; got 1.5"),
        ({}, {}, 10, 5, "window end 5 is before its start 10"),
    ],
)
def test_bad_input_is_named(current, previous, start, end, message: str) -> None:
    with pytest.raises(ValueError) as info:
        trends(current, previous, start, end)
    assert message in str(info.value)

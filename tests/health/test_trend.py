"""health.trend: counting alerts per rule and classifying the trend (pure)."""

from __future__ import annotations

import pytest

from health_core.trend import (
    TREND_FIELDS,
    RuleTrend,
    classify,
    count_distinct_by_rule,
    trends,
    weighted_count_by_rule,
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
        ["age < 18", 0, 10_000, 0, "falling", 2, 1.0, 0],  # stopped firing: reported once
        ["bmi > 35", 0, 10_000, 1, "falling", 3, 1.0, 0],
        ["weight_kg > 80", 0, 10_000, 4, "rising", 0, 1.0, 0],
    ]
    assert list(TREND_FIELDS) == [f for f in RuleTrend.__slots__]


def test_trends_carry_the_accuracy_of_estimated_counts() -> None:
    got = trends({"a": 12, "b": 3}, {"a": 8}, 0, 10_000, accuracy={"a": (0.25, 4)})
    assert [t.as_values() for t in got] == [
        ["a", 0, 10_000, 12, "rising", 8, 0.25, 4],
        ["b", 0, 10_000, 3, "rising", 0, 1.0, 0],  # not in accuracy: exact
    ]


def test_weighted_count_takes_each_source_once_with_its_largest_weight() -> None:
    alerts = [
        ("a", "t:0:1", 0),  # a replay in its original's pane weighs 0 ...
        ("a", "t:0:1", 4),  # ... the sampled original 4: it counts 4 once
        ("a", "t:0:2", 3),
        ("a", None, 4),
        ("a", None, 1),
        ("b", "t:0:1", 1),
        ("b", "t:0:1", 1),
    ]
    assert weighted_count_by_rule(alerts) == {"a": 12, "b": 1}


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


@pytest.mark.parametrize("accuracy", [(0.0, 1), (1.5, 0), (0.25, -1), (0.25, 1.5), (0.25, True)])
def test_bad_accuracy_is_named(accuracy: tuple) -> None:
    message = (
        "accuracy of rule 'a' must be (precision in (0, 1], error_bound an int >= 0); "
        f"got {accuracy!r}"
    )
    with pytest.raises(ValueError) as info:
        trends({"a": 1}, {}, 0, 1, accuracy={"a": accuracy})
    assert str(info.value) == message

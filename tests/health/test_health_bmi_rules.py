"""health.bmi and health.rules."""

import pytest

from health_core.bmi import CLASS_NAMES, bmi, who_class
from health_core.rules import RuleError, firing, parse_rule, parse_rules


def test_bmi_formula() -> None:
    assert bmi(80, 200) == pytest.approx(20.0)
    assert bmi(72.25, 170) == pytest.approx(25.0)


@pytest.mark.parametrize(("height", "weight"), [(0, 70), (-170, 70), (170, 0), (170, -1)])
def test_bmi_rejects_non_positive(height: float, weight: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        bmi(weight, height)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10.0, "underweight"),
        (18.49, "underweight"),
        (18.5, "normal"),
        (24.99, "normal"),
        (25.0, "overweight"),
        (29.99, "overweight"),
        (30.0, "obese_I"),
        (34.99, "obese_I"),
        (35.0, "obese_II"),
        (39.99, "obese_II"),
        (40.0, "obese_III"),
        (80.0, "obese_III"),
    ],
)
def test_who_class_boundaries(value: float, expected: str) -> None:
    assert who_class(value) == expected
    assert expected in CLASS_NAMES


@pytest.mark.parametrize(
    ("text", "name", "value", "fires"),
    [
        ("weight_kg > 80", "weight_kg > 80", 80.0, False),
        ("weight_kg > 80", "weight_kg > 80", 80.5, True),
        ("bmi>=35", "bmi >= 35", 35.0, True),
        ("  age <  18 ", "age < 18", 17, True),
        ("height_cm <= 150.5", "height_cm <= 150.5", 150.5, True),
        ("bmi != 1e1", "bmi != 10", 10.0, False),
        ("age == 30", "age == 30", 30, True),
    ],
)
def test_rules_parse_and_fire(text: str, name: str, value: float, fires: bool) -> None:
    rule = parse_rule(text)
    assert rule.name == name
    assert rule.fires({rule.field: value}) is fires


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "it is empty"),
        ("weight > 80", "unknown field 'weight'"),
        ("weight_kg => 80", "expected an operator after 'weight_kg', found '=>'"),
        ("weight_kg 80", "expected an operator after 'weight_kg', found '80'"),
        ("weight_kg >", "missing the number after '>'"),
        ("weight_kg > eighty", "'eighty' after '>' is not a plain number"),
        ("__import__('os').system('x') > 1", "expected an operator"),
        ("bmi > 35 and age < 18", "is not a plain number"),
        ("> 80", "must start with a field name"),
        ("bmi > 1e999", "not a finite number"),
        (80, "is a int, not text"),
    ],
)
def test_malformed_rules_say_what_is_valid(text: object, message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(text)
    assert message in str(info.value)
    assert "'<field> <operator> <number>'" in str(info.value)


def test_duplicate_rules_are_rejected_by_index() -> None:
    with pytest.raises(RuleError, match=r"rules\[1\]: 'bmi > 35' is listed twice"):
        parse_rules(["bmi > 35", "bmi>35.0"])


def test_several_rules_fire_in_order() -> None:
    rules = parse_rules(["weight_kg > 80", "bmi > 35", "age < 18"])
    got = firing(rules, {"weight_kg": 90, "bmi": 40, "age": 30, "height_cm": 150})
    assert [r.name for r in got] == ["weight_kg > 80", "bmi > 35"]

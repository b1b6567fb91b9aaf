"""Declarative alert rules such as ``weight_kg > 80`` or ``bmi >= 35``.

A rule is ``<field> <operator> <number>``. It is parsed by a small tokenizer, never by
``eval``, so a rule in config.yaml cannot run code; a malformed rule raises ``RuleError``
naming the rule text, the position, and what is valid.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

FIELDS: tuple[str, ...] = ("age", "height_cm", "weight_kg", "bmi")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_RULE = re.compile(
    r"^\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>"
    + _NUMBER
    + r")\s*$"
)


class RuleError(ValueError):
    """A rule's text is not ``<field> <operator> <number>``."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One comparison of a reading's field against a constant."""

    field: str
    op: str
    threshold: float
    # The operator function, derived from ``op`` by parse_rule; not part of equality.
    _compare: Callable[[float, float], bool] = dataclass_field(
        repr=False, compare=False, default=operator.gt
    )

    @property
    def name(self) -> str:
        """Canonical text, e.g. ``weight_kg > 80``: alerts and windows are keyed by it."""
        return f"{self.field} {self.op} {_format_number(self.threshold)}"

    def fires(self, values: Mapping[str, float]) -> bool:
        """Whether the rule holds for a reading's values (which must contain ``field``)."""
        return self._compare(values[self.field], self.threshold)


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def parse_rule(text: object) -> Rule:
    """Parse ``<field> <operator> <number>``; raise ``RuleError`` saying what is wrong."""
    valid = (
        f"a rule is '<field> <operator> <number>' with field one of {', '.join(FIELDS)} "
        f"and operator one of {', '.join(OPERATORS)}, e.g. 'weight_kg > 80'"
    )
    if not isinstance(text, str):
        raise RuleError(f"rule {text!r} is a {type(text).__name__}, not text; {valid}")
    match = _RULE.match(text)
    if match is None:
        raise RuleError(f"cannot parse rule {text!r}: {_diagnose(text)}; {valid}")
    name = match["field"]
    if name not in FIELDS:
        raise RuleError(f"rule {text!r}: unknown field {name!r}; {valid}")
    threshold = float(match["value"])
    if not math.isfinite(threshold):
        raise RuleError(
            f"rule {text!r}: threshold {match['value']} is not a finite number; {valid}"
        )
    op = match["op"]
    return Rule(field=name, op=op, threshold=threshold, _compare=OPERATORS[op])


def _diagnose(text: str) -> str:
    """Say which part of a rule that failed the pattern is wrong (first problem only)."""
    stripped = text.strip()
    if not stripped:
        return "it is empty"
    head = re.match(r"[A-Za-z_][A-Za-z0-9_]*", stripped)
    if head is None:
        return f"it must start with a field name, found {stripped[0]!r} at position {text.index(stripped[0])}"
    rest = stripped[head.end() :].lstrip()
    op = re.match(r">=|<=|==|!=|>|<", rest)
    if op is None:
        found = rest.split()[0] if rest.split() else "end of text"
        return f"expected an operator after {head.group()!r}, found {found!r}"
    value = rest[op.end() :].strip()
    if not value:
        return f"missing the number after {op.group()!r}"
    return f"{value!r} after {op.group()!r} is not a plain number"


def parse_rules(texts: list[object]) -> tuple[Rule, ...]:
    """Parse several rules; duplicates (same canonical name) are an error."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, text in enumerate(texts):
        try:
            rule = parse_rule(text)
        except RuleError as exc:
            raise RuleError(f"rules[{index}]: {exc}") from None
        if rule.name in seen:
            raise RuleError(f"rules[{index}]: {rule.name!r} is listed twice")
        seen.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def firing(rules: tuple[Rule, ...], values: Mapping[str, float]) -> list[Rule]:
    """The rules that fire for one reading, in configuration order."""
    return [rule for rule in rules if rule.fires(values)]

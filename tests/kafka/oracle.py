"""Which alerts and dead letters a readings topic implies, worked out without the project's
code: its own JSON checks of the two payload forms (docs/health.md's rules: exact keys,
numbers that are not booleans, finite and in range), its own BMI, and the rules read from
config.yaml's text (``<field> > <number>``). The end-to-end tests compare the topology's
output topics with this, so a bug shared by the topology and its checker cannot hide."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"
COURSE_KEYS = {"idade", "altura", "peso"}
SELF_KEYS = {"id", "age", "height_cm", "weight_kg", "ts"}
# docs/health.md: age 0-130 years, height 30-280 cm, weight 1-700 kg, id 0-2**53, ts epoch ms
# between 2000 and 2100
AGE, HEIGHT, WEIGHT = (0, 130), (30, 280), (1, 700)
MAX_ID, TS = 2**53, (946_684_800_000, 4_102_444_800_000)
MAX_PAYLOAD_BYTES = 65_536  # config.yaml's parse.max_payload_bytes default
RULE = re.compile(r"^\s*(weight_kg|bmi|age|height_cm)\s*>\s*([0-9.]+)\s*$")


def _number(value: Any, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return float(value) if low <= value <= high else None


def _integer(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN / Infinity are not JSON


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")  # which value would count is ambiguous
    return dict(pairs)


def valid_reading(value: bytes | None) -> dict[str, float] | None:
    """{id, age, height_cm, weight_kg} of a payload the topology must accept, else None."""
    if value is None or len(value) > MAX_PAYLOAD_BYTES:
        return None
    try:
        text = value.decode("utf-8").removeprefix("\ufeff")
        doc = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(doc, list) and len(doc) == 2 and isinstance(doc[1], dict):
        body = doc[1]
        if set(body) != COURSE_KEYS:
            return None
        fields = (doc[0], body["idade"], body["altura"], body["peso"])
    elif isinstance(doc, dict) and set(doc) == SELF_KEYS:
        if _integer(doc["ts"], *TS) is None:
            return None
        fields = (doc["id"], doc["age"], doc["height_cm"], doc["weight_kg"])
    else:
        return None
    reading_id = _integer(fields[0], 0, MAX_ID)
    age, height, weight = (
        _number(fields[1], *AGE),
        _number(fields[2], *HEIGHT),
        _number(fields[3], *WEIGHT),
    )
    if reading_id is None or age is None or height is None or weight is None:
        return None
    return {"id": reading_id, "age": age, "height_cm": height, "weight_kg": weight}


def rules() -> list[tuple[str, str, float]]:
    """(rule text, field, threshold) of config.yaml's ``rules``."""
    out = []
    for text in yaml.safe_load(CONFIG.read_text())["rules"]:
        match = RULE.match(text)
        if match is None:
            raise AssertionError(f"the oracle reads rules '<field> > <number>'; got {text!r}")
        out.append((text, match.group(1), float(match.group(2))))
    return out


def alerts_of(reading: dict[str, float], config_rules: list[tuple[str, str, float]]) -> list[str]:
    values = {**reading, "bmi": reading["weight_kg"] / (reading["height_cm"] / 100) ** 2}
    return [text for text, field, threshold in config_rules if values[field] > threshold]

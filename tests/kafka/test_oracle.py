"""The end-to-end tests' independent oracle (tests/kafka/oracle.py) agrees with the project's
parser and rules on every malformed case and on random readings of both forms: two
implementations written apart, each checking the other."""

from __future__ import annotations

import json
import random

import pytest

from health_core.bmi import bmi
from health_core.config import HealthConfig
from health_core.parse import Reading, parse_payload
from health_core.rules import firing
from tests.health.payloads import COURSE_OK, MALFORMED, SELF_OK
from tests.kafka.oracle import alerts_of, rules, valid_reading


def as_bytes(payload: object) -> bytes | None:
    if isinstance(payload, bytes):
        return payload
    return payload.encode("utf-8", errors="surrogatepass") if isinstance(payload, str) else None


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_every_malformed_case_is_a_dead_letter_for_the_oracle(name: str) -> None:
    assert valid_reading(as_bytes(MALFORMED[name])) is None


def test_the_forms_examples_are_valid() -> None:
    assert valid_reading(COURSE_OK.encode()) is not None
    assert valid_reading(SELF_OK.encode()) is not None


def test_oracle_and_project_agree_on_random_readings() -> None:
    rng = random.Random(7)
    project_rules = HealthConfig().rules
    oracle_rules = rules()
    for _ in range(3000):
        height = rng.choice([rng.uniform(20, 300), rng.randint(20, 300)])
        weight = rng.choice([rng.uniform(0, 800), rng.randint(0, 800)])
        age = rng.choice([rng.randint(-5, 140), "30", True, None])
        rid = rng.choice([rng.randint(-5, 10**6), 1.5])
        if rng.random() < 0.5:
            payload = json.dumps([rid, {"idade": age, "altura": height, "peso": weight}])
        else:
            ts = rng.choice([1_700_000_000_000, 1_700_000_000])
            doc = {"id": rid, "age": age, "height_cm": height, "weight_kg": weight, "ts": ts}
            payload = json.dumps(doc)
        parsed = parse_payload(payload, 1_800_000_000_000)
        judged = valid_reading(payload.encode())
        assert isinstance(parsed, Reading) == (judged is not None), payload
        if judged is not None:
            assert isinstance(parsed, Reading)
            values = {**parsed.to_dict(), "bmi": bmi(parsed.weight_kg, parsed.height_cm)}
            assert [r.name for r in firing(project_rules, values)] == alerts_of(
                judged, oracle_rules
            )

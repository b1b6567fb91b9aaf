"""`squall produce`: the course's value model in both payload forms, counted acknowledgements."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from health_core.parse import Reading, parse_payload
from squall.kafka.admin import ensure_topics, read_topic
from squall.kafka.errors import KafkaConfigError
from squall.kafka.producer import (
    UNIQUE_ID_STRIDE,
    ProduceSpec,
    encode,
    parse_patients,
    produce,
    random_reading,
    readings,
    record_key,
)
from tests.kafka.kit import read_topic as read_records

ROOT = Path(__file__).resolve().parents[2]


def test_course_form_and_self_describing_form() -> None:
    reading = random_reading(random.Random(1), reading_id=7, ts_ms=1_800_000_000_000)
    course = json.loads(encode(reading, "seed"))
    assert course == [
        7,
        {"idade": reading.age, "altura": reading.height_cm, "peso": reading.weight_kg},
    ]
    own = json.loads(encode(reading, "json"))
    assert own == {
        "id": 7,
        "age": reading.age,
        "height_cm": reading.height_cm,
        "weight_kg": reading.weight_kg,
        "ts": 1_800_000_000_000,
    }
    # Both forms are what the topology's ParseBolt accepts.
    for fmt in ("seed", "json"):
        assert isinstance(parse_payload(encode(reading, fmt), 1_800_000_000_000), Reading)  # type: ignore[arg-type]


def test_values_stay_in_the_course_ranges() -> None:
    rng = random.Random(5)
    sample = [random_reading(rng) for _ in range(5000)]
    assert {r.id for r in sample} <= set(range(0, 1001))
    assert min(r.age for r in sample) == 10 and max(r.age for r in sample) == 50
    assert min(r.height_cm for r in sample) == 100 and max(r.height_cm for r in sample) == 200
    assert min(r.weight_kg for r in sample) == 30 and max(r.weight_kg for r in sample) == 100


def test_unique_ids_do_not_collide_across_producers_or_runs() -> None:
    ids = [r.id for p in range(4) for r in readings(p, seed=1, unique_ids=True, count=100)]
    ids += [r.id for r in readings(0, seed=1, unique_ids=True, count=100, id_base=500_000_000)]
    assert len(ids) == len(set(ids)) == 500
    assert UNIQUE_ID_STRIDE * 3 + 99 in ids


def test_patients_choose_the_ids_and_every_record_is_keyed_by_its_id() -> None:
    ids = [r.id for p in range(2) for r in readings(p, seed=1, unique_ids=False, count=500,
                                                     patients=(20, 29))]  # fmt: skip
    assert set(ids) == set(range(20, 30))
    assert record_key(random_reading(random.Random(1), reading_id=217)) == b"217"
    assert parse_patients("0-19") == (0, 19)
    assert parse_patients("7") == (7, 7)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("19-0", "--patients 19-0 is not a range of patient ids; valid: FIRST-LAST with "
         "0 <= FIRST <= LAST, e.g. 0-19"),
        ("-3", "--patients '-3' is not a range of patient ids; give FIRST-LAST (inclusive, "
         "ids >= 0), e.g. 0-19, or one id, e.g. 7"),
        ("0..19", "--patients '0..19' is not a range of patient ids; give FIRST-LAST (inclusive, "
         "ids >= 0), e.g. 0-19, or one id, e.g. 7"),
    ],
)  # fmt: skip
def test_a_bad_patient_range_is_named(text: str, message: str) -> None:
    with pytest.raises(KafkaConfigError, match="^" + re.escape(message) + "$"):
        parse_patients(text)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ProduceSpec("h:1", "t", producers=0, count=1), "--producers must be >= 1, got 0"),
        (ProduceSpec("h:1", "t", rate=-5, count=1), "--rate must be > 0"),
        (ProduceSpec("h:1", "t"), "give --seconds or --count"),
        (ProduceSpec("h:1", "t", count=1, fmt="xml"), "--format 'xml' is not one of"),  # type: ignore[arg-type]
        (ProduceSpec("h:1", "t", count=1, patients=(5, 4)), "--patients 5-4 is not a range"),
        (
            ProduceSpec("h:1", "t", count=1, patients=(0, 19), unique_ids=True),
            "--patients and --unique-ids both choose the ids",
        ),
    ],
)
def test_bad_produce_settings_are_named(spec: ProduceSpec, message: str) -> None:
    with pytest.raises(KafkaConfigError, match=message):
        produce(spec)


@pytest.mark.kafka
def test_four_producers_every_send_acknowledged(kafka_bootstrap: str, topic_name: str) -> None:
    ensure_topics(kafka_bootstrap, {topic_name: 4})
    progress: list[tuple[int, int, int, float]] = []
    result = produce(
        ProduceSpec(kafka_bootstrap, topic_name, producers=4, count=2_000, fmt="json"),
        progress=lambda *p: progress.append(p),
    )
    assert (result.sent, result.acked, result.failed, result.errors) == (8_000, 8_000, 0, ())
    assert progress and progress[-1][1] == 8_000
    assert len(read_topic(kafka_bootstrap, topic_name)) == 8_000


@pytest.mark.kafka
def test_cli_prints_progress_and_the_acknowledged_count(
    kafka_bootstrap: str, topic_name: str, client: str
) -> None:
    ensure_topics(kafka_bootstrap, {topic_name: 2})
    proc = subprocess.run(
        [sys.executable, "-m", "squall.cli", "produce", "--bootstrap", kafka_bootstrap,
         "--topic", topic_name, "--producers", "2", "--count", "500", "--format", "seed",
         "--client", client],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # the live line ('\r'-rewritten; text mode shows each rewrite on its own line)
    assert "acked      1,000  failed      0" in proc.stderr
    assert "acknowledged by the broker: 1,000 of 1,000 sent (0 failed)" in proc.stdout
    records = read_records(kafka_bootstrap, topic_name)
    values = [json.loads(r.value) for r in records]
    assert len(values) == 1_000 and all(isinstance(v, list) and len(v) == 2 for v in values)
    # keyed by the patient, and one patient's readings on one partition on either backend
    partitions: dict[bytes, set[int]] = {}
    for r in records:
        partitions.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in partitions.values())


def test_cli_names_a_missing_broker() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "squall.cli", "produce", "--instance", "never-started",
         "--count", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "no running broker instance 'never-started'" in proc.stderr


def test_cli_names_a_bad_patient_range_before_looking_for_a_broker() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "squall.cli", "produce", "--instance", "never-started",
         "--count", "1", "--patients", "20-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--patients 20-1 is not a range of patient ids" in proc.stderr

"""health.synthetic: the course's producer model, deterministic by seed."""

import dataclasses

from health_core.config import ProducerSettings
from health_core.parse import Invalid, Reading, parse_payload
from health_core.synthetic import SyntheticSource, generate, record_values

NOW = 1_700_000_000_000


def test_same_seed_same_records_other_seed_other_records() -> None:
    settings = ProducerSettings(count=3, seed=7)
    assert generate(settings, 50) == generate(settings, 50)
    other = generate(dataclasses.replace(settings, seed=8), 50)
    assert [record_values(r) for r in other] != [record_values(r) for r in generate(settings, 50)]


def test_values_stay_in_the_course_ranges() -> None:
    for record in generate(ProducerSettings(count=4, seed=1), 500):
        assert 0 <= record.id <= 1000
        assert 10 <= record.age <= 50
        assert 100 <= record.height_cm <= 200
        assert 30 <= record.weight_kg <= 100


def test_forms_mix_and_every_payload_parses_to_its_kind() -> None:
    settings = ProducerSettings(
        count=4, seed=3, malformed_fraction=0.1, self_describing_fraction=0.5
    )
    records = generate(settings, 500)
    kinds = {kind: sum(r.kind == kind for r in records) for kind in ("course", "self", "malformed")}
    # 2000 draws: the shares are near 10% / 45% / 45% (bounds far outside sampling noise)
    assert 120 <= kinds["malformed"] <= 280
    assert 700 <= kinds["self"] <= 1100 and 700 <= kinds["course"] <= 1100
    for record in records:
        parsed = parse_payload(record.payload, NOW)
        if record.kind == "malformed":
            assert isinstance(parsed, Invalid), record.payload
        else:
            assert isinstance(parsed, Reading), (record.payload, parsed)
            assert parsed.form == record.kind
            assert (parsed.id, parsed.age, parsed.height_cm, parsed.weight_kg) == (
                record.id,
                record.age,
                record.height_cm,
                record.weight_kg,
            )


def test_fractions_zero_and_one() -> None:
    only_course = ProducerSettings(count=1, malformed_fraction=0.0, self_describing_fraction=0.0)
    assert {r.kind for r in generate(only_course, 100)} == {"course"}
    only_bad = ProducerSettings(count=1, malformed_fraction=1.0)
    assert {r.kind for r in generate(only_bad, 100)} == {"malformed"}


def test_schedule_follows_the_rate_per_producer() -> None:
    settings = ProducerSettings(count=4, rate_per_producer_hz=2.0)
    source = SyntheticSource(settings, start_ms=NOW)
    # due times: producer p, record k at NOW + (k + p/4) * 500 ms
    got = []
    for t in range(0, 1001, 25):
        while (record := source.next_due(NOW + t)) is not None:
            got.append((t, record.tup_id))
    assert got == [
        (0, "p0-0"),
        (125, "p1-0"),
        (250, "p2-0"),
        (375, "p3-0"),
        (500, "p0-1"),
        (625, "p1-1"),
        (750, "p2-1"),
        (875, "p3-1"),
        (1000, "p0-2"),
    ]


def test_a_late_consumer_gets_every_record_not_a_skip() -> None:
    source = SyntheticSource(ProducerSettings(count=2, rate_per_producer_hz=10.0), start_ms=NOW)
    ids = []
    while (record := source.next_due(NOW + 1000)) is not None:
        ids.append(record.tup_id)
    # p0 is due at 0, 100, ..., 1000 ms; p1 (staggered by half a period) at 50, ..., 950 ms
    expected = [f"p0-{k}" for k in range(11)] + [f"p1-{k}" for k in range(10)]
    assert sorted(ids) == sorted(expected)


def test_bounded_source_is_exhausted() -> None:
    settings = ProducerSettings(count=3, rate_per_producer_hz=0, max_readings_per_producer=2)
    source = SyntheticSource(settings, start_ms=NOW)
    ids = []
    while (record := source.next_due(NOW)) is not None:
        ids.append(record.tup_id)
    assert ids == ["p0-0", "p1-0", "p2-0", "p0-1", "p1-1", "p2-1"]
    assert source.exhausted

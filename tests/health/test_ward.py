"""The ward (issue 11): critical and routine readings, keyed by patient, released when due,
routine ones discarded at the spout in overload within (m,k) per patient, every alert classed.

Discard oracles recount from the ids the spout emitted, never by asking MKFirm.
"""

import json
import re
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bolts.parse import ParseBolt
from health_core.config import HealthConfig, HealthConfigError, storm_key
from health_core.synthetic import SyntheticRecord, class_load, generate
from health_core.ward import WardSettings
from spouts.synthetic import SyntheticHealthSpout
from squall.realtime.context import Overload, RealtimeContext
from squall.realtime.deadlines import Deadlines, StreamDeadline
from squall.realtime.metrics import Metrics
from squall.testing import BoltHarness, SpoutHarness, TopologyDriver, make_tuple
from tests.health.payloads import COURSE_OK
from topologies.health import HealthTopology
from topologies.health_kafka import HealthKafkaTopology
from topologies.health_ward import HealthWardTopology

CLASS_KEY = storm_key("producers", "reading_class")
START_MS = 1_700_000_000_000
WARD = {("critical", "default"), ("routine", "default")}
BOUND_10 = {"producers__max_readings_per_producer": 10}


def conf(reading_class: str | None, **settings: Any) -> dict[str, Any]:
    """The Storm config of one spout: ``settings`` are ``(section, field)`` -> value."""
    out = {**HealthConfig().to_storm_conf(), "health.producers.rate.per.producer.hz": 0}
    if reading_class is not None:
        out[CLASS_KEY] = reading_class
    out.update({storm_key(*key.split("__")): value for key, value in settings.items()})
    return out


def spout(reading_class: str, **settings: Any) -> SpoutHarness:
    return SpoutHarness(
        SyntheticHealthSpout, conf=conf(reading_class, **settings), component=reading_class
    )


def records(reading_class: str, **settings: Any) -> list[SyntheticRecord]:
    """The class's records of a bounded run, in the order an unpaced source hands them out:
    by seq, then producer."""
    config = HealthConfig.from_storm_conf(conf(reading_class, **settings))
    producers, patients = class_load(config.producers, config.ward)
    assert producers.max_readings_per_producer is not None
    made = generate(producers, producers.max_readings_per_producer, patients=patients)
    return sorted(made, key=lambda r: (r.seq, r.producer))


def with_realtime(harness: SpoutHarness, name: str) -> tuple[Overload, Metrics]:
    """Give the spout the ward's runtime context, as the engine would: its overload switch and
    the metrics it counts into."""
    overload, metrics = Overload(), Metrics()
    deadlines = HealthConfig().ward.deadlines()
    harness.spout.realtime = RealtimeContext(name, deadlines, metrics, overload)
    return overload, metrics


# --- records: classed, keyed by patient, deterministic ------------------------------------


def test_each_class_has_its_own_producers_and_patients_every_run_alike() -> None:
    ward = HealthConfig().ward
    bound = {"producers__count": 3, "producers__max_readings_per_producer": 250}
    critical = records("critical", **bound)
    routine = records("routine", **bound)
    assert records("critical", **bound) == critical  # deterministic
    assert {r.id for r in critical} <= set(range(0, ward.critical_patients))
    first = ward.critical_patients
    assert {r.id for r in routine} <= set(range(first, first + ward.routine_patients))
    assert len({r.id for r in routine}) > ward.routine_patients // 2  # the whole range is used
    assert all(r.patient == r.id for r in critical + routine)  # the key is the patient
    assert {r.reading_class for r in critical} == {"critical"}
    assert critical[0].tup_id == "critical-p0-0" and routine[4].tup_id == "routine-p1-1"
    # their own generators: the two classes do not draw the same sequence
    assert [r.weight_kg for r in critical] != [r.weight_kg for r in routine]


def test_unclassed_records_are_health_pys_unchanged() -> None:
    settings = HealthConfig().producers
    plain = generate(settings, 5)
    assert [r.tup_id for r in plain[:2]] == ["p0-0", "p0-1"]
    assert all(r.reading_class is None and 0 <= r.id <= 1000 for r in plain)
    assert class_load(settings, HealthConfig().ward) == (settings, (0, 1000))


def test_the_classes_share_the_producers_load() -> None:
    paced = replace(HealthConfig().producers, max_readings_per_producer=150)  # 4 x 5/s
    split = {
        cls: class_load(replace(paced, reading_class=cls), HealthConfig().ward)[0]
        for cls in ("critical", "routine")
    }
    assert split["critical"].rate_per_producer_hz == pytest.approx(1.0)
    assert split["routine"].rate_per_producer_hz == pytest.approx(4.0)
    assert split["critical"].max_readings_per_producer == 30
    assert split["routine"].max_readings_per_producer == 120
    assert split["critical"].count == split["routine"].count == paced.count


def test_spouts_emit_their_class_share_of_a_bounded_run() -> None:
    bound = {"producers__count": 2, "producers__max_readings_per_producer": 50}
    emitted = {}
    for cls in ("critical", "routine"):
        harness = spout(cls, **bound)
        emitted[cls] = [e for _ in range(200) for e in harness.next_tuple()]
        assert [e.tup_id for e in emitted[cls]] == [r.tup_id for r in records(cls, **bound)]
    assert (len(emitted["critical"]), len(emitted["routine"])) == (20, 80)


# --- release: the time the reading was due ------------------------------------------------


class _Clock:
    now_ms = START_MS


class ClockedSpout(SyntheticHealthSpout):
    clock = staticmethod(lambda: _Clock.now_ms)


def test_release_is_when_the_reading_was_due_also_when_emitted_late_or_replayed() -> None:
    _Clock.now_ms = START_MS
    settings = conf("routine", producers__count=2) | {"health.producers.rate.per.producer.hz": 5}
    harness = SpoutHarness(ClockedSpout, conf=settings, component="routine")
    releases: list[tuple[str, float]] = []
    emit = harness.spout.emit

    def recording_emit(values: list, tup_id: Any = None, **kwargs: Any) -> Any:
        # popped: each emit must have been given its own release time
        releases.append((tup_id, harness.spout.__dict__.pop("release_time")))
        return emit(values, tup_id=tup_id, **kwargs)

    harness.spout.emit = recording_emit
    harness.next_tuple()  # producer 0's first reading, due now
    assert harness.next_tuple() == []  # producer 1's is due 125 ms later
    _Clock.now_ms = START_MS + 2_000  # the spout was not asked for 2 s: it is behind
    for _ in range(50):
        harness.next_tuple()
    # routine: 0.8 x 5/s = 4/s per producer, 250 ms apart, producer 1 staggered by half
    expected = [
        (f"routine-p{p}-{seq}", (START_MS + (seq + p / 2) * 250) / 1000)
        for seq in range(9)
        for p in range(2)
        if (seq + p / 2) * 250 <= 2_000
    ]
    assert releases == expected
    assert all(release < _Clock.now_ms / 1000 for _, release in releases[:-1])
    harness.fail("routine-p1-2")
    harness.next_tuple()
    assert releases[-1] == ("routine-p1-2", (START_MS + 2.5 * 250) / 1000)  # its original


def test_unpaced_readings_are_due_when_asked() -> None:
    _Clock.now_ms = START_MS + 123
    harness = SpoutHarness(ClockedSpout, conf=conf("critical"), component="critical")
    harness.next_tuple()
    assert harness.spout.release_time == (START_MS + 123) / 1000


# --- discard: at the spout, by patient, in overload only, within (m,k) --------------------


def test_routine_readings_are_discarded_only_in_overload_and_within_mk_per_patient() -> None:
    settings = {
        "producers__count": 2,
        "producers__max_readings_per_producer": 150,
        "ward__routine_patients": 4,  # few patients: each has many readings
    }
    harness = spout("routine", **settings)
    overload, metrics = with_realtime(harness, "routine")
    calm = [e.tup_id for _ in range(40) for e in harness.next_tuple()]
    overload.active = True
    stormy = [e.tup_id for _ in range(400) for e in harness.next_tuple()]
    for tup_id in calm + stormy:
        harness.ack(tup_id)
    assert harness.spout.finished

    every = records("routine", **settings)
    assert [r.tup_id for r in every[:40]] == calm  # nothing discarded while calm
    emitted = set(calm + stormy)
    discarded = [r for r in every if r.tup_id not in emitted]
    assert discarded and harness.spout.shed == len(discarded)
    assert metrics.stream("routine.default").shed["discard"] == len(discarded)
    # recount per patient from the emitted ids: m = 3 of any k = 4 consecutive readings
    jobs: dict[int, list[bool]] = defaultdict(list)
    for r in every:
        jobs[r.patient].append(r.tup_id not in emitted)
    for patient, gone in jobs.items():
        for end in range(len(gone)):
            window = gone[max(0, end - 3) : end + 1]
            assert sum(window) <= 3, (patient, end, gone)
    # and greedy in overload: a reading ran only when the bound forbade dropping it
    overloaded = {r.tup_id for r in every[40:]}
    for patient, gone in jobs.items():
        ids = [r.tup_id for r in every if r.patient == patient]
        for i, tup_id in enumerate(ids):
            if tup_id in overloaded and not gone[i]:
                assert i >= 3 and gone[i - 3 : i] == [True] * 3, (patient, i, gone)


def test_a_critical_reading_is_never_discarded() -> None:
    harness = spout("critical", producers__count=2, producers__max_readings_per_producer=200)
    overload, metrics = with_realtime(harness, "critical")
    overload.active = True
    emitted = [e.tup_id for _ in range(500) for e in harness.next_tuple()]
    assert len(emitted) == 80 and harness.spout.shed == 0  # 0.2 x 200 x 2 producers
    assert sum(metrics.stream("critical.default").shed.values()) == 0


def test_a_discarded_reading_is_done_never_pending_nor_replayed() -> None:
    harness = spout("routine", producers__count=1, **BOUND_10)
    overload, _ = with_realtime(harness, "routine")
    overload.active = True
    emitted = [e.tup_id for _ in range(20) for e in harness.next_tuple()]
    every = [r.tup_id for r in records("routine", producers__count=1, **BOUND_10)]
    dropped = [t for t in every if t not in emitted]
    assert dropped and not set(dropped) & set(harness.spout.pending)
    for tup_id in dropped:
        harness.fail(tup_id)  # not ours any more: ignored
    assert [e for _ in range(5) for e in harness.next_tuple()] == []
    for tup_id in emitted:
        harness.ack(tup_id)
    assert harness.spout.finished


def test_without_a_runtime_nothing_is_discarded() -> None:
    harness = spout("routine", producers__count=1, **BOUND_10)
    assert len([e for _ in range(20) for e in harness.next_tuple()]) == 8  # 0.8 x 10
    assert harness.spout.shed == 0


# --- the class travels with the reading ---------------------------------------------------


@pytest.mark.parametrize(
    ("component", "expected"), [("critical", "critical"), ("routine", "routine")]
)
def test_parse_tags_a_reading_with_its_spouts_class(component: str, expected: str) -> None:
    bolt = BoltHarness(ParseBolt, conf=HealthConfig().to_storm_conf(), component="parse")
    (out,) = bolt.process(make_tuple([COURSE_OK], fields=["payload"], component=component))
    assert out.values[2]["class"] == expected


def test_parse_leaves_an_unclassed_reading_as_it_was() -> None:
    bolt = BoltHarness(ParseBolt, conf=HealthConfig().to_storm_conf(), component="parse")
    (out,) = bolt.process(make_tuple([COURSE_OK], fields=["payload"], component="synthetic"))
    assert "class" not in out.values[2]


def test_the_ward_runs_under_the_test_kit_and_every_alert_carries_its_class() -> None:
    overrides = {
        "health.producers.count": 2,
        "health.producers.rate.per.producer.hz": 0,  # unpaced: bounded by the count
        "health.producers.max.readings.per.producer": 100,
        "health.producers.malformed.fraction": 0.0,
        "health.sinks.console": False,
    }
    driver = TopologyDriver(HealthWardTopology, conf=overrides, replace_spouts=[])
    try:
        assert driver.run().errors == []
        alerts = driver.output("threshold")
        ward = HealthConfig().ward
        by_class: dict[str, set[int]] = defaultdict(set)
        for _rule, reading_id, _ts, reading in alerts:
            by_class[reading["class"]].add(reading_id)
        assert set(by_class) == {"critical", "routine"}
        low, high = ward.patients("critical")
        assert all(low <= i <= high for i in by_class["critical"])
        assert all(i > high for i in by_class["routine"])
        assert driver.in_flight == 0
        spouts = {c: set(driver.acked(c)) for c in ("critical", "routine")}
        assert (len(spouts["critical"]), len(spouts["routine"])) == (40, 160)
    finally:
        driver.close()


# --- config -------------------------------------------------------------------------------


def test_only_the_ward_topology_declares_deadlines() -> None:
    declared = Deadlines.from_conf(HealthWardTopology.config, declared=WARD)
    assert declared == Deadlines(
        (
            StreamDeadline("critical", "default", 0.05, "hard", policies={"late"}),
            StreamDeadline("routine", "default", 1.0, "firm", 3, 4, {"discard"}),
        )
    )
    assert HealthWardTopology.config["squall.scheduler"] == "edf"  # deadline-aware by default
    for topology in (HealthTopology, HealthKafkaTopology):
        assert not [k for k in topology.config if k.startswith("squall.realtime")]
        assert "squall.scheduler" not in topology.config
    # the Kafka topology's squall keys: queued in the embedded runner (README, chaining), and
    # only chains fused under Storm (docs/storm.md)
    assert {k for k in HealthKafkaTopology.config if k.startswith("squall.")} == {
        "squall.runner.chaining",
        "squall.storm.fusion",
    }
    assert HealthConfig.from_storm_conf(HealthWardTopology.config) == HealthConfig.load(
        Path(__file__).resolve().parents[2] / "config.yaml"
    )


def test_a_deadline_override_reaches_the_ward_settings() -> None:
    conf_ = {**HealthWardTopology.config, "squall.realtime.routine.default.mk": "2,5"}
    assert HealthConfig.from_storm_conf(conf_).ward.routine_mk == (2, 5)
    conf_["squall.scheduler"] = "llf"  # not the default edf, so the override is what is read
    assert HealthConfig.from_storm_conf(conf_).ward.scheduler == "llf"


def test_every_ward_setting_survives_the_ward_topologys_storm_conf() -> None:
    ward = replace(
        WardSettings(),
        critical_share=0.3,
        scheduler="llf",
        critical_deadline_ms=20.0,
        routine_mk=(2, 5),
        routine_policies=("discard", "rate"),
    )
    config = replace(HealthConfig(), ward=ward)
    conf_ = json.loads(json.dumps(config.to_storm_conf(ward=True)))  # what a component gets
    assert conf_["squall.scheduler"] == "llf"
    assert HealthConfig.from_storm_conf(conf_) == config
    # without ward=True only health.ward.* travels; the squall.* settings come back as defaults
    plain = HealthConfig.from_storm_conf(config.to_storm_conf())
    assert plain.ward == replace(WardSettings(), critical_share=0.3)


def _raises(message: str):
    return pytest.raises(HealthConfigError, match="^" + re.escape(message) + "$")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ward: {critical_share: 0}",
            "ward.critical_share must be a number in (0, 1), the share of the readings that are "
            "critical (0 or 1 would leave a class without readings); got 0 (int)",
        ),
        (
            "ward: {critical_share: 1.5}",
            "ward.critical_share must be a number in (0, 1), the share of the readings that are "
            "critical (0 or 1 would leave a class without readings); got 1.5 (float)",
        ),
        (
            "ward: {routine_patients: 0}",
            "ward.routine_patients must be an integer in [1, 1e+06]; got 0",
        ),
        (
            "ward: {scheduler: fast}",
            "ward.scheduler must be one of 'fifo', 'edf', 'llf', 'dm', 'rm'; got 'fast' (str)",
        ),
        (
            "ward: {scheduler: null}",
            "ward.scheduler must be one of 'fifo', 'edf', 'llf', 'dm', 'rm'; got None (null)",
        ),
        (
            "ward: {routine_mk: '5,4'}",
            "ward, routine readings: setting ward.routine_mk has m = 5 > k = 4; valid: 0 <= m "
            "<= k and k >= 1 (at most m of any k consecutive jobs discarded)",
        ),
        (
            "ward: {critical_policies: 'late,discard'}",
            "ward, critical readings: setting ward.critical_policies gives 'discard' to a hard "
            "stream; hard streams are never shed: valid for hard are late, imprecise (its "
            "mandatory part always runs) and rate",
        ),
        (
            "ward: {critical_deadline_ms: -5}",
            "ward.critical_deadline_ms must be a number > 0; got -5",
        ),
        (
            "ward: {routine_criticality: critical}",
            "ward.routine_criticality must be one of 'hard', 'firm', 'soft'; got 'critical' (str)",
        ),
        (
            "producers: {reading_class: urgent}",
            "producers.reading_class must be one of 'critical', 'routine'; got 'urgent' (str)",
        ),
    ],
)
def test_bad_ward_settings_name_key_value_and_valid(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with _raises(f"{path}: {message}"):
        HealthConfig.load(path)


def test_bad_ward_overrides_name_the_storm_key() -> None:
    with _raises(
        "Storm config: health.ward.critical.share must be a number in (0, 1), the share of the "
        "readings that are critical (0 or 1 would leave a class without readings); got 1 (int)"
    ):
        HealthConfig.from_storm_conf({**HealthWardTopology.config, "health.ward.critical.share": 1})
    with _raises(
        "Storm config: ward, routine readings: setting squall.realtime.routine.default.mk is set "
        "on a hard stream; (m, k) bounds the discards of a firm stream only: remove it, or make "
        "squall.realtime.routine.default.criticality firm"
    ):
        HealthConfig.from_storm_conf(
            {**HealthWardTopology.config, "squall.realtime.routine.default.criticality": "hard"}
        )


def test_a_classed_spout_must_be_named_after_its_class() -> None:
    with _raises(
        "health.producers.reading.class = 'critical' for spout 'icu': a spout sending one class "
        "must have that class's name as its component id (ParseBolt tags its readings by it, "
        "and its deadlines are squall.realtime.<class>.default.*); name the spout 'critical', "
        "or leave health.producers.reading.class unset"
    ):
        SpoutHarness(SyntheticHealthSpout, conf=conf("critical"), component="icu")


def _expected_alerts(records: list[SyntheticRecord]) -> Counter[tuple[str, int, int]]:
    """(rule, patient, weight) of every alert the records should raise: computed here, not by
    the project's parse, BMI or rule code (config.yaml's rules: weight_kg > 80, bmi > 35)."""
    out: Counter[tuple[str, int, int]] = Counter()
    for r in records:
        if r.kind == "malformed":
            continue
        if r.weight_kg > 80:
            out["weight_kg > 80", r.id, r.weight_kg] += 1
        if r.weight_kg / (r.height_cm / 100) ** 2 > 35:
            out["bmi > 35", r.id, r.weight_kg] += 1
    return out


def test_under_a_scripted_overload_no_critical_alert_is_lost_or_shed() -> None:
    # Held in overload from the first tuple (squall.overload.force), EDF, routine readings
    # discarded within (3,4): every critical reading's alerts are still all there, exactly.
    overrides = {
        "health.producers.count": 2,
        "health.producers.rate.per.producer.hz": 0,
        "health.producers.max.readings.per.producer": 200,
        "health.sinks.console": False,
        "squall.overload.force": True,
    }
    driver = TopologyDriver(HealthWardTopology, conf=overrides, replace_spouts=[])
    try:
        result = driver.run()
        assert result.errors == []
        got: dict[str, Counter[tuple[str, int, int]]] = defaultdict(Counter)
        for rule, reading_id, _ts, reading in driver.output("threshold"):
            got[reading["class"]][rule, reading_id, reading["weight_kg"]] += 1
        bounded = {"producers__count": 2, "producers__max_readings_per_producer": 200}
        critical = _expected_alerts(records("critical", **bounded))
        assert critical and got["critical"] == critical  # none lost, none duplicated
        streams = result.realtime.streams
        assert sum(streams["critical.default"].shed.values()) == 0
        # routine readings were shed, each counted: their alerts are a subset of the full set
        shed = streams["routine.default"].shed["discard"]
        routine = _expected_alerts(records("routine", **bounded))
        assert shed > 0 and not (got["routine"] - routine)
        assert len(driver.acked("routine")) + shed == len(records("routine", **bounded))
        # each kept routine reading stands for itself and its patient's discarded ones before
        # it: the weights add up to each patient's readings up to its last kept one
        kept = set(driver.acked("routine"))
        upto: dict[int, int] = {}
        for_patient: Counter[int] = Counter()
        for record in records("routine", **bounded):
            for_patient[record.patient] += 1
            if record.tup_id in kept:
                upto[record.patient] = for_patient[record.patient]
        weights = [w for _payload, w in driver.output("routine")]
        assert max(weights) > 1 and sum(weights) == sum(upto.values())
        for _rule, _id, _ts, reading in driver.output("threshold"):
            if reading["class"] == "routine":
                assert 1 < reading.get("stands_for", 2) <= 4  # (3,4): at most 3 discarded
    finally:
        driver.close()

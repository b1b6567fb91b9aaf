"""Every health bolt through squall.testing's BoltHarness."""

import json
from pathlib import Path

import pytest

from bolts.bmi import BMIBolt
from bolts.parse import ParseBolt
from bolts.sinks import ConsoleSinkBolt, JsonlSinkBolt
from bolts.threshold import ThresholdBolt
from health_core.config import HealthConfig
from health_core.trend import TREND_FIELDS
from squall.testing import BoltHarness, make_tuple
from tests.health.payloads import COURSE_OK, MALFORMED, REASONS, SELF_OK, TS

CONF = HealthConfig().to_storm_conf()
READING_FIELDS = ["reading_id", "ts", "reading"]


def payload_tuple(payload: object, tup_id: str = "t1"):
    return make_tuple([payload], fields=["payload"], component="synthetic", id=tup_id)


# --- ParseBolt ---------------------------------------------------------------------------


@pytest.fixture
def parse_bolt() -> BoltHarness:
    return BoltHarness(ParseBolt, conf=CONF, component="parse")


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_payload_gives_one_invalid_tuple_and_one_ack(
    parse_bolt: BoltHarness, name: str
) -> None:
    payload = MALFORMED[name]
    # the harness raises any exception of the bolt: none may escape (no component error)
    emitted = parse_bolt.process(payload_tuple(payload, tup_id="bad-1"))
    assert [e.stream for e in emitted] == ["invalid"], name
    raw, reason, ts = emitted[0].values
    assert REASONS[name] in reason
    assert isinstance(raw, str) and len(raw) <= 1100  # bounded, even for the 10 MB payload
    assert isinstance(ts, int)
    json.dumps(emitted[0].values)  # must cross Storm's JSON multilang protocol
    assert parse_bolt.acked == ["bad-1"]
    assert parse_bolt.failed == []


def test_there_are_at_least_25_malformed_cases_each_with_its_reason() -> None:
    assert len(MALFORMED) >= 25
    assert set(REASONS) == set(MALFORMED)


def test_a_utf8_byte_order_mark_is_ignored(parse_bolt: BoltHarness) -> None:
    """RFC 8259 8.1 lets a parser ignore it; Windows tools write it (docs/health.md)."""
    for payload in ("\ufeff" + COURSE_OK, b"\xef\xbb\xbf" + COURSE_OK.encode()):
        (emission,) = parse_bolt.process(payload_tuple(payload))
        assert emission.stream == "default"
        assert emission.values[2]["weight_kg"] == json.loads(COURSE_OK)[1]["peso"]


@pytest.mark.parametrize(
    ("name", "reason_part"),
    [
        ("zero height", "altura (height) must be in [30, 280] cm; got 0"),
        (
            "string for a number (course)",
            "peso (weight) must be a number of kg in [1, 700]; got str '80'",
        ),
        ("missing field (self)", "reading object has missing ts"),
        ("extra field (self)", "unexpected bmi"),
        ("non-UTF-8 bytes", "payload is not UTF-8: byte 0xff at offset 28"),
        ("10 MB payload", "bytes; the limit is 65536 bytes"),
        ("NaN", "NaN is not valid JSON"),
        ("empty bytes", "payload is empty"),
    ],
)
def test_reasons_are_readable(parse_bolt: BoltHarness, name: str, reason_part: str) -> None:
    (emission,) = parse_bolt.process(payload_tuple(MALFORMED[name]))
    assert reason_part in emission.values[1]


def test_invalid_record_keeps_the_raw_payload(parse_bolt: BoltHarness) -> None:
    (emission,) = parse_bolt.process(payload_tuple(MALFORMED["zero height"]))
    assert emission.values[0] == MALFORMED["zero height"]
    (emission,) = parse_bolt.process(payload_tuple(MALFORMED["non-UTF-8 bytes"]))
    assert "\\xff\\xfe170" in emission.values[0]


def test_both_forms_parse_to_readings_anchored_to_the_input(parse_bolt: BoltHarness) -> None:
    out = parse_bolt.process(payload_tuple(COURSE_OK, "a")) + parse_bolt.process(
        payload_tuple(SELF_OK.encode(), "b")
    )
    assert [e.stream for e in out] == ["default", "default"]
    course_id, course_ts, course_reading = out[0].values
    assert (course_id, course_reading["form"], course_reading["weight_kg"]) == (12, "course", 82)
    assert course_ts == course_reading["ts"] and course_ts > TS  # arrival time, now
    assert out[1].values == [
        5,
        TS,
        {"id": 5, "age": 22, "height_cm": 150, "weight_kg": 90.5, "ts": TS, "form": "self"},
    ]
    assert [e.anchors for e in out] == [["a"], ["b"]]
    assert parse_bolt.acked == ["a", "b"]


def test_parse_limits_come_from_storm_conf() -> None:
    conf = {**CONF, "health.parse.max.payload.bytes": 32}
    harness = BoltHarness(ParseBolt, conf=conf)
    (emission,) = harness.process(payload_tuple(SELF_OK))
    assert emission.stream == "invalid" and "the limit is 32 bytes" in emission.values[1]


def test_parse_ignores_extra_fields_after_the_payload(parse_bolt: BoltHarness) -> None:
    tup = make_tuple(
        [COURSE_OK, "health.readings", 0, 17],
        fields=["payload", "topic", "partition", "offset"],
        component="kafka",
    )
    (emission,) = parse_bolt.process(tup)
    assert emission.stream == "default" and emission.values[0] == 12


# --- BMIBolt -----------------------------------------------------------------------------


def reading(**changes: object) -> dict:
    return {
        "id": 3,
        "age": 30,
        "height_cm": 160,
        "weight_kg": 96,
        "ts": TS,
        "form": "self",
        **changes,
    }


def test_bmi_bolt_adds_bmi_and_class() -> None:
    harness = BoltHarness(BMIBolt, conf=CONF)
    (emission,) = harness.process(make_tuple([3, TS, reading()], fields=READING_FIELDS, id="r"))
    reading_id, ts, out = emission.values
    assert (reading_id, ts) == (3, TS)
    assert out["bmi"] == pytest.approx(37.5) and out["bmi_class"] == "obese_II"
    assert {k: out[k] for k in reading()} == reading()
    assert emission.anchors == ["r"] and harness.acked == ["r"]


def test_bmi_bolt_sends_an_unusable_reading_to_invalid() -> None:
    harness = BoltHarness(BMIBolt, conf=CONF)
    bad = {k: v for k, v in reading().items() if k != "height_cm"}
    (emission,) = harness.process(make_tuple([3, TS, bad], fields=READING_FIELDS, id="r"))
    assert emission.stream == "invalid" and "cannot compute BMI of reading 3" in emission.values[1]
    assert harness.acked == ["r"]


# --- ThresholdBolt -----------------------------------------------------------------------


def with_bmi(**changes: object) -> dict:
    out = reading(**changes)
    out["bmi"] = out["weight_kg"] / (out["height_cm"] / 100) ** 2
    return out


@pytest.mark.parametrize(
    ("weight", "height", "rules"),
    [
        (96, 160, ["weight_kg > 80", "bmi > 35"]),  # bmi 37.5: both fire
        (96, 190, ["weight_kg > 80"]),  # bmi 26.6
        (70, 140, ["bmi > 35"]),  # bmi 35.7
        (80, 160, []),  # weight not > 80, bmi 31.25
    ],
)
def test_threshold_emits_one_alert_per_firing_rule(
    weight: int, height: int, rules: list[str]
) -> None:
    harness = BoltHarness(ThresholdBolt, conf=CONF)
    values = with_bmi(weight_kg=weight, height_cm=height)
    emitted = harness.process(make_tuple([3, TS, values], fields=READING_FIELDS, id="r"))
    assert [e.values for e in emitted] == [[rule, 3, TS, values] for rule in rules]
    assert all(e.anchors == ["r"] for e in emitted)
    assert harness.acked == ["r"]


def test_threshold_rules_come_from_storm_conf() -> None:
    conf = {**CONF, "health.rules": ["age < 18", "height_cm >= 190"]}
    harness = BoltHarness(ThresholdBolt, conf=conf)
    values = with_bmi(age=16, height_cm=195)
    emitted = harness.process(make_tuple([3, TS, values], fields=READING_FIELDS))
    assert [e.values[0] for e in emitted] == ["age < 18", "height_cm >= 190"]


# --- sinks -------------------------------------------------------------------------------

ALERT = ["bmi > 35", 3, TS, with_bmi(bmi_class="obese_II")]
ALERT_SOURCE = {"threshold": {"default": ["rule", "reading_id", "ts", "reading"]}}


def test_console_sink_prints_one_line_per_alert_invalid_and_window(capsys) -> None:
    conf = {**CONF, "health.sinks.console.payloads": True}  # the readings' values asked for
    sources = {
        **ALERT_SOURCE,
        "parse": {"invalid": ["raw", "reason", "ts"]},
        "trend": {"default": list(TREND_FIELDS)},
    }
    harness = BoltHarness(ConsoleSinkBolt, conf=conf, sources=sources)
    harness.process(make_tuple(ALERT, component="threshold", id=1))
    harness.process(
        make_tuple(["oops", "not valid JSON", TS], component="parse", stream="invalid", id=2)
    )
    harness.process(
        make_tuple(["bmi > 35", TS, TS + 10_000, 12, "rising", 7, 1.0, 0], component="trend", id=3)
    )
    # an estimate (TrendBolt's approximate mode) says so: its error bound and precision
    harness.process(
        make_tuple(["bmi > 35", TS, TS + 10_000, 12, "rising", 7, 0.25, 4], component="trend", id=4)
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert (
        lines[0].startswith("ALERT")
        and "[bmi > 35] id=3" in lines[0]
        and "bmi=37.5 (obese_II)" in lines[0]
    )
    assert lines[1].startswith("INVALID") and "not valid JSON | raw: oops" in lines[1]
    assert (
        lines[2] == "WINDOW  (22:15:23.456, 22:15:33.456] [bmi > 35] count=12 rising (previous 7)"
    )
    assert lines[3] == (
        "WINDOW  (22:15:23.456, 22:15:33.456] [bmi > 35] count=12 ±4 (precision 0.25) rising "
        "(previous 7)"
    )
    assert harness.acked == [1, 2, 3, 4]


def test_console_sink_shows_ids_not_health_data_unless_asked(capsys) -> None:
    """Issue 17, item 4: by default a console line names the reading, not its values."""
    sources = {**ALERT_SOURCE, "parse": {"invalid": ["raw", "reason", "ts"]}}
    harness = BoltHarness(ConsoleSinkBolt, conf=CONF, sources=sources)
    harness.process(make_tuple(ALERT, component="threshold", id=1))
    raw = '[42, {"idade": 51, "altura": 171, "peso": "heavy"}]'
    harness.process(
        make_tuple([raw, "peso must be a number", TS], component="parse", stream="invalid", id=2)
    )
    alert, invalid = capsys.readouterr().out.splitlines()
    assert alert.endswith("[bmi > 35] id=3")
    assert not any(name in alert for name in ("age=", "height=", "weight=", "bmi="))
    assert (
        "peso must be a number | id=42" in invalid
        and "heavy" not in invalid
        and "171" not in invalid
    )
    assert f"({len(raw)} chars, not shown)" in invalid


def test_console_sink_explains_a_late_alert(capsys) -> None:
    late = {"trend": {"late": ["source", "stream", "task", "values", "ts", "watermark"]}}
    harness = BoltHarness(ConsoleSinkBolt, conf=CONF, sources=late)
    harness.process(
        make_tuple(
            ["threshold", "default", 3, ALERT, TS, TS + 2500], component="trend", stream="late"
        )
    )
    (line,) = capsys.readouterr().out.splitlines()
    assert line == (
        "LATE    22:15:23.456 [bmi > 35] id=3 arrived after the watermark 22:15:25.956 "
        "(2500 ms behind); not counted in a window"
    )


def test_console_sink_names_fields_without_context(capsys) -> None:
    harness = BoltHarness(ConsoleSinkBolt, conf=CONF)
    harness.process(make_tuple(ALERT, component="threshold"))
    harness.process(make_tuple(["x", 1], component="other", stream="s"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ALERT") and lines[1] == "other/s: value0=x value1=1"


def test_console_sink_can_be_switched_off(capsys) -> None:
    harness = BoltHarness(ConsoleSinkBolt, conf={**CONF, "health.sinks.console": False})
    harness.process(make_tuple(ALERT, component="threshold", id=1))
    assert capsys.readouterr().out == "" and harness.acked == [1]


def test_jsonl_sink_writes_one_object_per_tuple(tmp_path: Path) -> None:
    path = tmp_path / "out" / "health.jsonl"
    conf = {**CONF, "health.sinks.jsonl.path": str(path)}
    harness = BoltHarness(JsonlSinkBolt, conf=conf, sources=ALERT_SOURCE)
    harness.process(make_tuple(ALERT, component="threshold", id=1))
    harness.process(
        make_tuple(["\udcff raw", "bad", TS], component="parse", stream="invalid", id=2)
    )
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[0] == {
        "component": "threshold",
        "stream": "default",
        "rule": "bmi > 35",
        "reading_id": 3,
        "ts": TS,
        "reading": ALERT[3],
    }
    assert rows[1]["reason"] == "bad" and rows[1]["stream"] == "invalid"
    assert harness.acked == [1, 2]


def test_jsonl_sink_without_a_path_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    harness = BoltHarness(JsonlSinkBolt, conf=CONF)
    harness.process(make_tuple(ALERT, component="threshold", id=1))
    assert list(tmp_path.iterdir()) == [] and harness.acked == [1]


def test_console_sink_never_writes_to_stdout_under_storm(capsys) -> None:
    # under Storm stdout is the multilang pipe: a stray line there kills the worker
    harness = BoltHarness(
        ConsoleSinkBolt, conf={**CONF, "squall.embedded": False}, sources=ALERT_SOURCE
    )
    harness.process(make_tuple(ALERT, component="threshold", id=1))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ALERT") and "[bmi > 35] id=3" in captured.err

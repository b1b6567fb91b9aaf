"""ParseBolt, BMIBolt and ThresholdBolt in pystorm's real multilang loop (JSON over pipes, as
Storm's ShellBolt drives them): every malformed payload still gives one invalid tuple and one
ack, and the process never exits early."""

from __future__ import annotations

import json

from bolts.bmi import BMIBolt
from bolts.parse import ParseBolt
from bolts.threshold import ThresholdBolt
from health_core.config import HealthConfig
from tests.health.payloads import MALFORMED, SELF_OK
from tests.windows.multilang import context_for, run_loop, tuple_msg

CONF = {"topology.name": "health", **HealthConfig().to_storm_conf()}
SOURCES = {"synthetic": {"default": ["payload"]}}


def test_parse_bolt_over_multilang(tmp_path) -> None:
    # Storm's protocol is JSON: payloads that are bytes arrive as text, so those are left out.
    cases = {name: p for name, p in MALFORMED.items() if not isinstance(p, bytes)}
    messages = [tuple_msg(f"bad-{i}", [p], "synthetic") for i, p in enumerate(cases.values())]
    messages.append(tuple_msg("good", [SELF_OK], "synthetic"))
    replies = run_loop(
        ParseBolt, CONF, context_for(ParseBolt, "parse", SOURCES), messages, tmp_path
    )
    emits = [m for m in replies if m.get("command") == "emit"]
    acks = [m["id"] for m in replies if m.get("command") == "ack"]
    assert acks == [m["id"] for m in messages]
    assert [(e.get("stream"), e["anchors"]) for e in emits[:-1]] == [
        ("invalid", [m["id"]]) for m in messages[:-1]
    ]
    assert all(len(e["tuple"][1]) > 10 for e in emits[:-1])  # a reason each
    assert emits[-1].get("stream", "default") == "default" and emits[-1]["tuple"][0] == 5


def test_bmi_and_threshold_over_multilang(tmp_path) -> None:
    reading = json.loads(SELF_OK) | {"form": "self"}  # 150 cm, 90.5 kg
    fields = {"parse": {"default": ["reading_id", "ts", "reading"]}}
    (bmi_emit,) = [
        m
        for m in run_loop(
            BMIBolt,
            CONF,
            context_for(BMIBolt, "bmi", fields),
            [tuple_msg("r1", [5, reading["ts"], reading], "parse")],
            tmp_path,
        )
        if m.get("command") == "emit"
    ]
    enriched = bmi_emit["tuple"][2]
    assert round(enriched["bmi"], 2) == 40.22 and enriched["bmi_class"] == "obese_III"
    fields = {"bmi": {"default": ["reading_id", "ts", "reading"]}}
    replies = run_loop(
        ThresholdBolt,
        CONF,
        context_for(ThresholdBolt, "threshold", fields),
        [tuple_msg("r1", bmi_emit["tuple"], "bmi")],
        tmp_path,
    )
    alerts = [m["tuple"][0] for m in replies if m.get("command") == "emit"]
    assert alerts == ["weight_kg > 80", "bmi > 35"]
    assert [m["id"] for m in replies if m.get("command") == "ack"] == ["r1"]

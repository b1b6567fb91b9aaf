"""LiveState: what the page and /metrics read, built from the workers' ticks."""

from __future__ import annotations

import json
import threading

from squall.engine.model import build_model
from squall.engine.results import ComponentError
from squall.ui.declare import Feed, Panel, Tap, resolve_panels
from squall.ui.probe import Probed
from squall.ui.state import LiveState
from tests.ui.samples import sample, stream_metrics, task
from topologies.health import HealthTopology

MODEL = build_model(HealthTopology, "health")
PANELS = resolve_panels(HealthTopology, MODEL)


def state(**kw):
    return LiveState.of_model(MODEL, PANELS, **kw)


def probed(records=None, totals=None, lag=None):
    return Probed(records or {}, totals or {}, lag or {})


def component(view, name):
    return next(c for c in view["components"] if c["name"] == name)


def test_the_graph_has_every_component_with_its_parallelism_and_every_subscription():
    graph = state().view()["graph"]
    assert {n["name"]: n["par"] for n in graph["nodes"]} == {
        c.name: c.par for c in MODEL.components.values()
    }
    trend_in = [e for e in graph["edges"] if e["target"] == "trend"]
    assert trend_in == [
        {
            "source": "threshold",
            "stream": "default",
            "target": "trend",
            "grouping": "fields",
            "fields": ["rule"],
        }
    ]


def test_rates_and_capacity_come_from_the_last_two_ticks_of_each_task():
    s = state()
    s.publish(sample(10.0, task("bmi", 1, executed=100, emitted=90, exec_seconds=0.5)))
    s.publish(sample(12.0, task("bmi", 1, executed=300, emitted=250, exec_seconds=1.5)))
    bmi = component(s.view(), "bmi")
    assert bmi["executed"] == 300 and bmi["emitted"] == 250
    assert bmi["executed_per_s"] == 100.0 and bmi["emitted_per_s"] == 80.0
    assert bmi["capacity"] == 0.5  # 1 s of executing in 2 s
    assert bmi["exec_mean_ms"] == 5.0


def test_a_tick_right_after_another_updates_counters_but_not_rates():
    s = state()
    s.publish(sample(10.0, task("bmi", 1, executed=100)))
    s.publish(sample(11.0, task("bmi", 1, executed=200)))
    s.publish(sample(11.1, task("bmi", 1, executed=300)))  # the final sample, after the drain
    bmi = component(s.view(), "bmi")
    assert bmi["executed"] == 300 and bmi["executed_per_s"] == 100.0


def test_the_final_state_shows_rates_averaged_over_the_run_not_over_the_drain():
    s = state()
    s.publish(sample(0.0, task("bmi", 1)))
    s.publish(sample(4.0, task("bmi", 1, executed=400, exec_seconds=0.8)))
    s.publish(sample(5.0, task("bmi", 1, executed=400, exec_seconds=0.8)))  # drained: 0/s
    assert component(s.view(), "bmi")["executed_per_s"] == 0.0
    s.publish(sample(5.5, task("bmi", 1, executed=400, exec_seconds=0.8), final=True))
    bmi = component(s.view(), "bmi")
    assert bmi["executed_per_s"] == round(400 / 5.5, 4) and bmi["capacity"] == round(0.8 / 5.5, 4)


def test_a_component_sums_its_tasks_across_workers_and_its_capacity_is_its_busiest_task():
    s = state(workers=2)
    for at in (0.0, 1.0):
        s.publish(sample(at, task("parse", 4, 0, executed=10 * at, exec_seconds=0.2 * at)))
        s.publish(
            sample(at, task("parse", 5, 1, executed=30 * at, exec_seconds=0.7 * at), worker=1)
        )
    parse = component(s.view(), "parse")
    assert parse["tasks"] == 2 and parse["executed"] == 40
    assert parse["executed_per_s"] == 40.0 and parse["capacity"] == 0.7


def test_deadline_metrics_of_every_worker_are_merged_per_stream():
    s = state(workers=2)
    s.publish(sample(1.0, realtime=stream_metrics("synthetic.default", [0.01] * 9, 0.5)))
    s.publish(sample(1.0, realtime=stream_metrics("synthetic.default", [1.0], 0.5), worker=1))
    (stream,) = s.view()["streams"]
    assert stream["stream"] == "synthetic.default"
    assert stream["completed"] == 10 and stream["misses"] == 1 and stream["miss_ratio"] == 0.1
    assert stream["p50_ms"] == 10.0 and stream["max_ms"] == 1000.0


def test_a_later_tick_of_a_worker_replaces_its_metrics_instead_of_adding_to_them():
    s = state()
    s.publish(sample(1.0, realtime=stream_metrics("synthetic.default", [0.01] * 3, 0.5)))
    s.publish(sample(2.0, realtime=stream_metrics("synthetic.default", [0.01] * 5, 0.5)))
    assert s.view()["streams"][0]["completed"] == 5


def test_trend_records_become_one_line_per_rule_and_a_window_seen_again_keeps_its_newest():
    s = state()
    key = ("trend", "default")
    records = [
        (8, ["bmi > 35", 0, 2000, 3, "rising", 0, 1.0, 0]),
        (8, ["weight_kg > 80", 0, 2000, 1, "rising", 0, 1.0, 0]),
        (8, ["bmi > 35", 2000, 4000, 5, "rising", 3, 1.0, 0]),
        (8, ["bmi > 35", 2000, 4000, 6, "rising", 3, 1.0, 0]),
    ]
    s.publish(sample(1.0, probed=probed({key: records}, {key: 4})))
    chart = next(p for p in s.view()["panels"] if p["kind"] == "chart")
    assert chart["series"] == {"bmi > 35": [[2000, 3], [4000, 6]], "weight_kg > 80": [[2000, 1]]}
    assert chart["total"] == 4


def invalid_feed(view):
    return next(p for p in view["panels"] if p["title"] == "Latest invalid inputs")


def test_invalid_inputs_show_their_reading_id_and_reason_but_not_the_payload():
    s = state()
    raw = '{"id": 71, "age": NaN}'
    records = {("parse", "invalid"): [(4, [raw, "age is not valid JSON", 123])]}
    s.publish(sample(1.0, probed=probed(records, {("parse", "invalid"): 1})))
    feed = invalid_feed(s.view())
    assert feed["fields"] == ["id", "reason", "ts"] and feed["hidden"] == ["raw"]
    (row,) = feed["records"]
    assert row == {
        "component": "parse",
        "stream": "invalid",
        "task": 4,
        "id": "71",
        "reason": "age is not valid JSON",
        "ts": 123,
    }
    assert "NaN" not in json.dumps(s.view())  # the payload is nowhere, /api/state included


def test_the_payload_shows_with_show_payloads():
    s = state(show_payloads=True)
    records = {("bmi", "invalid"): [(1, ['{"id": 5}', "no weight_kg", 9])]}
    s.publish(sample(1.0, probed=probed(records)))
    feed = invalid_feed(s.view())
    assert feed["hidden"] == [] and feed["fields"] == ["id", "reason", "ts", "raw"]
    assert feed["records"][0]["raw"] == '{"id": 5}'


def test_feeds_keep_the_latest_records_newest_first():
    s = state()
    key = ("threshold", "default")
    for i in range(30):
        s.publish(sample(float(i), probed=probed({key: [(7, ["bmi > 35", i, i, {}])]})))
    feed = next(p for p in s.view()["panels"] if p["title"] == "Latest alerts")
    assert [r["reading_id"] for r in feed["records"]] == list(range(29, 9, -1))  # keep=20


def test_errors_are_kept_newest_last_and_bounded():
    s = state()
    errors = [ComponentError("bmi", 1, f"boom {i}") for i in range(25)]
    s.publish(sample(1.0, errors=errors))
    view = s.view()
    assert len(view["errors"]) == 20 and view["errors"][-1]["message"] == "boom 24"


def test_kafka_lag_of_a_worker_is_replaced_at_its_next_tick():
    s = state()
    s.publish(
        sample(
            1.0,
            task("synthetic", 6, spout=True),
            probed=probed(lag={("synthetic", 6, "t", 0): 5, ("synthetic", 6, "t", 1): 2}),
        )
    )
    s.publish(
        sample(
            2.0, task("synthetic", 6, spout=True), probed=probed(lag={("synthetic", 6, "t", 1): 7})
        )
    )
    assert s.view()["lag"] == [
        {"component": "synthetic", "task": 6, "topic": "t", "partition": 1, "lag": 7}
    ]


def test_finish_marks_the_final_state_and_wakes_every_waiting_reader():
    s = state()
    version = s.version
    woke = []
    reader = threading.Thread(target=lambda: woke.append(s.wait_change(version, 10.0)))
    reader.start()
    s.finish({"elapsed_s": 3.0})
    reader.join(5)
    assert woke == [version + 1]
    view = s.view()
    assert view["finished"] and view["summary"] == {"elapsed_s": 3.0}


def test_wait_change_returns_the_same_version_when_nothing_changed():
    s = state()
    assert s.wait_change(s.version, 0.01) == s.version


def test_the_view_is_json_even_with_values_json_cannot_carry():
    s = state(show_payloads=True)
    records = {("threshold", "default"): [(7, ["r", 1, float("nan"), {"when": object()}])]}
    s.publish(sample(1.0, probed=probed(records)))
    json.dumps(s.view(), allow_nan=False)


def test_a_failing_id_of_is_shown_not_raised():
    def bad_id(record):
        return str(1 // 0)

    panel = Panel(
        "feed",
        "x",
        (Tap("parse", "invalid", ("raw", "reason", "ts"), 5),),
        Feed("parse:invalid", fields=("reason",), id_of=bad_id),
    )
    s = LiveState.of_model(MODEL, [panel])
    s.publish(sample(1.0, probed=probed({("parse", "invalid"): [(4, ["x", "r", 1])]})))
    assert s.view()["panels"][0]["records"][0]["id"] == "(id_of failed: ZeroDivisionError)"

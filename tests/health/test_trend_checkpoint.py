"""PaneTrendBolt's checkpoints: serialise, restore, go on; and the records that refuse them.

The crash, as a timeline (``|`` a tick, ``C`` the checkpoint, ``X`` the crash)::

    delivered    a a a a | a a a C a a a a X
    bolt 1       counts everything, emits windows, checkpoints at C, dies at X
    bolt 2       resumes from C (through JSON), then gets: the sourced alerts of the
                 stretch before C again (the catch-up starts before what C counted: its
                 bitmaps count them once) and everything after C (catch-up + spout)

The last record per (rule, window) of bolt 1 then bolt 2 must be the uninterrupted bolt's.
"""

from __future__ import annotations

import json
import re

import pytest

from bolts.threshold import ThresholdBolt
from bolts.trend import PaneTrendBolt
from health_core.config import HealthConfig
from health_core.trend_checkpoint import TaskState, checkpoint_key
from health_core.trend_panes import PaneCounts
from squall.kafka.changelog import (
    CATCHUP_MARK,
    BadCheckpoint,
    Checkpoint,
    check_compacted,
    decode,
    encode,
    resume_point,
)
from squall.testing import BoltHarness, make_tuple
from tests.health.test_trend_panes import FOREIGN, WINDOWS, Delivery, Run, random_stream


def _through_json(state: TaskState, window_ms: int, slide_ms: int) -> TaskState:
    resume, data = decode(encode(state.resume_from_ms, state.to_data()))
    assert resume == state.watermark
    return TaskState.from_data(json.loads(json.dumps(data)), window_ms, slide_ms)


def _ticks(deliveries: list[Delivery]) -> list[int]:
    return [i for i, d in enumerate(deliveries) if d.tick_after]


@pytest.mark.parametrize(("window_ms", "slide_ms"), WINDOWS[:3])
@pytest.mark.parametrize("seed", range(3))
def test_a_restored_bolt_ends_with_the_records_of_an_uninterrupted_one(
    window_ms: int, slide_ms: int, seed: int
) -> None:
    stream = random_stream(seed, n=2500)
    whole = Run(PaneTrendBolt, window_ms, slide_ms)
    whole.send(stream, overload=False)
    whole.close(stream, window_ms)

    ticks = _ticks(stream)
    cut = ticks[len(ticks) // 2] + 1  # the checkpoint: right after a tick, as the bolt takes it
    crash = min(cut + 300, len(stream))
    first = Run(PaneTrendBolt, window_ms, slide_ms)
    first.send(stream[:cut], overload=False)
    state = first.h.bolt.checkpoint(0, 1)
    saved = _through_json(state, window_ms, slide_ms)  # before it changes: the bolt goes on
    first.send(stream[cut:crash], overload=False)  # counted, then lost with the process

    second = Run(PaneTrendBolt, window_ms, slide_ms)
    second.h.bolt.resume(saved)
    again = [d for d in stream[max(0, cut - 400) : cut] if d.source is not None]
    second.send(again + stream[cut:], overload=False)
    second.close(stream, window_ms)

    combined = {**first.records(), **second.records()}
    assert combined == whole.records()
    assert len(whole.records()) > 20


def test_a_snapshot_keeps_counts_bitmaps_foreign_sources_and_the_next_window() -> None:
    panes = PaneCounts(10_000, 2_000)
    panes.add("r", "health.readings:2:70000", 1_000)
    panes.add("r", f"{FOREIGN}1", 1_500, weight=3)
    panes.add("s", None, 3_000)
    panes.advance(2_500)
    restored = PaneCounts.restore(json.loads(json.dumps(panes.snapshot())))
    assert restored.snapshot() == panes.snapshot()
    assert not restored.add("r", "health.readings:2:70000", 1_000)  # counted already
    assert not restored.add("r", f"{FOREIGN}1", 1_500)
    assert restored.add("r", "health.readings:2:70001", 1_000)
    assert restored.watermark == 2_500
    assert restored.dedup_bytes() == panes.dedup_bytes()


def test_other_windows_are_refused_naming_both() -> None:
    state = TaskState(0, 1, PaneCounts(10_000, 2_000))
    with pytest.raises(ValueError) as refused:
        TaskState.from_data(state.to_data(), 20_000, 2_000)
    assert str(refused.value) == (
        "its windows are 10000 ms sliding every 2000 ms, this run's 20000 ms every 2000 ms "
        "(health.windows changed)"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (
            b'{"format": "other/2", "state": {}}',
            "format is 'other/2', expected 'squall.changelog/1'",
        ),
        (b"[1, 2]", "format is 'list', expected 'squall.changelog/1'"),
        (
            b'{"format": "squall.changelog/1", "resume_from_ms": "soon", "state": {}}',
            "resume_from_ms is 'soon', expected epoch ms or null",
        ),
    ],
)
def test_unreadable_records_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        decode(raw)


def test_a_damaged_state_names_the_field() -> None:
    data = TaskState(0, 1, PaneCounts(10_000, 2_000)).to_data()
    data["panes"]["panes"] = [[3_000, {"r": {"count": 1}}]]
    with pytest.raises(ValueError, match=re.escape("pane end 3000 is not a multiple of the pane")):
        TaskState.from_data(data, 10_000, 2_000)
    data["panes"]["panes"] = [[4_000, {"r": {"count": "1"}}]]
    with pytest.raises(
        ValueError, match=re.escape("pane 4000 rule 'r'.count: expected an integer")
    ):
        TaskState.from_data(data, 10_000, 2_000)


def test_a_topic_that_is_not_compacted_is_refused_word_for_word() -> None:
    with pytest.raises(Exception) as refused:
        check_compacted("health.trends.changelog", "delete")
    assert str(refused.value) == (
        "changelog topic 'health.trends.changelog' has cleanup.policy='delete'; a changelog "
        "must be compacted (cleanup.policy=compact), or old checkpoints are deleted by age and "
        "the windows restart from empty. Fix: set cleanup.policy=compact on it (kafka-configs "
        "--alter --entity-type topics --entity-name health.trends.changelog --add-config "
        "cleanup.policy=compact), or delete it and let squall create it compacted, or name "
        "another topic in kafka.trends_changelog_topic"
    )
    check_compacted("t", "compact,delete")  # compacted and aged: still keeps the latest


def test_where_the_catch_up_starts() -> None:
    def good(resume: int | None) -> Checkpoint:
        return Checkpoint("k", resume, {}, 0)

    assert resume_point({}, {}) == 0  # no checkpoint: from the beginning
    assert resume_point({"a": good(5_000), "b": good(3_000)}, {}) == 3_000
    assert resume_point({"a": good(5_000), "b": good(None)}, {}) == 0  # no watermark yet
    assert resume_point({"a": good(5_000)}, {"b": BadCheckpoint("b", 0, b"", "x")}) == 0
    assert checkpoint_key("squall-health", "trend", 1, 2) == "squall-health/trend/1-of-2"


def test_catch_up_alerts_go_to_the_trend_feed_only_with_the_record_s_own_source() -> None:
    harness = BoltHarness(ThresholdBolt, conf=HealthConfig().to_storm_conf())
    reading = {"id": 3, "age": 40, "height_cm": 160, "weight_kg": 96, "bmi": 37.5}
    fields = ["reading_id", "ts", "reading"]
    caught_up = {**reading, "source": CATCHUP_MARK + "health.readings:2:17"}
    emitted = harness.process(make_tuple([3, 1_000, caught_up], fields=fields, id="c"))
    assert [(e.stream, e.values[0], e.values[3]["source"]) for e in emitted] == [
        ("trend_only", "weight_kg > 80", "health.readings:2:17"),
        ("trend_only", "bmi > 35", "health.readings:2:17"),
    ]
    first = {**reading, "source": "health.readings:2:17"}
    emitted = harness.process(make_tuple([3, 1_000, first], fields=fields, id="f"))
    assert {e.stream for e in emitted} == {"default"}

"""WindowedBolt: every timeline scenario through the test-kit harness and through the bolt's
real multilang loop must give the windows of the timeline, and the same emits, anchors, acks."""

from __future__ import annotations

import pytest

from tests.windows.bolt_runs import run_harness, run_multilang
from tests.windows.scenarios import ALL, Scenario


@pytest.mark.parametrize("sc", ALL, ids=lambda sc: sc.name)
def test_scenario_harness_and_multilang_agree(sc: Scenario, tmp_path) -> None:
    harness = run_harness(sc)
    multilang = run_multilang(sc, tmp_path)
    assert harness.windows() == [tuple(w) for w in _as_json(sc.windows)]
    assert tuple(harness.late()) == sc.late
    assert tuple(harness.fails) == sc.failed
    assert multilang == harness


@pytest.mark.parametrize("sc", ALL, ids=lambda sc: sc.name)
def test_window_emits_are_anchored_to_the_window(sc: Scenario) -> None:
    record = run_harness(sc)
    for stream, values, anchors in record.emits:
        if stream == "default":
            assert sorted(anchors) == sorted(values[2]), "anchored to exactly the window's tuples"
        else:
            assert anchors == [values[3][0]], "a late tuple's report is anchored to it"


@pytest.mark.parametrize("sc", ALL, ids=lambda sc: sc.name)
def test_tuples_are_acked_once_they_left_every_window(sc: Scenario, tmp_path) -> None:
    record = run_multilang(sc, tmp_path)
    assert len(record.acks) == len(set(record.acks)), "acked twice"
    for position, (command, payload) in enumerate(record.log):
        if command == "ack" and payload in record.acks:
            later = [p for c, p in record.log[position:] if c == "emit" and len(p) == 5]
            assert not any(payload in window[2] for window in later), f"{payload} acked too early"
    # every tuple of a window that was later expired has been acked
    expired = {name for w in record.windows() for name in w[4]}
    assert expired <= set(record.acks)
    assert set(sc.late) <= set(record.acks)


def _as_json(windows: list) -> list:
    return [[s, e, c, n, x] for s, e, c, n, x in windows]

"""The calibration takes garbage-collection pauses out of a component's longest execute: the
plan's blocking counts one GC pause of its own, so a collection that struck during the longest
window evaluation must not be counted a second time inside it."""

from __future__ import annotations

import pytest

from squall.engine.results import ComponentStats
from squall.plan.topology_cli import _GcPauses


def test_pauses_inside_an_interval_add_up_clipped_to_it() -> None:
    pauses = _GcPauses()
    pauses.pauses = [(1.0, 1.2), (2.0, 2.5), (3.0, 3.1)]
    assert pauses.within(1.9, 0.4) == pytest.approx(0.3)  # [2.0, 2.3] of the second
    assert pauses.within(0.0, 10.0) == pytest.approx(0.8)  # all of them
    assert pauses.within(1.1, 2.0) == pytest.approx(0.1 + 0.5 + 0.1)  # up to 3.1: 3.0-3.1 too
    assert pauses.within(5.0, 1.0) == 0.0


def test_callbacks_keep_the_longer_pauses_and_the_longest() -> None:
    pauses = _GcPauses()
    pauses("start", {})
    pauses("stop", {})  # a young collection: far below a millisecond, not kept
    assert pauses.pauses == [] and 0.0 <= pauses.longest_s < _GcPauses.KEEP_S


def test_merged_stats_keep_the_start_of_the_longest_execute() -> None:
    a = ComponentStats(exec_max_seconds=0.2, exec_max_started=10.0)
    b = ComponentStats(exec_max_seconds=0.5, exec_max_started=20.0)
    a.merge(b)
    assert (a.exec_max_seconds, a.exec_max_started) == (0.5, 20.0)
    a.merge(ComponentStats(exec_max_seconds=0.1, exec_max_started=30.0))
    assert (a.exec_max_seconds, a.exec_max_started) == (0.5, 20.0)

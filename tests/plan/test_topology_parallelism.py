"""The smallest parallelism search and the evaluation period a calibration reads, by hand."""

from __future__ import annotations

from streamparse import Stream

from squall.plan.topology import ComponentCost, Costs, plan
from squall.plan.topology_cli import _evaluation_period_s
from squall.windowed_bolt import WindowedBolt
from squall.windows import Duration, WindowSpec

MS = 1e-3


def spread() -> Costs:
    # as test_topology_model's costs(): spout -> a (1 ms) -> b (par 2, 2 ms, half the
    # readings); overhead 0.5 ms, shared 0.2 / 0.2 / 0.1 ms by visits
    return Costs(
        {
            "spout": ComponentCost("spout", 1, True, 0.0, 1.0),
            "a": ComponentCost("a", 1, False, 1 * MS, 1.0, ("spout",)),
            "b": ComponentCost("b", 2, False, 2 * MS, 0.5, ("a",)),
        },
        overhead_s=0.5 * MS,
        source="by hand",
    )


def test_the_smallest_parallelism_of_the_bottleneck_on_two_workers():
    # 600/s on 2 workers: worker 0 holds a#0 (1.2 ms) and b#1 (0.55): 1.75 ms, U = 1.05 > 1
    p = plan(spread(), 600.0, 2, 2, {"b": 1.0}, batch=10, burst=1)
    assert p.bottleneck_task == "a#0" and p.responses_s["b"] is None
    # a with par 2: a#0 a#1 b#0 b#1 spout#0 dealt -> worker 0: a#0, b#0, spout#0 = 0.6 + 0.55
    # + 0.2 = 1.35 ms (U 0.81), worker 1: a#1, b#1 = 1.15 ms; total 1.5 <= 2 cores.
    # R_b = (10 x 2 ms + path 3.6 ms) / (1 - 0.81) = 124.2 ms <= 1 s: fits
    assert p.smallest_parallelism == ("a", 2)
    assert p.to_json(spread())["smallest_parallelism"] == {"component": "a", "par": 2}


def test_on_one_worker_parallelism_changes_nothing():
    assert plan(spread(), 100.0, 1, 2, {"b": 1.0}, 10, 1).smallest_parallelism == ("a", 1)
    # past the one worker's 400/s no parallelism helps
    assert plan(spread(), 500.0, 1, 2, {"b": 1.0}, 10, 1).smallest_parallelism == ("a", None)


class _Slides(WindowedBolt):
    window = WindowSpec.sliding(Duration.seconds(10), Duration.seconds(2))
    outputs = [Stream(fields=["n"])]

    def process_window(self, window):  # pragma: no cover - never run here
        pass


class _FromConf(WindowedBolt):
    outputs = [Stream(fields=["n"])]

    def window_spec(self, conf):
        return WindowSpec.sliding(Duration.seconds(6), Duration.seconds(conf["slide"]))

    def process_window(self, window):  # pragma: no cover - never run here
        pass


def test_the_evaluation_period_is_the_windows_slide():
    assert _evaluation_period_s(_Slides, {}) == 2.0
    assert _evaluation_period_s(_FromConf, {"slide": 3}) == 3.0
    assert _evaluation_period_s(_FromConf, {}) == 0.0  # cannot tell: the tick stands for it
    assert _evaluation_period_s(int, {}) == 0.0  # not a windowed bolt

"""run_topology's live feed: every worker's samples reach the coordinator, and the final ones
agree with the run's result, and the taps count every record of the declared streams. One
scenario, in one process and in two."""

from __future__ import annotations

import pytest

from squall import run_topology
from squall.engine.live import LiveFeed, LiveSample
from squall.engine.model import build_model
from squall.ui.declare import resolve_panels, taps_of
from squall.ui.probe import UIProbe
from squall.ui.state import LiveState
from topologies.health import HealthTopology

PER_PRODUCER = 100
BOUNDED = {
    "health.producers.count": 4,
    "health.producers.rate.per.producer.hz": 0,
    "health.producers.malformed.fraction": 0.1,
    "health.producers.max.readings.per.producer": PER_PRODUCER,
    "health.sinks.console": False,
    "squall.drain.secs": 0.2,
}


@pytest.mark.parametrize("workers", [1, 2])
def test_final_samples_agree_with_the_result_and_taps_see_every_declared_record(workers):
    model = build_model(HealthTopology, "health")
    panels = resolve_panels(HealthTopology, model)
    state = LiveState.of_model(model, panels, workers=workers)
    samples: list[LiveSample] = []

    def publish(sample: LiveSample) -> None:
        samples.append(sample)
        state.publish(sample)

    result = run_topology(
        HealthTopology,
        conf=BOUNDED,
        seconds=120,
        workers=workers,
        until_idle=True,
        capture=True,
        progress_every_s=0.05,
        live=LiveFeed(publish, UIProbe(taps_of(panels))),
    )
    finals = [s for s in samples if s.final]
    assert sorted(s.worker for s in finals) == list(range(workers))
    executed: dict[str, int] = {}
    for s in finals:
        for t in s.tasks:
            executed[t.component] = executed.get(t.component, 0) + t.executed
    assert executed == {name: stats.executed for name, stats in result.stats.items()}
    view = state.view()
    assert {c["name"]: c["emitted"] for c in view["components"]} == {
        name: stats.emitted for name, stats in result.stats.items()
    }
    totals = {p["title"]: p["total"] for p in view["panels"]}
    assert totals == {
        "Alerts per rule": len(result.output("trend")),
        "Latest alerts": len(result.output("threshold")),
        "Latest invalid inputs": len(result.output("parse", "invalid"))
        + len(result.output("bmi", "invalid")),
    }
    assert totals["Latest invalid inputs"] > 0

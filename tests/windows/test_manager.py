"""The window manager and watermark generator against the timeline scenarios, plus
properties checked against a brute-force model of the window definitions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from squall.windows import WatermarkGenerator, WindowCapacityError, WindowManager
from tests.windows.scenarios import ALL, Scenario, Tick, event


@dataclass
class Run:
    windows: list[tuple] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    log: list[tuple[str, object]] = field(default_factory=list)  # ("window", names) / ("ack", name)
    buffered: list[str] = field(default_factory=list)


def run_scenario(sc: Scenario) -> Run:
    """Drive a manager the way WindowedBolt does."""
    spec = sc.spec
    mgr: WindowManager[str] = WindowManager(spec.length, spec.slide, spec.max_events)
    gen = WatermarkGenerator(spec.lag_ms, sc.sources)
    run = Run()

    def advance(watermark: int | None) -> None:
        for w in mgr.advance(watermark) if watermark is not None else []:
            run.windows.append((w.start, w.end, list(w.current), list(w.new), list(w.expired)))
            run.log.append(("window", list(w.current)))

    for step in sc.steps:
        if isinstance(step, Tick):
            if spec.event_time:
                watermark = gen.compute()
                assert watermark == step.at, f"{sc.name}: watermark {watermark} != {step.at}"
                advance(watermark)
            else:
                advance(step.at)
        else:
            name, ts, source = event(step)
            if spec.event_time and not gen.track(source, ts):
                assert mgr.is_late(ts)
                run.late.append(name)
                run.log.append(("ack", name))
                continue
            try:
                mgr.add(name, ts)
            except WindowCapacityError:
                run.failed.append(name)
                continue
            if not spec.event_time:
                advance(ts)
        run.log += [("ack", name) for name in mgr.take_evicted()]
    run.buffered = mgr.buffered()
    return run


@pytest.mark.parametrize("sc", ALL, ids=lambda sc: sc.name)
def test_timeline(sc: Scenario) -> None:
    run = run_scenario(sc)
    assert run.windows == sc.windows
    assert tuple(run.late) == sc.late
    assert tuple(run.failed) == sc.failed


@pytest.mark.parametrize("sc", ALL, ids=lambda sc: sc.name)
def test_each_tuple_acked_once_after_its_last_window(sc: Scenario) -> None:
    run = run_scenario(sc)
    acks = [name for kind, name in run.log if kind == "ack"]
    assert len(acks) == len(set(acks)), f"acked twice: {acks}"
    # Every tuple is acked, still buffered (waiting for a window) or failed: never lost.
    assert sorted(acks + run.buffered + run.failed) == sorted(sc.arrived)
    for position, (kind, name) in enumerate(run.log):
        if kind == "ack":
            later_windows = [names for k, names in run.log[position:] if k == "window"]
            assert not any(name in names for names in later_windows), f"{name} acked too early"


@pytest.mark.parametrize("sc", ALL, ids=lambda sc: sc.name)
def test_current_is_previous_minus_expired_plus_new(sc: Scenario) -> None:
    previous: list[str] = []
    for _, _, current, new, expired in run_scenario(sc).windows:
        assert sorted(current) == sorted([e for e in previous if e not in expired] + new)
        previous = current

"""A starved loop reads as busy: ``cpu_demand_s`` counts the time a thread waited for a CPU.

Two busy processes pinned to the same core share it: each runs about half the wall time and
waits the other half. The overload check must see the loop as fully busy (demand ~ wall
time), where the CPU time alone says half (and misses would look like an I/O wait).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import pytest

from squall.engine import clock
from squall.engine.clock import cpu_demand_s

SPIN_S = 1.5


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _measure(core: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    os.sched_setaffinity(0, {core})
    wall0, cpu0, demand0 = time.monotonic(), time.process_time(), cpu_demand_s()
    _spin(SPIN_S)
    out.put(
        (
            time.monotonic() - wall0,
            time.process_time() - cpu0,
            cpu_demand_s() - demand0,
        )
    )


def _hog(core: int, seconds: float) -> None:
    os.sched_setaffinity(0, {core})
    _spin(seconds)


def test_a_loop_sharing_its_core_is_busy_all_the_time_though_it_runs_half() -> None:
    ctx = mp.get_context("fork")
    core = min(os.sched_getaffinity(0))
    results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    hog = ctx.Process(target=_hog, args=(core, SPIN_S + 1.0))
    hog.start()
    try:
        probe = ctx.Process(target=_measure, args=(core, results))
        probe.start()
        wall, cpu, demand = results.get(timeout=60)
        probe.join(30)
    finally:
        hog.kill()
        hog.join(30)
    assert cpu < 0.75 * wall, (wall, cpu)  # it really shared the core
    assert demand > 0.9 * wall, (wall, cpu, demand)
    assert demand <= wall * 1.05 + 0.01


def test_without_schedstat_it_is_the_cpu_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "_SCHEDSTAT", "/nonexistent/schedstat")
    before = time.process_time()
    demand = cpu_demand_s()
    after = time.process_time()
    assert before <= demand <= after

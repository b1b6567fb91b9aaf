"""Clocks: the real one, and a manual one tests move by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class MonotonicClock:
    """Seconds from ``time.monotonic``: immune to wall-clock jumps, for timeouts and ticks."""

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to; ``advance`` drives tick tuples and timeouts in tests."""

    __test__ = False

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        self._now += seconds


_SCHEDSTAT = "/proc/thread-self/schedstat"


def cpu_demand_s() -> float:
    """Seconds this process has run, plus the seconds the calling thread waited runnable for a
    CPU (Linux ``schedstat``: its second field, nanoseconds on a run queue).

    The CPU time alone reads a starved loop as an idle one: with the machine's cores taken by
    other processes, a loop that would run flat out gets half a core, its CPU time says 50%,
    and the misses it makes look like an I/O wait that shedding cannot help. Time spent
    runnable but not running is demand all the same. Where ``schedstat`` is missing (not
    Linux, or scheduler statistics off), the CPU time alone.
    """
    try:
        with open(_SCHEDSTAT, "rb") as f:
            waited_ns = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        waited_ns = 0
    return time.process_time() + waited_ns / 1e9

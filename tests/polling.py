"""Waiting in tests for something observable to happen: one polling helper for every suite.

A hang guard, not a speed assertion: when the wait times out, the failure says what was awaited,
for how long, and what the probe returned last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T | None], what: str, timeout_s: float = 120, every_s: float = 1.0
) -> T:
    """Call ``probe`` every ``every_s`` until it returns something truthy, and return that.

    Raises AssertionError naming ``what`` if ``timeout_s`` passes first.
    """
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(every_s)
    raise AssertionError(f"gave up waiting for {what} after {timeout_s:.0f}s (last seen: {last!r})")

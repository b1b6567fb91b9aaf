"""(m,k)-firm job skipping per key: a job may be discarded only if, with it, no k consecutive
jobs of its key hold more than m discards.

The decision for a job depends on the last k - 1 decisions of its key and nothing else: the
window of k jobs that ends with this one is those k - 1 plus itself, and every earlier window
was checked when its own last job was decided. So each key keeps k - 1 bits (1 = discarded)
and their count, updated in O(1) per job: shift the new bit in, subtract the bit that leaves.

A key's first jobs count the jobs before them as run: a window that is not full yet is part of
the first full window, which holds the bound, so it holds too.

Greedy: asked to discard every job, the controller discards m, runs k - m, and so on: every
window of k jobs has exactly m discards, the most the bound allows.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, NamedTuple, TypeVar

Key = TypeVar("Key", bound=Hashable)


class JobCounts(NamedTuple):
    """Jobs seen and jobs discarded, of one key or of all."""

    jobs: int
    discarded: int


class _Window:
    """One key's last k - 1 decisions as bits (newest lowest), and the counts of the key."""

    __slots__ = ("bits", "recent", "jobs", "discarded")

    def __init__(self) -> None:
        self.bits = 0  # bit i: the decision i + 1 jobs ago
        self.recent = 0  # discards among those bits (their popcount, kept rather than counted)
        self.jobs = 0
        self.discarded = 0


class MKFirm(Generic[Key]):
    """At most ``m`` discards in any ``k`` consecutive jobs of each key.

    ``decide(key, want_discard)`` is the one call per job; ``may_discard`` and ``record`` split
    it for a caller that must do something between asking and deciding. Memory: k - 1 bits and
    three counters per key seen.
    """

    def __init__(self, m: int, k: int) -> None:
        if not (_is_int(m) and _is_int(k) and 0 <= m <= k and k >= 1):
            raise ValueError(f"(m, k) = ({m!r}, {k!r}): need integers with 0 <= m <= k, k >= 1")
        self.m = m
        self.k = k
        self._span = k - 1
        self._mask = (1 << self._span) - 1
        self._keys: dict[Key, _Window] = {}
        self._jobs = 0
        self._discarded = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(m={self.m}, k={self.k})"

    def may_discard(self, key: Key) -> bool:
        """Whether discarding the next job of ``key`` keeps every k consecutive jobs to m discards."""
        window = self._keys.get(key)
        return (0 if window is None else window.recent) < self.m

    def record(self, key: Key, discarded: bool) -> None:
        """Count the next job of ``key`` as run or discarded.

        Recording a discard that :meth:`may_discard` refuses raises ValueError: the bound is
        the point of this class, a caller that breaks it is a bug.
        """
        window = self._window(key)
        if discarded and window.recent >= self.m:
            raise ValueError(
                f"{self!r}: discarding this job of {key!r} would make {window.recent + 1} "
                f"discards in {self.k} consecutive jobs; ask may_discard first"
            )
        self._push(window, discarded)

    def decide(self, key: Key, want_discard: bool) -> bool:
        """Record the next job of ``key``: discarded if wanted and allowed. True: discard it."""
        window = self._window(key)
        discard = want_discard and window.recent < self.m
        self._push(window, discard)
        return discard

    def counts(self, key: Key) -> JobCounts:
        """Jobs of ``key`` seen and discarded so far."""
        window = self._keys.get(key)
        return JobCounts(0, 0) if window is None else JobCounts(window.jobs, window.discarded)

    @property
    def total(self) -> JobCounts:
        """Jobs seen and discarded so far, over every key."""
        return JobCounts(self._jobs, self._discarded)

    def __len__(self) -> int:
        """Keys seen."""
        return len(self._keys)

    def _window(self, key: Key) -> _Window:
        window = self._keys.get(key)
        if window is None:
            window = self._keys[key] = _Window()
        return window

    def _push(self, window: _Window, discarded: bool) -> None:
        bit = int(discarded)
        if self._span:  # k = 1 keeps no history: each job is a window of its own
            leaving = (window.bits >> (self._span - 1)) & 1
            window.bits = ((window.bits << 1) | bit) & self._mask
            window.recent += bit - leaving
        window.jobs += 1
        window.discarded += bit
        self._jobs += 1
        self._discarded += bit


class SkipOverDistance(MKFirm[Key]):
    """Koren and Shasha's skip parameter ``s``: at least s - 1 jobs of a key run between two skips.

    That is (1, s)-firm: one discard at most in any s consecutive jobs. s >= 2 (s = 1 would
    allow every job to be skipped, which is no skip parameter but "no deadline").
    """

    def __init__(self, s: int) -> None:
        if not (_is_int(s) and s >= 2):
            raise ValueError(f"skip parameter s = {s!r}: need an integer >= 2")
        super().__init__(1, s)
        self.s = s

    def __repr__(self) -> str:
        return f"SkipOverDistance(s={self.s})"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

"""TrendBolt's approximate mode: a systematic sample of the alerts, with a hard error bound.

Under overload with the ``imprecise`` policy, TrendBolt stores only 1 alert in ``r``
(``windows.approximate_every``) per rule in its windows and acks the others at once; a window's
count is then estimated from the stored alerts' weights. Pure logic: the bolt asks
:meth:`TrendSampler.admit` per alert, stores what it says, and :meth:`TrendSampler.accuracy`
per window.

Why panes, not one counter per rule. With one counter per rule, every r-th alert in arrival
order is kept, and any run of N consecutive alerts holds N/r kept ones give or take one. But a
window is an *event-time* interval: with parallel upstream tasks and allowed disorder its
alerts are not a run of consecutive arrivals, and an adversarial interleaving can put every
kept alert, or none, in one window. So the counter is per (rule, pane), a pane being the
``gcd(window, slide)``-long event-time interval ``(end - pane, end]`` (window bounds are
multiples of it). Every window is a union of whole panes, and a pane's sampled alerts are,
whatever their arrival order, exactly the slots ``0 .. n-1`` of its counter: a complete run.

The bound. In one pane, let ``n`` alerts arrive first-delivered in approximate mode; slots
``k`` with ``k % r == 0`` are kept, so ``ceil(n / r)`` are. Slot 0 weighs ``r - c`` and the
other kept slots ``r``, with ``c = (r - 1) // 2``; the pane's estimate is
``r * ceil(n / r) - c``, and ``r * ceil(n / r) - n`` is in ``[0, r - 1]``, so the pane's error
is in ``[-c, r - 1 - c]``: at most ``r // 2`` either way. (Keeping slot 0 means every pane that
had an alert stores one, so the same windows and rules are reported as in an exact run; the
``- c`` centres the error instead of always over-counting.) Alerts counted exactly (outside
overload) weigh 1 and add no error; a pane can mix both and is still one run of slots, however
often the mode switches within it. Summed over the window's panes that had sampled alerts
(``D`` of them): ``|estimate - exact| <= (r // 2) * D``.

Replays. TrendBolt counts an alert whose reading names its ``source`` once per window. Only a
first delivery takes a slot; a replay (the same rule and source, seen in a live pane) is always
stored and never sampled. Its weight: 0 in its original's pane (the original, or the sample,
already counts it); 1 in another pane (course-form readings take their parse time, so a replay
can land elsewhere), where it is the only copy for windows without the original's pane.
Windows count each source once with its largest weight. If the original was sampled out and
a window holds both panes, the replay's 1 comes on top of the sample's estimate: each such
replay adds 1 to that window's bound, ``X``. So a record's ``error_bound`` is
``(r // 2) * D + X`` (0 when nothing in the window was sampled), and its ``precision`` 1/r.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Admission:
    """What to do with one alert: store it (with ``weight``) or ack it unstored (``store``
    False: sampled out). Nothing is recorded until :meth:`TrendSampler.record`."""

    rule: str
    source: str | None
    pane: int  # the pane's end (epoch ms)
    store: bool
    weight: int
    slot: int | None = None  # the alert's slot in its pane's sample; None: not sampled
    repeats_dropped: int | None = None  # a replay: the pane of its sampled-out original


@dataclass(slots=True)
class _RuleInPane:
    sampled: int = 0  # first deliveries given a slot (n in the module docstring)
    first_seen: list[str] = field(default_factory=list)  # sources first seen here
    # stored alerts whose weight is not 1, by id(); each entry holds the alert itself, so its
    # id cannot be reused by another object while the entry lives
    weights: dict[int, tuple[object, int]] = field(default_factory=dict)
    crossed: list[int] = field(default_factory=list)  # panes of sampled-out originals (X)


class TrendSampler:
    """Per (rule, pane) systematic sampling of 1 alert in ``every``; see the module docstring."""

    def __init__(self, every: int, window_ms: int, slide_ms: int) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"approximate_every must be an int >= 1; got {every!r}")
        if window_ms <= 0 or slide_ms <= 0:
            raise ValueError(f"window and slide must be > 0 ms; got {window_ms}, {slide_ms}")
        self.every = every
        self.pane_ms = math.gcd(window_ms, slide_ms)
        self.first_weight = every - (every - 1) // 2
        self.pane_bound = every // 2  # the most one pane's estimate can be off by
        self._panes: dict[int, dict[str, _RuleInPane]] = {}
        # (rule, source) -> (pane of its first delivery, sampled out?) over live panes
        self._seen: dict[tuple[str, str], tuple[int, bool]] = {}

    @property
    def precision(self) -> float:
        """The precision of a sampled count: the share of alerts kept."""
        return 1.0 / self.every

    def pane_of(self, ts: int) -> int:
        """The end of the pane ``(end - pane_ms, end]`` holding ``ts``."""
        return -(-ts // self.pane_ms) * self.pane_ms

    def admit(self, rule: str, source: str | None, ts: int, sampled: bool) -> Admission:
        """Whether to store this alert, and its weight; ``sampled``: approximate mode."""
        pane = self.pane_of(ts)
        if source is not None:
            seen = self._seen.get((rule, source))
            if seen is not None:
                first_pane, dropped = seen
                if first_pane == pane:
                    return Admission(rule, source, pane, True, 0)
                return Admission(
                    rule, source, pane, True, 1, repeats_dropped=first_pane if dropped else None
                )
        if not sampled:
            return Admission(rule, source, pane, True, 1)
        state = self._panes.get(pane, {}).get(rule)
        slot = state.sampled if state is not None else 0
        if slot % self.every:
            return Admission(rule, source, pane, False, 0, slot=slot)
        weight = self.first_weight if slot == 0 else self.every
        return Admission(rule, source, pane, True, weight, slot=slot)

    def record(self, admission: Admission, item: object) -> None:
        """Commit ``admission`` for ``item``, the alert stored in the window (if stored)."""
        a = admission
        state = self._panes.setdefault(a.pane, {}).setdefault(a.rule, _RuleInPane())
        if a.slot is not None:
            state.sampled += 1
        if a.repeats_dropped is not None:
            state.crossed.append(a.repeats_dropped)
        is_replay = a.source is not None and (a.rule, a.source) in self._seen
        if a.source is not None and not is_replay:
            self._seen[(a.rule, a.source)] = (a.pane, not a.store)
            state.first_seen.append(a.source)
        if a.store and a.weight != 1:
            state.weights[id(item)] = (item, a.weight)

    def weighs_any(self) -> bool:
        """False when every stored alert of the live panes weighs 1 (``weight`` would say 1)."""
        return any(state.weights for rules in self._panes.values() for state in rules.values())

    def weight(self, rule: str, ts: int, item: object) -> int:
        """The weight of a stored alert in window estimates (1 unless admitted otherwise)."""
        state = self._panes.get(self.pane_of(ts), {}).get(rule)
        if state is None:
            return 1
        entry = state.weights.get(id(item))
        return entry[1] if entry is not None and entry[0] is item else 1

    def accuracy(self, start_ms: int, end_ms: int) -> dict[str, tuple[float, int]]:
        """``(precision, error_bound)`` of each rule whose count in ``(start_ms, end_ms]`` is
        an estimate; a rule not in it was counted exactly."""
        sampled_panes: dict[str, int] = {}
        crossed: dict[str, int] = {}
        for pane, rules in self._panes.items():
            if not start_ms < pane <= end_ms:
                continue
            for rule, state in rules.items():
                if state.sampled:
                    sampled_panes[rule] = sampled_panes.get(rule, 0) + 1
                inside = sum(1 for p in state.crossed if start_ms < p <= end_ms)
                if inside:
                    crossed[rule] = crossed.get(rule, 0) + inside
        # X > 0 implies a sampled-out original in the window, so D > 0 for that rule as well
        return {
            rule: (self.precision, self.pane_bound * d + crossed.get(rule, 0))
            for rule, d in sampled_panes.items()
            if self.every > 1
        }

    def expire(self, before_ms: int) -> None:
        """Forget panes ending at or before ``before_ms`` (no window to come can hold them)."""
        for pane in [p for p in self._panes if p <= before_ms]:
            for rule, state in self._panes.pop(pane).items():
                for source in state.first_seen:
                    self._seen.pop((rule, source), None)

    def __len__(self) -> int:
        """Live panes (for tests: the state stays bounded by the window)."""
        return len(self._panes)

"""The remaining cost of a tuple's path, which slack subtracts (issue 11, "time through the tree").

Slack = absolute deadline - now - the estimated cost still ahead of the tuple: the mean execute
time of the component it waits for plus the costliest path after it, from the means measured
so far. The worker's real-time runtime re-estimates it once per overload check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from squall.engine.model import TopologyModel


def downstream(model: TopologyModel) -> dict[str, set[str]]:
    """Component -> the components subscribed to any of its streams."""
    out: dict[str, set[str]] = {}
    for (source, _stream), subs in model.subscribers.items():
        out.setdefault(source, set()).update(s.consumer for s in subs)
    return out


def remaining_costs(
    components: Iterable[str],
    after: Mapping[str, set[str]],
    spent: Mapping[str, float],
    runs: Mapping[str, int],
) -> dict[str, float]:
    """Each component's mean cost (``spent / runs``; 0 before it ran) plus the costliest path
    after it in ``after``. A cycle is cut where it would revisit a component of the path, so
    on a cycle the estimates depend on the order of ``components`` (topologies are acyclic
    in practice; the cut only keeps a cyclic one from recursing forever)."""
    own = {c: (spent[c] / runs[c] if runs.get(c) else 0.0) for c in spent}
    memo: dict[str, float] = {}

    def remaining(c: str, seen: frozenset[str]) -> float:
        if c in memo:
            return memo[c]
        later = [remaining(d, seen | {c}) for d in after.get(c, ()) if d not in seen]
        memo[c] = own.get(c, 0.0) + max(later, default=0.0)
        return memo[c]

    return {c: remaining(c, frozenset()) for c in components}

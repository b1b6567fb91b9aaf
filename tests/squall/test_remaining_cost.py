"""The remaining cost of a tuple's path (what slack subtracts), on a hand-computed graph."""

from __future__ import annotations

import pytest

from squall.engine.remaining_cost import remaining_costs


def test_each_component_adds_its_mean_cost_to_the_costliest_path_after_it() -> None:
    # spout -> a -> b -> d and a -> c -> d, c -> e; d -> a closes a cycle (cut where a path
    # would revisit a component; components visited in the order given). Means: a 2/2 = 1, b 3, c 5, d 0.5; e never ran: 0.
    # d = 0.5 (its way back to a is cut); b = 3 + 0.5; c = 5 + max(0.5, 0); a = 1 + 5.5.
    after = {"spout": {"a"}, "a": {"b", "c"}, "b": {"d"}, "c": {"d", "e"}, "d": {"a"}}
    spent = {"spout": 0.0, "a": 2.0, "b": 3.0, "c": 5.0, "d": 1.0, "e": 0.0}
    runs = {"spout": 0, "a": 2, "b": 1, "c": 1, "d": 2, "e": 0}
    got = remaining_costs(["spout", "a", "b", "c", "d", "e"], after, spent, runs)
    assert got == {
        "spout": pytest.approx(6.5),
        "a": pytest.approx(6.5),
        "b": pytest.approx(3.5),
        "c": pytest.approx(5.5),
        "d": pytest.approx(0.5),
        "e": 0.0,
    }

"""Random small task sets: every analysis agrees with the simulated schedule.

Sets are drawn from a seeded ``random.Random`` (n 1-5, T 2-20, C 1-T, D in [C, T], J = B = 0;
EDF is also checked with D up to 2T), so a failure names a reproducible set. A draw whose hyperperiod exceeds HYPERPERIOD_CAP is
thrown back: the simulation walks a whole hyperperiod, and the cap keeps this file fast while
leaving plenty of non-harmonic periods (lcm up to 2520 covers e.g. {8, 9, 14, 15}).
"""

from __future__ import annotations

import math
import random

import pytest

from squall.plan.analysis import analyse
from squall.plan.edf import density, edf_demand, llf
from squall.plan.fixed_priority import hyperbolic, liu_layland, priority_order, rta
from squall.plan.model import TaskSet, Verdict, task
from squall.plan.simulate import simulate

SETS = 300
HYPERPERIOD_CAP = 2520
S = Verdict.SCHEDULABLE


def random_sets(seed: int, count: int, deadlines: str = "constrained") -> list[TaskSet]:
    """deadlines: "constrained" (D in [C, T]), "implicit" (D = T) or "arbitrary" (D in
    [C, 2T], and U <= 1: past the period the simulation's horizon covers only U <= 1).

    Costs follow UUniFast (Bini & Buttazzo 2005): a target U in [0.6, 1.1] split uniformly
    among the tasks, C_i = u_i T_i rounded into [1, T_i]. Uniform C up to T would mostly
    overload the processor, where every test trivially agrees; this keeps the sets around
    U = 1, where the tests differ, and still includes overload.
    """
    rng = random.Random(seed)
    sets: list[TaskSet] = []
    while len(sets) < count:
        n = rng.randint(1, 5)
        periods = [rng.randint(2, 20) for _ in range(n)]
        if math.lcm(*periods) > HYPERPERIOD_CAP:
            continue
        tasks = []
        for i, (t, u) in enumerate(
            zip(periods, uunifast(rng, n, rng.uniform(0.6, 1.1)), strict=True)
        ):
            c = min(t, max(1, round(u * t)))
            d = {
                "implicit": t,
                "constrained": rng.randint(c, t),
                "arbitrary": rng.randint(c, 2 * t),
            }
            tasks.append(task(f"t{i}", c, t, d[deadlines]))
        ts = TaskSet(tuple(tasks))
        if deadlines != "arbitrary" or ts.U <= 1:
            sets.append(ts)
    return sets


def uunifast(rng: random.Random, n: int, total: float) -> list[float]:
    shares, left = [], total
    for i in range(1, n):
        nxt = left * rng.random() ** (1 / (n - i))
        shares.append(left - nxt)
        left = nxt
    return [*shares, left]


def describe(ts: TaskSet) -> str:
    return ", ".join(f"{t.name}(C={t.C}, T={t.T}, D={t.D}, J={t.J})" for t in ts.tasks)


CONSTRAINED = random_sets(seed=20240601, count=SETS)
IMPLICIT = random_sets(seed=7, count=SETS // 2, deadlines="implicit")
ARBITRARY = random_sets(seed=11, count=SETS // 2, deadlines="arbitrary")


@pytest.mark.parametrize("policy", ["rm", "dm"])
def test_rta_equals_the_fixed_priority_simulation(policy):
    for ts in CONSTRAINED + IMPLICIT:
        result = rta(ts, policy)
        order, _ = priority_order(ts, policy)
        sim = simulate(ts, [t.name for t in order])
        assert sim.schedulable == (result.verdict is S), describe(ts)
        assert result.response_times is not None
        if sim.schedulable:
            assert result.response_times == sim.worst_response, describe(ts)
        else:
            # the first miss is a first job (critical instant), whose RTA diverged
            assert sim.first_miss is not None and sim.first_miss.job == 0, describe(ts)
            assert result.response_times[sim.first_miss.task] is None, describe(ts)
        # tasks above every task that misses are untouched by the misses: R_i is exact
        for t in order:
            if result.response_times[t.name] is None:
                break
            assert result.response_times[t.name] == sim.worst_response[t.name], describe(ts)


def test_edf_demand_equals_the_edf_simulation():
    overloaded = 0
    for ts in CONSTRAINED + IMPLICIT + ARBITRARY:
        result = edf_demand(ts)
        sim = simulate(ts, "edf")
        assert sim.schedulable == (result.verdict is S), describe(ts)
        expected = None if sim.first_miss is None else sim.first_miss.time
        assert result.first_violation == expected, describe(ts)
        assert llf(ts).verdict is result.verdict
        overloaded += ts.U > 1
    assert overloaded > 0  # the draw includes U > 1, where a violation must still be found


def test_edf_demand_with_jitter_is_the_demand_of_deadlines_d_minus_j():
    """h(t) with jitter J is the demand of jobs due D - J after a synchronous release, a set
    the simulator can run: the two verdicts agree, and so do the earliest violations."""
    rng = random.Random(3)
    for ts in CONSTRAINED[:150]:
        jittered = TaskSet(
            tuple(task(t.name, t.C, t.T, t.D, J=rng.randint(0, int(t.D - t.C))) for t in ts.tasks)
        )
        shortened = TaskSet(tuple(task(t.name, t.C, t.T, t.D - t.J) for t in jittered.tasks))
        result = edf_demand(jittered)
        sim = simulate(shortened, "edf")
        assert (result.verdict is S) == sim.schedulable, describe(jittered)
        expected = None if sim.first_miss is None else sim.first_miss.time
        assert result.first_violation == expected, describe(jittered)


def test_sufficient_tests_never_accept_a_set_that_misses():
    accepted = {"density": 0, "liu_layland": 0, "hyperbolic": 0}
    for ts in CONSTRAINED + IMPLICIT + ARBITRARY:
        if density(ts).verdict is S:
            accepted["density"] += 1
            assert simulate(ts, "edf").schedulable, describe(ts)
        ll, hb = liu_layland(ts).verdict, hyperbolic(ts).verdict
        if S in (ll, hb):
            rm = [t.name for t in priority_order(ts, "rm")[0]]
            assert simulate(ts, rm).schedulable, describe(ts)
            accepted["liu_layland"] += ll is S
            accepted["hyperbolic"] += hb is S
        if ll is S:
            assert hb is S, describe(ts)  # the hyperbolic bound dominates Liu & Layland
    assert all(count > 0 for count in accepted.values()), accepted


def test_analyse_gives_a_verdict_for_every_test():
    for ts in CONSTRAINED[:50]:
        names = [(r.name, r.policy) for r in analyse(ts)]
        assert names == [
            ("liu_layland", "rm"),
            ("hyperbolic", "rm"),
            ("rta", "rm"),
            ("rta", "dm"),
            ("edf_utilization", "edf"),
            ("edf_demand", "edf"),
            ("density", "edf"),
            ("llf", "llf"),
        ]

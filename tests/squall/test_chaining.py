"""Operator chaining (squall.engine.chaining): which bolts chain, and that a chain keeps Storm's
semantics — the fidelity suite (test_fidelity.py) runs every scenario with chaining on and off;
these check what is particular to a chain."""

from __future__ import annotations

import time

import pytest
from streamparse import Bolt, Grouping, Topology

from squall import run_topology
from squall.engine.chaining import chainable
from squall.engine.model import build_model
from squall.engine.run_settings import RunSettings
from squall.realtime.scheduling import make_scheduler
from tests.squall import scenarios as sc

N = sc.N
EVENTS: list[tuple[str, int]] = []  # (what happened, n), in order, across components
RUNNING: set[str] = set()  # components inside an execute right now


class Numbers(sc.NumberSpout):
    """0..N-1, reliably; a failed number is replayed once; every tree's end is noted."""

    replay = True

    def ack(self, tup_id):
        EVENTS.append(("tree acked", tup_id))

    def fail(self, tup_id):
        EVENTS.append(("tree failed", tup_id))
        super().fail(tup_id)


class First(Bolt):
    outputs = ["n"]

    def process(self, tup):
        RUNNING.add("first")
        try:
            self.emit([tup.values[0]])
        finally:
            RUNNING.discard("first")


class Second(Bolt):
    """Notes whether First was mid-execute when it ran; fails n % 7 == 3 on first sight."""

    outputs = ["n", "inside_first"]

    def initialize(self, conf, ctx):
        self.seen: set[int] = set()

    def process(self, tup):
        n = tup.values[0]
        if n % 7 == 3 and n not in self.seen:
            self.seen.add(n)
            raise ValueError(f"reading {n} refused once")
        self.emit([n, "first" in RUNNING])


class Holder(Bolt):
    """Holds every tuple and acks them all at once when the last number has come (a window)."""

    outputs = ["n"]
    auto_ack = False

    def initialize(self, conf, ctx):
        self.held: list = []

    def process(self, tup):
        self.held.append(tup)
        if len({t.values[0] for t in self.held}) == N:
            for t in self.held:
                EVENTS.append(("holder acked", t.values[0]))
                self.ack(t)
            self.held = []


class Spinner(Bolt):
    outputs = ["n"]

    def process(self, tup):
        end = time.perf_counter() + 0.002  # a costly bolt: 2 ms of CPU per tuple
        while time.perf_counter() < end:
            pass


class Chain(Topology):
    source = Numbers.spec()
    first = First.spec(inputs=[source])
    second = Second.spec(inputs=[first])
    holder = Holder.spec(inputs=[second])


class ChainByField(Topology):
    """As Chain, but Holder reads by a fields grouping: the worker's general emit path."""

    source = Numbers.spec()
    first = First.spec(inputs=[source])
    second = Second.spec(inputs=[first])
    holder = Holder.spec(inputs={second: Grouping.fields("n")})


class Costly(Topology):
    source = Numbers.spec()
    first = First.spec(inputs=[source])
    spinner = Spinner.spec(inputs=[first])


def _run(topology, chaining: bool, conf: dict | None = None, **kw):
    EVENTS.clear()
    conf = {**(conf or {}), "squall.chaining": chaining, "topology.message.timeout.secs": 30}
    return run_topology(topology, conf, capture=True, until_idle=True, **kw)


@pytest.mark.parametrize("chaining", [True, False])
def test_a_chained_bolt_runs_inside_its_emitter_and_only_then(chaining):
    result = _run(Chain, chaining)
    inside = {flag for _, flag in result.output("second")}
    assert inside == {chaining}
    assert result.chaining["second"] is None if chaining else result.chaining["second"]


@pytest.mark.parametrize("chaining", [True, False])
def test_an_exception_in_a_chained_bolt_fails_only_its_tree_which_is_replayed(chaining):
    result = _run(Chain, chaining)
    refused = [n for n in range(N) if n % 7 == 3]
    assert sorted(n for what, n in EVENTS if what == "tree failed") == refused
    assert sorted(n for what, n in EVENTS if what == "tree acked") == list(range(N))
    assert len(result.errors) == len(refused)
    # the emitter went on after each exception below it: every number came through once
    assert sorted(n for n, _ in result.output("second")) == list(range(N))


@pytest.mark.parametrize("chaining", [True, False])
@pytest.mark.parametrize("topology", [Chain, ChainByField], ids=["emit-plan", "general-path"])
def test_a_tree_held_by_a_chained_bolt_stays_open_until_that_bolt_acks(topology, chaining):
    # The chain leaves a tuple's edge out while its task acks it within the emitter's execute;
    # one the task holds must still keep its tree open: no tree completes before Holder acks.
    _run(topology, chaining)
    order = {(what, n): i for i, (what, n) in enumerate(EVENTS)}
    for n in range(N):
        assert order[("tree acked", n)] > order[("holder acked", n)], n


@pytest.mark.parametrize("scheduler", ["fifo", "edf"])
def test_a_chained_bolt_s_execute_time_is_its_own(scheduler):
    # under edf First is a scheduled job (it reads the spout) and Spinner runs inside it
    result = _run(Costly, True, conf={"squall.scheduler": scheduler})
    assert result.chaining["spinner"] is None
    first, spinner = result.stats["first"], result.stats["spinner"]
    assert spinner.exec_seconds >= N * 0.002
    # First's execute contains Spinner's (inline), but only its own part is counted
    assert first.exec_seconds < spinner.exec_seconds / 10
    assert first.exec_max_seconds < 0.002


def _reasons(conf: dict, local: set[int] | None = None) -> dict[str, str | None]:
    model = build_model(Chain)
    settings = RunSettings.from_conf(conf)
    scheduler = None if settings.scheduler == "fifo" else make_scheduler(settings.scheduler)
    tasks = set(model.task_component) if local is None else local
    return {
        name: chainable(model, name, tasks, settings, scheduler)
        for name in ("first", "second", "holder")
    }


def test_which_bolts_chain_and_why_not():
    assert _reasons({}) == {"first": None, "second": None, "holder": None}
    off = _reasons({"squall.chaining": False})
    assert set(off.values()) == {"squall.chaining is false"}
    # the runner's own switch: queued here, while Storm's fusion still reads squall.chaining
    runner_off = _reasons({"squall.runner.chaining": False})
    assert set(runner_off.values()) == {"squall.runner.chaining is false"}
    both_off = _reasons({"squall.chaining": False, "squall.runner.chaining": False})
    assert set(both_off.values()) == {"squall.chaining is false"}
    # under a deadline scheduler a reading is a job: what reads a spout stays queued, and the
    # chain below it is one scheduling unit
    assert _reasons({"squall.scheduler": "edf"}) == {
        "first": "it reads spout(s) ['source']: under squall.scheduler 'edf' each of their "
        "tuples is a job the scheduler picks",
        "second": None,
        "holder": None,
    }
    # a worker holding all but First's task: Second's source lives elsewhere, Holder chains
    model = build_model(Chain)
    first_task = model.components["first"].task_ids[0]
    split = _reasons({}, set(model.task_component) - {first_task})
    assert split["second"] == f"'first' has task(s) [{first_task}] in another worker"
    assert split["holder"] is None


def test_the_summary_says_what_is_chained():
    table = _run(Chain, True).summary_table()
    assert "chained (run inside their emitter's execute): first, holder, second" in table
    assert "not chained" not in table


def test_with_chaining_off_the_summary_says_so_once():
    table = _run(Chain, False).summary_table()
    assert table.count("not chained") == 1
    assert "not chained: squall.chaining is false" in table


@pytest.mark.parametrize("acking", [True, False])
def test_the_health_workload_gives_the_hand_loop_s_outputs_chained_or_not(acking):
    # The benchmark's fixed-seed health workload: its hand loop (no framework) is the oracle.
    from bench.health_workload import (
        Workload,
        hand_loop,
        health_topology,
        reset_tally,
        tally_outcome,
    )

    work = Workload(4_000, keys=100, window_s=10.0)
    _, expected = hand_loop(work)
    outcomes = {}
    for chaining in (True, False):
        conf = {**work.storm_conf(), "squall.drain.secs": 1.0, "squall.chaining": chaining}
        if not acking:
            conf["topology.acker.executors"] = 0
        reset_tally()
        result = run_topology(health_topology(1), conf, until_idle=True)
        assert not result.errors
        outcomes[chaining] = tally_outcome()[0]
        assert (result.chaining["bmi"] is None) == chaining
    assert outcomes[True] == outcomes[False]
    assert (outcomes[True].alerts, outcomes[True].invalid) == (expected.alerts, expected.invalid)
    if acking:  # acking off: no tree holds the run open for the last windows to close
        assert outcomes[True].trends == expected.trends
        assert outcomes[True].trend_total == expected.trend_total


@pytest.mark.parametrize("scheduler", ["edf", "llf", "dm"])
def test_under_a_scheduler_a_chain_is_one_scheduling_unit_with_the_same_outcome(scheduler):
    conf = {"squall.scheduler": scheduler}
    outcomes = {}
    for chaining in (True, False):
        EVENTS.clear()
        result = run_topology(
            Chain,
            {**conf, "squall.chaining": chaining, "topology.message.timeout.secs": 30},
            capture=True,
            until_idle=True,
        )
        outcomes[chaining] = (
            sorted(n for n, _ in result.output("second")),
            sorted(n for what, n in EVENTS if what == "tree acked"),
            sorted(n for what, n in EVENTS if what == "tree failed"),
        )
        # First reads the spout: each reading is a job; Second and Holder run inside it
        assert result.chaining == (
            {"first": result.chaining["first"], "second": None, "holder": None}
            if chaining
            else dict.fromkeys(("first", "second", "holder"), "squall.chaining is false")
        )
        assert result.chaining["first"] is not None
    assert outcomes[True] == outcomes[False]
    assert outcomes[True][1] == list(range(N))

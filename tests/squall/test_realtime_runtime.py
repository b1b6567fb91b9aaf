"""The real-time runtime wired into the engine: tree deadlines, the worker-wide scheduler,
hopeless-job discard, overload, metrics. Deterministic: bolts spend time by moving the manual
clock, and every expected number below is worked out by hand in the test's comments."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import pytest
from streamparse import Bolt, Spout, Stream, Topology

from squall.errors import ConfigError
from squall.realtime.context import realtime_of, set_release
from squall.testing import ManualClock, TopologyDriver

MS = 0.001


class ReleasedSpout(Spout):
    """Emits ``[job]`` rows from a class-level feed, each with its release time (seconds)."""

    outputs = [Stream(fields=["job"], name="default")]
    feed: ClassVar[deque[tuple[Any, float | None]]]

    def next_tuple(self) -> None:
        if self.feed:
            job, release = self.feed.popleft()
            if release is not None:
                set_release(self, release)
            self.emit([job], tup_id=job)


class Work(Bolt):
    """Spends ``cost`` seconds of the shared manual clock per tuple and logs what ran when."""

    outputs: ClassVar[list[Stream]] = []
    clock_: ClassVar[ManualClock]
    cost: ClassVar[float]
    log: ClassVar[list[tuple[str, Any, float]]]

    def process(self, tup: Any) -> None:
        self.clock_.advance(self.cost)
        self.log.append((self.component_name, tup.values[0], self.clock_.now()))


def topology(costs: dict[str, float], spouts: tuple[str, ...] = ("jobs",)) -> type[Topology]:
    """``spouts`` each feeding their own ``Work`` bolt named ``<spout>_work``."""
    clock, log = ManualClock(), []
    attrs: dict[str, Any] = {}
    feeds = {}
    for name in spouts:
        feeds[name] = deque()
        spout_cls = type(f"{name}_spout", (ReleasedSpout,), {"feed": feeds[name]})
        bolt_cls = type(f"{name}_work", (Work,), {"clock_": clock, "cost": costs[name], "log": log})
        attrs[name] = spout_cls.spec(par=1)
        attrs[f"{name}_work"] = bolt_cls.spec(inputs=[attrs[name]], par=1)
    topo = type("RT", (Topology,), attrs)
    topo.clock, topo.log, topo.feeds = clock, log, feeds  # type: ignore[attr-defined]
    return topo


def declare(component: str, deadline_ms: float, criticality: str, **more: Any) -> dict[str, Any]:
    prefix = f"squall.realtime.{component}.default."
    conf = {prefix + "deadline.ms": deadline_ms, prefix + "criticality": criticality}
    conf.update({prefix + k: v for k, v in more.items()})
    return conf


def driver(topo: type[Topology], conf: dict[str, Any]) -> TopologyDriver:
    conf = {"squall.overload.check.secs": 0.001, **conf}
    return TopologyDriver(topo, conf, clock=topo.clock, replace_spouts=[])  # type: ignore[attr-defined]


def warm_up(topo: Any, d: TopologyDriver, spout: str = "jobs") -> None:
    """One job well within its deadline, so the runtime has measured the bolt's cost."""
    topo.feeds[spout].append(("warm", topo.clock.now()))
    d.run()
    d.advance(0.01)  # past a check: the remaining-cost estimates now hold the measured cost


def domino_case(policies: str) -> tuple[Any, TopologyDriver]:
    # One bolt, 10 ms per job, D = 100 ms. At T0 three jobs arrive, released so that their
    # absolute deadlines are T0 + 9, T0 + 15 and T0 + 29 ms. A (due in 9 ms, needs 10) is
    # hopeless from the start.
    topo = topology({"jobs": 10 * MS})
    d = driver(
        topo,
        {
            "squall.scheduler": "edf",
            **declare("jobs", 100, "firm", mk="1,2", policies=policies),
        },
    )
    warm_up(topo, d)
    t0 = topo.clock.now()
    for job, due_ms in (("A", 9), ("B", 15), ("C", 29)):
        topo.feeds["jobs"].append((job, t0 + due_ms * MS - 100 * MS))
    topo.t0 = t0
    d.run()
    return topo, d


def test_plain_edf_suffers_the_domino_effect():
    # EDF runs A, B, C in deadline order, finishing at T0 + 10, 20, 30 ms: A late by 1 ms,
    # B by 5 ms, C by 1 ms. Every job misses because the hopeless one ran first.
    topo, d = domino_case("late")
    ran = [(job, round((t - topo.t0) / MS, 6)) for _, job, t in topo.log if job != "warm"]
    assert ran == [("A", 10), ("B", 20), ("C", 30)]
    m = d.result.realtime.streams["jobs.default"]
    assert (m.completed, m.misses) == (4, 3)  # the warm-up job and A, B, C
    assert m.lateness_max_s == pytest.approx(5 * MS)
    assert m.lateness_sum_s == pytest.approx(7 * MS)
    assert m.shed["discard"] == 0
    # slack at dispatch, one job in 8 sampled: the warm-up job's, dispatched at its release
    # with no cost measured yet: D - 0 - 0 = 100 ms
    assert (m.slack.count, m.slack.max) == (1, pytest.approx(100 * MS))


def test_edf_with_discard_drops_the_hopeless_job_and_meets_the_rest():
    # A is dropped unrun (acked as shed); B finishes at T0 + 10 (due 15), C at T0 + 20 (due 29).
    topo, d = domino_case("discard")
    ran = [(job, round((t - topo.t0) / MS, 6)) for _, job, t in topo.log if job != "warm"]
    assert ran == [("B", 10), ("C", 20)]
    m = d.result.realtime.streams["jobs.default"]
    assert (m.completed, m.misses, m.shed["discard"]) == (3, 0, 1)
    # shed means done, never failed: the spout is told ack, so nothing is replayed
    assert sorted(d.acked("jobs")) == ["A", "B", "C", "warm"]
    assert d.failed("jobs") == []


class WeighingSpout(ReleasedSpout):
    """As ReleasedSpout, each job with a key: asks ``keep_weight`` and emits ``[job, weight]``
    (the discard policy's per-key weight, as the ward's spouts do)."""

    outputs = [Stream(fields=["job", "weight"], name="default")]
    feed: ClassVar[deque[tuple[Any, float, str]]]

    def next_tuple(self) -> None:
        if self.feed:
            job, release, key = self.feed.popleft()
            weight = realtime_of(self).keep_weight("default", key)
            if not weight:
                return  # discarded at the spout: done, never emitted
            set_release(self, release)
            self.emit([job, weight], tup_id=job)


def test_a_job_dropped_as_hopeless_hands_its_weight_to_its_key_s_next_kept_job():
    # One bolt, 10 ms a job, D = 100 ms, firm with discard and (m,k) = (0,1), so the spout
    # discards nothing: a kept job stands for 1 unless weight was handed on to it.
    # Round 1 at T0: A (key p, due T0 + 9: hopeless), B (q), C (p); C is emitted before A is
    # dropped, so C stands for itself only. Round 2: D (p, hopeless) carries A's 1 + its own
    # = 2 and is dropped too; E (q). Round 3: F (p) stands for A, D and itself = 3; G (q) for
    # itself. Without the hand-on every weight would be 1 and A and D would count nowhere:
    # the weights of the jobs that ran add up to every job fed.
    clock, log = ManualClock(), []
    feed: deque[tuple[Any, float, str]] = deque()

    class Weighed(Bolt):
        outputs: ClassVar[list[Stream]] = []

        def process(self, tup: Any) -> None:
            clock.advance(10 * MS)
            log.append(tuple(tup.values))

    spout = type("weighing", (WeighingSpout,), {"feed": feed}).spec(par=1)
    topo = type("RTW", (Topology,), {"jobs": spout, "work": Weighed.spec(inputs=[spout])})
    conf = {"squall.scheduler": "edf", **declare("jobs", 100, "firm", mk="0,1", policies="discard")}
    d = TopologyDriver(topo, {"squall.overload.check.secs": 0.001, **conf}, clock=clock,
                       replace_spouts=[])  # fmt: skip
    feed.append(("warm", clock.now(), "w"))
    d.run()
    d.advance(0.01)  # past a check: the bolt's cost (10 ms) is measured

    def round_(*jobs: tuple[str, float, str]) -> None:
        t0 = clock.now()
        feed.extend((job, t0 + due_ms * MS - 100 * MS, key) for job, due_ms, key in jobs)
        d.run()

    round_(("A", 9, "p"), ("B", 50, "q"), ("C", 60, "p"))
    round_(("D", 5, "p"), ("E", 50, "q"))
    round_(("F", 50, "p"), ("G", 60, "q"))
    assert log == [("warm", 1), ("B", 1), ("C", 1), ("E", 1), ("F", 3), ("G", 1)]
    assert sum(w for job, w in log if job != "warm") == len("ABCDEFG")
    m = d.result.realtime.streams["jobs.default"]
    assert m.shed["discard"] == 2  # A and D, each counted once, as shed
    # shed means done: acked, never failed or replayed
    assert sorted(d.acked("jobs")) == ["A", "B", "C", "D", "E", "F", "G", "warm"]
    assert d.failed("jobs") == []


def test_a_hard_job_is_never_shed_even_when_hopeless():
    topo = topology({"jobs": 10 * MS})
    d = driver(topo, {"squall.scheduler": "edf", **declare("jobs", 100, "hard")})
    warm_up(topo, d)
    t0 = topo.clock.now()
    topo.feeds["jobs"].append(("A", t0 + 9 * MS - 100 * MS))  # hopeless: due in 9, needs 10
    d.run()
    assert [job for _, job, _ in topo.log] == ["warm", "A"]
    m = d.result.realtime.streams["jobs.default"]
    assert (m.misses, sum(m.shed.values())) == (1, 0)
    assert m.lateness_max_s == pytest.approx(1 * MS)


@pytest.mark.parametrize(
    ("scheduler", "order"),
    [
        # routine jobs were queued first, in another task: fifo visits routine_work's inbox
        # in its turn; edf and dm run the critical jobs (due sooner) first, across tasks
        ("fifo", None),
        ("edf", ["c1", "c2", "r1", "r2"]),
        ("dm", ["c1", "c2", "r1", "r2"]),
    ],
)
def test_the_earliest_deadline_anywhere_in_the_worker_runs_next(scheduler, order):
    topo = topology({"routine": 1 * MS, "critical": 1 * MS}, spouts=("routine", "critical"))
    conf = {
        "squall.scheduler": scheduler,
        **declare("routine", 1000, "firm", mk="3,4", policies="discard"),
        **declare("critical", 50, "hard"),
    }
    d = driver(topo, conf)
    now = topo.clock.now()
    topo.feeds["routine"].extend([("r1", now), ("r2", now)])
    topo.feeds["critical"].extend([("c1", now), ("c2", now)])
    d.run()
    ran = [job for _, job, _ in topo.log]
    assert sorted(ran) == ["c1", "c2", "r1", "r2"]
    if order is not None:
        assert ran == order
    m = d.result.realtime
    assert m.streams["critical.default"].completed == 2
    assert m.streams["routine.default"].completed == 2


def test_release_time_counts_from_the_spout_s_release_not_the_emit():
    # released 30 ms before it was emitted; 10 ms of work: 40 ms end to end, D = 35 ms: late
    topo = topology({"jobs": 10 * MS})
    d = driver(topo, declare("jobs", 35, "soft"))
    now = topo.clock.now()
    topo.feeds["jobs"].append(("A", now - 30 * MS))
    d.run()
    m = d.result.realtime.streams["jobs.default"]
    assert m.latency.max == pytest.approx(40 * MS)
    assert (m.misses, m.lateness_max_s) == (1, pytest.approx(5 * MS))


def test_overload_has_hysteresis():
    topo = topology({"jobs": 10 * MS})
    conf = {
        "squall.scheduler": "edf",
        "squall.overload.hold.secs": 1.0,
        **declare("jobs", 5, "soft"),  # every 10 ms job misses a 5 ms deadline
    }
    d = driver(topo, conf)
    seen = []
    ctx = None

    def job(name: str) -> None:
        topo.feeds["jobs"].append((name, topo.clock.now()))
        d.run()
        d.advance(0.002)  # past a check
        seen.append(ctx.overloaded)

    d.run()
    ctx = realtime_of(d._worker.executors[d.model.components["jobs"].task_ids[0]].instance)
    assert ctx.overloaded is False
    job("late-1")  # a miss: overload
    for _ in range(3):  # calm, but for less than the hold time: still overloaded
        d.advance(0.2)
        seen.append(ctx.overloaded)
    d.advance(1.0)  # calm for longer than the hold time: over
    seen.append(ctx.overloaded)
    assert seen == [True, True, True, True, False]
    assert d.result.overload_episodes == 1


def test_the_summary_reports_each_stream_s_deadlines():
    topo, d = domino_case("discard")
    table = d.result.summary_table()
    assert "jobs.default" in table
    assert "misses 0/3 (0%)" in table and "shed 1 (discard 1)" in table


def test_a_deadline_on_an_undeclared_stream_is_refused_before_any_tuple():
    topo = topology({"jobs": 1 * MS})
    with pytest.raises(
        ConfigError,
        match=r"squall\.realtime\.jbos\.default\.\w+ names stream jbos\.default, "
        r"which the topology does not declare; did you mean 'jobs\.default'",
    ):
        driver(topo, declare("jbos", 50, "hard"))


def test_a_hard_stream_given_discard_is_refused():
    topo = topology({"jobs": 1 * MS})
    with pytest.raises(ConfigError, match="hard streams are never shed"):
        driver(topo, declare("jobs", 50, "hard", policies="discard"))


def test_multi_process_runs_carry_deadlines_across_workers():
    from squall import run_topology
    from tests.squall import scenarios as sc

    conf = {
        "squall.scheduler": "edf",
        "squall.realtime.words.default.deadline.ms": 10_000,
        "squall.realtime.words.default.criticality": "soft",
    }
    result = run_topology(sc.WordCount, conf, workers=2, until_idle=True, seconds=60)
    acked = len(sc.WORDS)
    m = result.realtime.streams["words.default"]
    assert m.completed == acked and m.completed > 0
    assert m.misses == 0


def _runtime(conf: dict[str, Any]) -> Any:
    from squall.engine.model import build_model
    from squall.engine.realtime_runtime import RealtimeRuntime, load_deadlines
    from squall.engine.run_settings import RunSettings

    topo = topology({"routine": 1 * MS, "critical": 1 * MS}, spouts=("routine", "critical"))
    model = build_model(topo)
    settings = RunSettings.from_conf(conf)
    return RealtimeRuntime(model, settings, load_deadlines(model, conf), topo.clock)


class _Spout:
    def __init__(self, name: str) -> None:
        self.name, self.rate_credit = name, 0.0


def test_the_rate_policy_asks_a_spout_on_its_share_of_turns_only_in_overload():
    rt = _runtime(
        {
            **declare("routine", 1000, "firm", mk="3,4", policies="discard,rate"),
            **declare("critical", 50, "hard"),
        }
    )
    routine, critical = _Spout("routine"), _Spout("critical")
    turns = lambda ex: sum(rt.spout_turn(ex, False, False) for _ in range(8))  # noqa: E731
    assert (turns(routine), turns(critical)) == (8, 8)  # no overload: every turn
    rt.overload.active, rt.rate_factor = True, 0.25
    assert (turns(routine), turns(critical)) == (2, 8)  # a quarter of the turns; hard: all


def test_back_pressure_is_per_class_a_hard_stream_s_spout_goes_on():
    rt = _runtime(
        {
            **declare("routine", 1000, "firm", mk="3,4", policies="discard"),
            **declare("critical", 50, "hard"),
        }
    )
    # paused by another class's full queue: the hard stream's spout is still asked
    assert rt.spout_turn(_Spout("critical"), True, True) is True
    assert rt.spout_turn(_Spout("routine"), True, True) is False
    # stopping (the end of a run) pauses every spout
    assert rt.spout_turn(_Spout("critical"), True, False) is False


def test_forced_overload_holds_from_the_start():
    rt = _runtime({"squall.overload.force": True, **declare("routine", 1000, "soft")})
    assert rt.overload.active and rt.context("routine").overloaded
    rt.check(10.0, [], lambda: 0)  # calm, long past the hold time: still overloaded
    assert rt.overload.active


def test_a_hard_stream_missing_in_overload_raises_one_alarm_naming_it(capsys):
    topo = topology({"routine": 1 * MS, "critical": 10 * MS}, spouts=("routine", "critical"))
    conf = {
        "squall.scheduler": "edf",
        **declare("routine", 1000, "firm", mk="3,4", policies="discard"),
        **declare("critical", 5, "hard"),  # 10 ms of work against 5 ms: every job is late
    }
    d = driver(topo, conf)
    for k in range(3):
        topo.feeds["critical"].append((f"c{k}", topo.clock.now()))
        d.run()
        d.advance(0.002)
    alarms = [line for line in capsys.readouterr().err.splitlines() if "OVERLOAD ALARM" in line]
    assert len(alarms) == 1, alarms  # once per stream, not once per miss
    assert "hard stream critical.default misses its 5 ms deadline while the overload" in alarms[0]
    assert d.result.realtime.streams["critical.default"].misses == 3
    assert d.result.overload_alarms == ["critical.default"]


class Relay(Bolt):
    """Passes each tuple on, anchored (the compiled emit path of a bolt)."""

    outputs = [Stream(fields=["job"], name="default")]

    def process(self, tup: Any) -> None:
        self.emit([tup.values[0]])


@pytest.mark.parametrize("scheduler", ["fifo", "edf"])
def test_deadlines_follow_the_tree_through_bolts_to_the_last_task(scheduler):
    # routine ("bulk") and critical ("vital") roots, released together, the routine ones
    # emitted first (their spout's task comes first), pass through
    # `relay` (its compiled, anchored emit path) to `last`: FIFO runs them in emit order; EDF
    # runs the critical ones first at both bolts, their tree's deadline travelling with them
    clock, log = ManualClock(), []
    feeds = {"bulk": deque(), "vital": deque()}
    attrs: dict[str, Any] = {
        name: type(f"{name}_spout", (ReleasedSpout,), {"feed": feeds[name]}).spec(par=1)
        for name in feeds
    }
    attrs["relay"] = Relay.spec(inputs=[attrs["bulk"], attrs["vital"]], par=1)
    last = type("last", (Work,), {"clock_": clock, "cost": 1 * MS, "log": log})
    attrs["last"] = last.spec(inputs=[attrs["relay"]], par=1)
    topo = type("Chain", (Topology,), attrs)
    conf = {
        "squall.scheduler": scheduler,
        "squall.overload.check.secs": 0.001,
        **declare("bulk", 1000, "firm", mk="3,4", policies="discard"),
        **declare("vital", 50, "hard"),
    }
    d = TopologyDriver(topo, conf, clock=clock, replace_spouts=[])
    now = clock.now()
    feeds["bulk"].extend((f"r{k}", now) for k in range(4))
    feeds["vital"].extend((f"c{k}", now) for k in range(2))
    d.run()
    ran = [job for _, job, _ in log]
    if scheduler == "edf":
        assert ran == ["c0", "c1", "r0", "r1", "r2", "r3"]
    else:
        assert ran == ["r0", "r1", "r2", "r3", "c0", "c1"]
    m = d.result.realtime.streams
    assert m["vital.default"].completed == 2 and m["bulk.default"].completed == 4


class Deferred(Bolt):
    """Acks its tuples later, from ``squall_poll`` (as a sink does when its broker answers)."""

    outputs: ClassVar[list[Stream]] = []
    auto_ack = False
    polls: ClassVar[list[int]]

    def initialize(self, conf: Any, ctx: Any) -> None:
        self.held: list[Any] = []

    def process(self, tup: Any) -> None:
        self.held.append(tup)

    def squall_poll(self) -> bool:
        self.polls.append(len(self.held))
        done, self.held = self.held, []
        for tup in done:
            self.ack(tup)
        return bool(done)


def test_the_runner_polls_components_that_wait_on_io_every_turn():
    # no tick configured: the trees complete because the runner asks the bolt each turn
    feed: deque[Any] = deque([("a", None), ("b", None)])
    spout = type("jobs_spout", (ReleasedSpout,), {"feed": feed})
    sink = type("sink", (Deferred,), {"polls": []})
    jobs = spout.spec(par=1)
    topo = type("Polled", (Topology,), {"jobs": jobs, "sink": sink.spec(inputs=[jobs], par=1)})
    d = TopologyDriver(topo, {}, replace_spouts=[])
    d.run()
    assert sorted(d.acked("jobs")) == ["a", "b"] and d.in_flight == 0
    assert sink.polls and max(sink.polls) >= 1

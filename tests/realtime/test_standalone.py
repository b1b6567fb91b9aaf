"""The self-timed context (squall.realtime.standalone): what a spout measures and decides by
itself under Storm, on a fake clock. Latencies are hand-computed; overload is drawn as a
timeline of looks every 0.25 s."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from health_core.config import storm_key
from spouts.kafka_health import KafkaHealthSpout
from spouts.synthetic import SyntheticHealthSpout
from squall.realtime.context import INERT, realtime_of
from squall.realtime.deadlines import DeadlineError, Deadlines, StreamDeadline
from squall.realtime.standalone import UNTIMED, SelfTimedContext, attach
from squall.testing import SpoutHarness
from topologies.health_ward import HealthWardTopology

CRITICAL = StreamDeadline("critical", "default", 0.05, "hard", policies={"late", "rate"})
ROUTINE = StreamDeadline("routine", "default", 1.0, "firm", 3, 4, {"discard"})
T0 = 1_700_000_000.0  # epoch seconds: releases and acks are on the epoch's clock


class FakeClock:
    __test__ = False

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Lines(logging.Handler):
    """The messages a context logged, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def context(
    *decls: StreamDeadline, component: str = "critical", **kwargs: Any
) -> tuple[SelfTimedContext, FakeClock, Lines]:
    clock = FakeClock()
    lines = Lines()
    logger = logging.getLogger(f"test.standalone.{id(lines)}")
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    ctx = SelfTimedContext(component, Deadlines(decls), clock=clock, logger=logger, **kwargs)
    return ctx, clock, lines


def tree(ctx: SelfTimedContext, clock: FakeClock, tup_id: str, latency_s: float) -> None:
    """One root released now and acked ``latency_s`` later (the clock ends there)."""
    ctx.released(tup_id, clock.t)
    clock.t += latency_s
    ctx.done(tup_id, True)


# --- latency and misses ---------------------------------------------------------------------


def test_latency_runs_from_release_to_ack_and_a_miss_is_past_d() -> None:
    ctx, clock, _ = context(CRITICAL)
    # a: released at emit, acked 30 ms later: on time (D = 50 ms)
    ctx.released("a", None)
    clock.t += 0.030
    ctx.done("a", True)
    # b: due 40 ms before it was emitted (the spout was behind), acked 20 ms after the emit:
    # latency 60 ms, 10 ms late
    ctx.released("b", clock.t - 0.040)
    clock.t += 0.020
    ctx.done("b", True)
    # c: acked exactly at its deadline: meets it
    ctx.released("c", clock.t - 0.050)
    ctx.done("c", True)
    m = ctx.metrics.stream("critical.default")
    assert m.completed == 3
    assert m.misses == 1
    assert m.latency.min == pytest.approx(0.030)
    assert m.latency.max == pytest.approx(0.060)
    assert m.latency.sum == pytest.approx(0.140)
    assert m.lateness_max_s == pytest.approx(0.010)
    assert ctx.pending == {}


def test_a_failed_tree_is_no_completion_and_a_replay_keeps_its_release() -> None:
    ctx, clock, _ = context(CRITICAL)
    ctx.released("a", T0)
    clock.t += 0.010
    ctx.done("a", False)
    m = ctx.metrics.stream("critical.default")
    assert (m.completed, m.misses) == (0, 0)
    # replayed at T0 + 10 ms with its original release, acked 30 ms later: latency 40 ms
    ctx.released("a", T0)
    clock.t += 0.030
    ctx.done("a", True)
    assert (m.completed, m.misses) == (1, 0)
    assert m.latency.max == pytest.approx(0.040)


def test_roots_of_undeclared_streams_and_unknown_ids_are_ignored() -> None:
    ctx, clock, _ = context(CRITICAL)
    ctx.released("x", T0, stream="other")
    ctx.done("x", True)
    ctx.done("never-emitted", True)
    assert ctx.pending == {}
    assert ctx.metrics.stream("critical.default").completed == 0


# --- overload: entered on late trees of a topology falling behind, left after the hold -------
#
# look every 0.25 s, hold 2 s; D = 50 ms
#
#   look at   0.25   0.50   0.75   1.00   1.25 ... 2.75   3.00
#   trees     20 ms  140ms  20 ms  -      80 ms    -      -
#   late      0      1      0      0      1        0      0
#   growing          yes                  (held)
#   overload  no     YES    yes    yes    yes      yes    no (2 s calm since the 1.00 look)


def advance_to(ctx: SelfTimedContext, clock: FakeClock, t: float) -> None:
    clock.t = T0 + t
    ctx.poll()


def test_overload_entered_on_a_late_growing_latency_and_left_after_the_hold() -> None:
    ctx, clock, lines = context(CRITICAL, check_s=0.25, hold_s=2.0)
    tree(ctx, clock, "a", 0.020)
    advance_to(ctx, clock, 0.25)
    assert not ctx.overloaded
    clock.t = T0 + 0.26
    tree(ctx, clock, "b", 0.140)  # late, and the mean latency grew from 20 to 140 ms
    advance_to(ctx, clock, 0.50)
    assert ctx.overloaded and ctx.episodes == 1
    assert ctx.overload.reason == "1 late tree(s), latency growing"
    clock.t = T0 + 0.51
    tree(ctx, clock, "c", 0.020)
    advance_to(ctx, clock, 0.75)  # calm look: the hold starts
    advance_to(ctx, clock, 1.00)
    clock.t = T0 + 1.01
    tree(ctx, clock, "d", 0.080)  # late but not growing: keeps an overload in, restarts the hold
    advance_to(ctx, clock, 1.25)
    assert ctx.overloaded
    advance_to(ctx, clock, 1.50)  # calm from here
    advance_to(ctx, clock, 3.25)
    assert ctx.overloaded  # 1.75 s of calm
    advance_to(ctx, clock, 3.50)
    assert not ctx.overloaded and ctx.overload.reason == ""
    assert ctx.episodes == 1  # no flapping in between
    assert "realtime critical: overload entered: 1 late tree(s), latency growing" in lines.lines
    assert "realtime critical: overload left" in lines.lines


def test_late_trees_at_a_steady_latency_do_not_enter_overload() -> None:
    # every tree 80 ms against D = 50 ms: a deadline this topology misses at any load
    ctx, clock, _ = context(CRITICAL, check_s=0.25)
    for look in range(1, 9):
        tree(ctx, clock, f"t{look}", 0.080)
        advance_to(ctx, clock, 0.25 * look)
    assert not ctx.overloaded
    assert ctx.metrics.stream("critical.default").misses == 8


def test_late_trees_with_the_pending_trees_near_max_spout_pending_enter_overload() -> None:
    ctx, clock, _ = context(CRITICAL, check_s=0.25, max_pending=10)
    for i in range(9):  # 9 of 10 in flight: 90%
        ctx.released(f"p{i}", clock.t)
    tree(ctx, clock, "late", 0.080)  # the first look's only tree: no trend to compare with
    advance_to(ctx, clock, 0.25)
    assert ctx.overloaded
    assert ctx.overload.reason == "1 late tree(s), 9 trees in flight"


def test_a_tree_failed_past_its_deadline_is_late_for_overload() -> None:
    ctx, clock, _ = context(CRITICAL, check_s=0.25, max_pending=2)
    for tup_id in ("a", "b", "c"):  # a replay waits: 3 in flight for a bound of 2
        ctx.released(tup_id, clock.t)
    clock.t += 0.100
    ctx.done("a", False)  # a timeout, say: past its 50 ms deadline
    advance_to(ctx, clock, 0.25)
    assert ctx.overloaded
    assert ctx.metrics.stream("critical.default").completed == 0


def test_overload_force_holds_overload_from_the_start() -> None:
    ctx, clock, _ = context(CRITICAL, force=True, hold_s=0.0)
    assert ctx.overloaded and ctx.overload.reason == "squall.overload.force"
    for t in (0.25, 0.5, 5.0):
        advance_to(ctx, clock, t)
    assert ctx.overloaded


def test_a_hard_stream_late_in_overload_raises_one_alarm() -> None:
    ctx, clock, lines = context(CRITICAL, force=True)
    for i in range(3):
        tree(ctx, clock, f"t{i}", 0.100)
        advance_to(ctx, clock, 0.25 * (i + 1))
    alarms = [line for line in lines.lines if "OVERLOAD ALARM" in line]
    assert alarms == [
        "realtime OVERLOAD ALARM: hard stream critical.default misses its 50 ms deadline in "
        "overload (1 of 1 late so far); add workers, lower the rate, or relax the deadline"
    ]


# --- discard and rate ------------------------------------------------------------------------


def test_discard_only_in_overload_and_within_mk_per_key() -> None:
    ctx, _clock, _ = context(ROUTINE, component="routine")
    assert [ctx.discard("default", "p1") for _ in range(4)] == [False] * 4
    ctx.overload.active = True
    # greedy (3,4): three dropped, one run, per patient
    assert [ctx.discard("default", "p1") for _ in range(8)] == [True, True, True, False] * 2
    assert [ctx.discard("default", "p2") for _ in range(4)] == [True, True, True, False]
    assert ctx.metrics.stream("routine.default").shed["discard"] == 9


def test_a_hard_stream_is_never_discarded() -> None:
    ctx, _clock, _ = context(CRITICAL, force=True)
    assert not any(ctx.discard("default", "p1") for _ in range(20))
    assert ctx.metrics.stream("critical.default").shed["discard"] == 0


def test_rate_gives_a_halved_share_of_next_tuple_calls_in_overload() -> None:
    ctx, clock, _ = context(CRITICAL, check_s=0.25)
    assert all(ctx.turn() for _ in range(10))  # calm: every call
    tree(ctx, clock, "a", 0.010)
    advance_to(ctx, clock, 0.25)
    clock.t = T0 + 0.26
    tree(ctx, clock, "b", 0.100)
    advance_to(ctx, clock, 0.50)  # overload entered: half the calls
    assert ctx.rate_factor == 0.5
    assert sum(ctx.turn() for _ in range(10)) == 5
    for i, t in enumerate((0.75, 1.0, 1.25, 1.5)):  # still late: a quarter, ... down to 1/10
        tree(ctx, clock, f"c{i}", 0.100)
        advance_to(ctx, clock, t)
    assert ctx.rate_factor == 0.1
    assert sum(ctx.turn() for _ in range(100)) == 10
    assert ctx.turn("other")  # a stream without ``rate`` is never held back
    advance_to(ctx, clock, 1.75)
    advance_to(ctx, clock, 3.75)  # 2 s calm: overload over, every call again
    assert not ctx.overloaded and ctx.rate_factor == 1.0
    assert all(ctx.turn() for _ in range(10))


def test_a_stream_without_rate_is_asked_on_every_call_in_overload() -> None:
    ctx, _clock, _ = context(ROUTINE, component="routine", force=True)
    assert all(ctx.turn() for _ in range(10))


# --- what a Storm user sees ------------------------------------------------------------------


def test_one_summary_line_per_stream_every_log_interval() -> None:
    ctx, clock, lines = context(CRITICAL, log_every_s=10.0)
    tree(ctx, clock, "a", 0.020)
    advance_to(ctx, clock, 9.9)
    assert lines.lines == []
    advance_to(ctx, clock, 10.0)
    assert lines.lines == ["realtime critical.default: p99 20 ms, misses 0/1 (0%)"]
    advance_to(ctx, clock, 15.0)
    assert len(lines.lines) == 1
    advance_to(ctx, clock, 20.0)
    assert len(lines.lines) == 2


# --- from the Storm config, and attach -------------------------------------------------------


def ward_conf(**extra: Any) -> dict[str, Any]:
    return {**HealthWardTopology.config, **extra}


def test_from_conf_reads_the_spouts_own_deadlines_and_the_overload_keys() -> None:
    conf = ward_conf(
        **{
            "squall.overload.check.secs": 0.5,
            "squall.overload.hold.secs": 3,
            "topology.max.spout.pending": 7,
        }
    )
    ctx = SelfTimedContext.from_conf("routine", conf, ["default"], clock=FakeClock())
    assert [d for d, _ in ctx.streams.values()] == [ROUTINE]
    assert (ctx.check_s, ctx.hold_s, ctx.force, ctx.max_pending) == (0.5, 3.0, False, 7)
    # the spout's own bound wins over the topology's
    ctx = SelfTimedContext.from_conf("routine", conf, ["default"], max_pending=3)
    assert ctx.max_pending == 3


def test_a_deadline_on_a_stream_the_spout_does_not_have_is_an_error() -> None:
    conf = ward_conf(**{"squall.realtime.routine.late.deadline.ms": 5})
    with pytest.raises(DeadlineError, match="squall.realtime.routine.late.deadline.ms"):
        SelfTimedContext.from_conf("routine", conf, ["default"])


class Named:
    def __init__(self, name: str) -> None:
        self.component_name = name
        self.logger = logging.getLogger("test.standalone.named")


def test_attach_gives_a_self_timed_context_only_where_no_runtime_times_the_spout() -> None:
    spout = Named("routine")
    assert attach(spout, ward_conf(**{"squall.embedded": True})) is UNTIMED
    assert realtime_of(spout) is INERT
    assert attach(Named("parse"), ward_conf()) is UNTIMED  # no deadline declared on it
    ctx = attach(spout, ward_conf())
    assert isinstance(ctx, SelfTimedContext)
    assert realtime_of(spout) is ctx
    assert ctx.logger is spout.logger


def test_the_untimed_hooks_do_nothing() -> None:
    UNTIMED.released("a", None)
    UNTIMED.done("a", True)
    assert UNTIMED.turn()


# --- the synthetic spout, as under Storm -----------------------------------------------------


CLASS_KEY = storm_key("producers", "reading_class")


class ClockedSpout(SyntheticHealthSpout):
    """The ward's spout on a fake clock (epoch ms)."""

    now_ms = T0 * 1000

    @classmethod
    def tick(cls) -> float:
        return cls.now_ms

    clock = tick


def ward_spout(reading_class: str, embedded: bool) -> SpoutHarness:
    conf = ward_conf(
        **{
            CLASS_KEY: reading_class,
            storm_key("producers", "rate_per_producer_hz"): 0,  # unpaced: released when emitted
            storm_key("producers", "max_readings_per_producer"): 5,
            "squall.embedded": embedded,
        }
    )
    ClockedSpout.now_ms = T0 * 1000
    return SpoutHarness(ClockedSpout, conf=conf, component=reading_class)


def test_the_synthetic_spout_under_storm_times_its_trees_into_metrics() -> None:
    harness = ward_spout("routine", embedded=False)
    ctx = realtime_of(harness.spout)
    assert isinstance(ctx, SelfTimedContext) and harness.spout.timer is ctx
    a, b, c = (harness.next_tuple()[0] for _ in range(3))
    assert set(ctx.pending) == {a.tup_id, b.tup_id, c.tup_id}
    ClockedSpout.now_ms += 30
    harness.ack(a.tup_id)  # 30 ms: on time
    ClockedSpout.now_ms += 1470
    harness.ack(b.tup_id)  # 1.5 s against D = 1 s: a miss
    harness.fail(c.tup_id)  # replayed, still pending
    m = ctx.metrics.stream("routine.default")
    assert (m.completed, m.misses) == (2, 1)
    assert m.latency.max == pytest.approx(1.5)
    (replay,) = harness.next_tuple()
    assert replay.tup_id == c.tup_id and set(ctx.pending) == {c.tup_id}
    assert harness.spout.acked == 2


def test_the_synthetic_spout_under_storm_discards_routine_readings_in_overload() -> None:
    harness = ward_spout("routine", embedded=False)
    ctx = realtime_of(harness.spout)
    assert isinstance(ctx, SelfTimedContext)
    ctx.overload.active = True
    emitted = [e for _ in range(10) for e in harness.next_tuple()]
    assert harness.spout.shed > 0
    assert set(ctx.pending) == {e.tup_id for e in emitted}  # a discarded reading is not timed
    assert ctx.metrics.stream("routine.default").shed["discard"] == harness.spout.shed


def test_the_synthetic_spout_embedded_attaches_nothing() -> None:
    harness = ward_spout("routine", embedded=True)
    assert harness.spout.timer is UNTIMED
    assert realtime_of(harness.spout) is INERT  # the runner sets it after initialize


# --- the Kafka spout, as under Storm (kafka-python's clients faked) --------------------------


def kafka_spout(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> tuple[SpoutHarness, Any]:
    import kafka

    from tests.kafka.test_kafka_components_unit import FakeConsumer, FakeProducer

    monkeypatch.setattr(kafka, "KafkaProducer", FakeProducer)
    monkeypatch.setattr(kafka, "KafkaConsumer", FakeConsumer)
    conf = ward_conf(
        **{
            "health.kafka.bootstrap.servers": "127.0.0.1:9",
            "squall.embedded": False,
            **extra,
        }
    )
    harness = SpoutHarness(KafkaHealthSpout, conf, component="routine")
    return harness, FakeConsumer.instances[-1]


def kafka_records(n: int, timestamp_ms: float, key: bytes = b"7") -> list[Any]:
    from tests.kafka.test_kafka_components_unit import TOPIC, Record

    return [Record(TOPIC, 0, o, b"[1]", key, timestamp_ms) for o in range(n)]


def kafka_drain(harness: SpoutHarness, calls: int) -> list[Any]:
    out = []
    for _ in range(calls):
        harness.spout._idle_until = 0.0  # the fake broker answers at once
        out.extend(harness.next_tuple())
    return out


def test_the_kafka_spout_under_storm_times_records_from_their_timestamps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness, consumer = kafka_spout(monkeypatch)
    ctx = realtime_of(harness.spout)
    assert isinstance(ctx, SelfTimedContext) and harness.spout.timer is ctx
    now_ms = time.time() * 1000
    # two records produced now, two 5 s ago: late against routine's D = 1 s once acked
    consumer.queue = kafka_records(2, now_ms) + [
        r._replace(offset=r.offset + 2) for r in kafka_records(2, now_ms - 5000)
    ]
    emitted = kafka_drain(harness, 1)
    assert len(emitted) == 4 and set(ctx.pending) == {e.tup_id for e in emitted}
    for e in emitted:
        harness.ack(e.tup_id)
    m = ctx.metrics.stream("routine.default")
    assert (m.completed, m.misses) == (4, 2)
    assert m.latency.max >= 5.0 and ctx.pending == {}


def test_the_kafka_spout_under_storm_discards_by_key_and_slows_down_in_overload(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness, consumer = kafka_spout(
        monkeypatch, **{"squall.realtime.routine.default.policies": "discard,rate"}
    )
    ctx = realtime_of(harness.spout)
    assert isinstance(ctx, SelfTimedContext)
    ctx.overload.active = True
    ctx.rate_factor = 0.25  # as after two pressed looks
    consumer.queue = kafka_records(8, time.time() * 1000, key=b"7")
    emitted = kafka_drain(harness, 3)
    assert emitted == []  # three calls, a quarter of them: none yet
    emitted = kafka_drain(harness, 1)
    # one patient, (3,4): of 8 records 6 discarded (committed as done), 2 emitted
    assert len(emitted) == 2 and harness.spout.stats["shed"] == 6
    assert ctx.metrics.stream("routine.default").shed["discard"] == 6

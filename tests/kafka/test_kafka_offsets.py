"""The offset tracker alone (no broker): what may be committed, replays, dead-letters, rebalances."""

from __future__ import annotations

import random

import pytest

from squall.kafka.errors import KafkaConfigError
from squall.kafka.offsets import OffsetTracker, Outcome, format_tup_id, parse_tup_id

P0 = ("readings", 0)
P1 = ("readings", 1)


def test_tup_id_round_trips_as_a_string() -> None:
    tup_id = format_tup_id("readings", 3, 1207)
    assert tup_id == "readings:3:1207"
    assert parse_tup_id(tup_id) == ("readings", 3, 1207)
    assert parse_tup_id("dead-letter.v2:0:0") == ("dead-letter.v2", 0, 0)


@pytest.mark.parametrize("bad", ["readings", "readings:x:1", ":1:2", 17, ["readings", 0, 1]])
def test_bad_tup_id_is_named(bad: object) -> None:
    with pytest.raises(ValueError, match="tuple id"):
        parse_tup_id(bad)


def test_commit_point_waits_for_the_first_unacked_offset() -> None:
    #  offset   5  6  7  8
    #  acked    .  x  x  .    -> commit stays at 5 (5 is still in flight)
    #  acked    x  x  x  .    -> commit 8
    #  acked    x  x  x  x    -> commit 9
    t = OffsetTracker()
    for offset in (5, 6, 7, 8):
        assert t.emitted(P0, offset)
    t.mark_committed(t.committable())
    assert t.acked(P0, 6) and t.acked(P0, 7)
    assert t.committable() == {}
    assert t.acked(P0, 5)
    assert t.committable() == {P0: 8}
    t.mark_committed({P0: 8})
    assert t.committable() == {}
    assert t.acked(P0, 8)
    assert t.committable() == {P0: 9}
    assert t.in_flight() == 0


def test_gaps_in_offsets_are_skipped() -> None:
    # Offsets 11 and 12 never reach the consumer (e.g. transaction markers).
    t = OffsetTracker()
    t.emitted(P0, 10)
    t.emitted(P0, 13)
    t.acked(P0, 13)
    assert t.committable() == {P0: 10}
    t.acked(P0, 10)
    assert t.committable() == {P0: 14}


def test_partitions_are_independent() -> None:
    t = OffsetTracker()
    t.emitted(P0, 0)
    t.emitted(P1, 0)
    t.emitted(P1, 1)
    t.acked(P1, 0)
    t.acked(P1, 1)
    assert t.committable() == {P0: 0, P1: 2}
    assert t.in_flight() == 1


def test_unknown_and_duplicate_acks_are_ignored() -> None:
    t = OffsetTracker()
    t.emitted(P0, 0)
    assert t.acked(P0, 0)
    assert not t.acked(P0, 0)  # a second ack of the same tuple
    assert not t.acked(P1, 4)  # never emitted here
    assert t.failed(P1, 4) is Outcome.UNKNOWN
    assert t.committable() == {P0: 1}


def test_re_emission_of_a_tracked_or_done_offset_is_refused() -> None:
    t = OffsetTracker()
    assert t.emitted(P0, 3)
    assert not t.emitted(P0, 3)  # still in flight
    t.acked(P0, 3)
    assert not t.emitted(P0, 2)  # behind the commit point
    assert t.emitted(P0, 4)


def test_failures_replay_then_dead_letter_after_max_attempts() -> None:
    t = OffsetTracker(max_attempts=3)
    t.emitted(P0, 0)
    t.emitted(P0, 1)
    assert t.failed(P0, 0) is Outcome.REPLAY
    assert t.failed(P0, 0) is Outcome.REPLAY
    assert t.attempts(P0, 0) == 2
    assert t.committable() == {P0: 0}  # a failed tuple holds the commit point back
    assert t.failed(P0, 0) is Outcome.DEAD_LETTER
    # The spout writes it to the dead-letter topic, then marks it done like an ack.
    assert t.acked(P0, 0)
    assert t.attempts(P0, 0) == 0
    t.acked(P0, 1)
    assert t.committable() == {P0: 2}


def test_a_replayed_tuple_that_succeeds_is_done() -> None:
    t = OffsetTracker(max_attempts=2)
    t.emitted(P0, 7)
    assert t.failed(P0, 7) is Outcome.REPLAY
    assert t.acked(P0, 7)
    assert t.committable() == {P0: 8}


def test_revoke_drops_only_the_revoked_partitions() -> None:
    t = OffsetTracker()
    for offset in range(3):
        t.emitted(P0, offset)
        t.emitted(P1, offset)
    t.acked(P0, 0)
    assert t.revoke([P0]) == 2
    assert t.partitions() == [P1]
    assert not t.acked(P0, 1)  # a late ack of a revoked partition's tuple
    assert t.failed(P0, 2) is Outcome.UNKNOWN
    assert t.in_flight() == 3
    # Re-assigned later: tracking starts afresh from what the consumer delivers.
    assert t.emitted(P0, 1)
    assert t.committable() == {P0: 1, P1: 0}


def test_max_attempts_is_validated() -> None:
    with pytest.raises(KafkaConfigError, match="max_attempts .* got 0"):
        OffsetTracker(max_attempts=0)


def test_random_ack_order_commits_exactly_the_acked_prefix() -> None:
    """Property: the commit point is always the first offset not yet acked."""
    rng = random.Random(7)
    t = OffsetTracker()
    offsets = list(range(100, 400))
    for offset in offsets:
        t.emitted(P0, offset)
    order = offsets[:]
    rng.shuffle(order)
    acked: set[int] = set()
    for offset in order:
        t.acked(P0, offset)
        acked.add(offset)
        first_unacked = next((o for o in offsets if o not in acked), offsets[-1] + 1)
        assert t.committable() == {P0: first_unacked}


def test_resume_commits_a_done_prefix_and_refuses_what_is_before_it() -> None:
    tracker = OffsetTracker()
    tracker.resume(P0, 10, committed=7)
    assert tracker.committable() == {P0: 10}
    assert not tracker.emitted(P0, 9)
    assert tracker.emitted(P0, 10)
    assert tracker.committable() == {P0: 10}
    tracker.acked(P0, 10)
    assert tracker.committable() == {P0: 11}


def test_resume_with_the_same_commit_point_commits_nothing_new() -> None:
    tracker = OffsetTracker()
    tracker.resume(P0, 10, committed=10)
    assert tracker.committable() == {}
    assert tracker.committed(P0) == 10


def test_in_flight_counts_what_is_emitted_and_not_done_through_revokes_and_resumes() -> None:
    # The count is kept as offsets change (not summed per call): a model of (partition,
    # offset) pairs emitted and not yet acked, dropped on revoke/resume, is the oracle.
    rng = random.Random(7)
    t = OffsetTracker(max_attempts=3)
    model: set[tuple[tuple[str, int], int]] = set()
    next_offset = {P0: 0, P1: 0}
    for _ in range(3000):
        op = rng.random()
        tp = rng.choice([P0, P1])
        if op < 0.5:
            offset = next_offset[tp]
            next_offset[tp] += rng.choice([1, 1, 2])  # gaps too
            assert t.emitted(tp, offset)
            model.add((tp, offset))
        elif op < 0.85 and model:
            tp, offset = rng.choice(sorted(model))
            assert t.acked(tp, offset)
            model.discard((tp, offset))
            assert not t.acked(tp, offset)  # a duplicate ack changes nothing
        elif op < 0.93:
            t.revoke({tp})
            model = {(p, o) for p, o in model if p != tp}
        else:
            t.resume(tp, next_offset[tp])
            model = {(p, o) for p, o in model if p != tp}
        assert t.in_flight() == len(model)

"""SyntheticHealthSpout through squall.testing's SpoutHarness."""

import json

from health_core.config import HealthConfig, storm_key
from health_core.synthetic import generate
from spouts.synthetic import SyntheticHealthSpout
from squall.testing import SpoutHarness

BASE = HealthConfig().to_storm_conf()


def conf(**producers: object) -> dict:
    """The Storm config with config.yaml's ``producers`` settings overridden (``seed=5``)."""
    out = {**BASE, "health.producers.rate.per.producer.hz": 0}
    out.update({storm_key("producers", k): v for k, v in producers.items()})
    return out


def drain(harness: SpoutHarness, calls: int = 1000) -> list:
    out = []
    for _ in range(calls):
        out.extend(harness.next_tuple())
    return out


def test_emits_the_seeded_readings_with_string_ids() -> None:
    harness = SpoutHarness(
        SyntheticHealthSpout, conf=conf(count=3, max_readings_per_producer=4, seed=5)
    )
    emitted = drain(harness)
    assert len(emitted) == 12
    ids = [e.tup_id for e in emitted]
    assert len(set(ids)) == 12
    assert all(isinstance(i, str) and json.loads(json.dumps(i)) == i for i in ids)
    settings = HealthConfig.from_storm_conf(
        conf(count=3, max_readings_per_producer=4, seed=5)
    ).producers
    expected = {r.tup_id: r for r in generate(settings, 4)}
    for emission in emitted:
        record = expected[emission.tup_id]
        if record.kind == "course":  # self-describing payloads carry the emission time
            assert emission.values == [record.payload]
        assert emission.stream == "default" and len(emission.values) == 1


def test_failed_ids_are_replayed_first_with_the_same_payload() -> None:
    harness = SpoutHarness(SyntheticHealthSpout, conf=conf(count=1, max_readings_per_producer=5))
    first, second = harness.next_tuple() + harness.next_tuple()
    harness.fail(first.tup_id)
    (replay,) = harness.next_tuple()
    assert (replay.tup_id, replay.values) == (first.tup_id, first.values)
    harness.ack(first.tup_id)
    harness.ack(second.tup_id)
    rest = drain(harness)
    assert [e.tup_id for e in rest] == ["p0-2", "p0-3", "p0-4"]
    for emission in rest:
        harness.ack(emission.tup_id)
    assert harness.spout.finished and harness.spout.acked == 5


def test_gives_up_after_max_replays_and_says_so() -> None:
    harness = SpoutHarness(
        SyntheticHealthSpout, conf=conf(count=1, max_readings_per_producer=1, max_replays=2)
    )
    (first,) = harness.next_tuple()
    replays = 0
    for _ in range(5):
        harness.fail(first.tup_id)
        got = harness.next_tuple()
        replays += len(got)
    assert replays == 2
    assert harness.spout.given_up == 1 and harness.spout.pending == {}
    assert harness.spout.finished


def test_acks_and_fails_for_unknown_ids_are_ignored() -> None:
    harness = SpoutHarness(SyntheticHealthSpout, conf=conf(count=1, max_readings_per_producer=1))
    harness.ack("p9-9")
    harness.fail("p9-9")
    assert harness.next_tuple()[0].tup_id == "p0-0"


def test_in_flight_readings_are_bounded_by_max_spout_pending() -> None:
    c = {**conf(count=2), "topology.max.spout.pending": 5}
    harness = SpoutHarness(SyntheticHealthSpout, conf=c)
    emitted = drain(harness, 50)
    assert len(emitted) == 5
    harness.ack(emitted[0].tup_id)
    assert len(drain(harness, 50)) == 1


class FakeClockSpout(SyntheticHealthSpout):
    now = 1_700_000_000_000
    clock = staticmethod(lambda: FakeClockSpout.now)


def test_paces_each_producer_at_its_rate() -> None:
    c = {**BASE, "health.producers.count": 2, "health.producers.rate.per.producer.hz": 4}
    harness = SpoutHarness(FakeClockSpout, conf=c)
    assert [e.tup_id for e in drain(harness, 10)] == ["p0-0"]  # p1 is due 125 ms later
    FakeClockSpout.now += 125
    assert [e.tup_id for e in drain(harness, 10)] == ["p1-0"]
    FakeClockSpout.now += 875  # at 1 s: p0 due at 0..1000 ms (5), p1 at 125..875 ms (4)
    assert len(drain(harness, 100)) == 9 - 2

"""SyntheticHealthSpout in pystorm's real multilang loop: tuple ids come back from Storm as JSON
and must still ack and replay the right readings."""

from __future__ import annotations

from health_core.config import HealthConfig
from spouts.synthetic import SyntheticHealthSpout
from tests.windows.multilang import context_for, run_loop

CONF = {
    "topology.name": "health",
    **HealthConfig().to_storm_conf(),
    "health.producers.count": 2,
    "health.producers.rate.per.producer.hz": 0,
    "health.producers.max.readings.per.producer": 2,
    # course form only: its payload carries no clock time, so two runs emit the same payloads
    "health.producers.self.describing.fraction": 0.0,
    "health.producers.malformed.fraction": 0.0,
    # one next_tuple per `next` (stock multilang): the steps below are per reading
    "squall.spout.batch": 1,
}


def emits(replies: list[dict]) -> list[tuple[str, list]]:
    return [(m["id"], m["tuple"]) for m in replies if m.get("command") == "emit"]


def test_ids_round_trip_through_storm_and_failed_ones_replay(tmp_path) -> None:
    context = context_for(SyntheticHealthSpout, "synthetic", {})
    first = emits(
        run_loop(SyntheticHealthSpout, CONF, context, [{"command": "next"}] * 5, tmp_path)
    )
    assert [i for i, _ in first] == ["p0-0", "p1-0", "p0-1", "p1-1"]  # then the source is done
    commands = [
        {"command": "next"},  # p0-0
        {"command": "next"},  # p1-0
        {"command": "ack", "id": "p0-0"},
        {"command": "fail", "id": "p1-0"},
        {"command": "next"},  # the replay of p1-0, before any new reading
        {"command": "next"},  # p0-1
    ]
    replies = run_loop(SyntheticHealthSpout, CONF, context, commands, tmp_path)
    assert emits(replies) == [first[0], first[1], first[1], first[2]]
    assert sum(m.get("command") == "sync" for m in replies) == len(commands)


def test_a_next_is_answered_with_a_batch_of_readings_by_default(tmp_path) -> None:
    # squall.spout.batch (default 16, squall.storm.batched_spout): all four readings on the
    # first `next`, in the order one-per-next gives them, then nothing more to emit
    context = context_for(SyntheticHealthSpout, "synthetic", {})
    one_by_one = emits(
        run_loop(SyntheticHealthSpout, CONF, context, [{"command": "next"}] * 4, tmp_path)
    )
    batched_conf = {k: v for k, v in CONF.items() if k != "squall.spout.batch"}
    replies = run_loop(SyntheticHealthSpout, batched_conf, context, [{"command": "next"}], tmp_path)
    assert emits(replies) == one_by_one and len(one_by_one) == 4
    kinds = [m.get("command") for m in replies if m.get("command") in ("emit", "sync")]
    assert kinds == ["emit"] * 4 + ["sync"]  # one answer to the one `next`

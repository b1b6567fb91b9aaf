"""``squall.spout.batch`` under Storm (issue 13, item 5): one ``next`` command answered with up to
that many ``next_tuple`` calls, through pystorm's real multilang framing (JSON messages ended by
``end``), no JVM. test_storm_local runs the health topology under Storm with it."""

from __future__ import annotations

import io
import json
from io import BytesIO
from typing import Any

import pytest
from pystorm.spout import Spout as PystormSpout

from spouts.synthetic import SyntheticHealthSpout
from squall.errors import ConfigError
from squall.kafka.spout import ReliableKafkaSpout
from squall.storm.batched_spout import BatchedSpout

# pystorm adds a StormHandler to the root logger of each component it sets up
pytestmark = pytest.mark.usefixtures("root_log_handlers_kept")


class CountingSpout(BatchedSpout):
    """Emits ``left`` readings, one per ``next_tuple``, reliable unless ``reliable`` is off."""

    outputs = ["n"]
    left = 40
    reliable = True

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self.calls = 0
        self.acked: list[Any] = []
        self.failed: list[Any] = []

    def next_tuple(self) -> None:
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            self.emit([self.left], tup_id=f"r{self.left}" if self.reliable else None)

    def ack(self, tup_id: Any) -> None:
        self.acked.append(tup_id)

    def fail(self, tup_id: Any) -> None:
        self.failed.append(tup_id)


def _spout(conf: dict[str, Any], cls: type[CountingSpout] = CountingSpout) -> Any:
    spout = cls(input_stream=BytesIO(), output_stream=BytesIO(), rdb_signal=None)
    spout._setup_component(conf, {"componentid": "counting", "taskid": 3})
    spout.initialize(conf, {})
    return spout


def _exchange(spout: Any, *commands: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Send each command as Storm would; per command, the messages the spout wrote back up to
    and including its ``sync`` (its log lines left out)."""
    serializer = spout.serializer
    text = "".join(json.dumps(c) + "\nend\n" for c in commands)
    serializer.input_stream = io.TextIOWrapper(BytesIO(text.encode()), encoding="utf-8")
    raw = serializer.output_stream.buffer  # the BytesIO pystorm wrapped
    replies = []
    for _ in commands:
        serializer.output_stream.flush()
        start = len(raw.getvalue())
        spout._run()
        serializer.output_stream.flush()
        written = raw.getvalue()[start:].decode().split("\nend\n")
        messages = [json.loads(m) for m in written if m.strip()]
        replies.append([m for m in messages if m.get("command") != "log"])
    return replies


def _emitted(reply: list[dict[str, Any]]) -> list[Any]:
    assert reply[-1] == {"command": "sync"}, reply
    assert all(m["command"] == "emit" for m in reply[:-1]), reply
    return [m["tuple"][0] for m in reply[:-1]]


NEXT = {"command": "next"}


def test_a_next_is_answered_with_up_to_the_batch_then_sync() -> None:
    spout = _spout({"squall.spout.batch": 16})
    first, second, third, fourth = _exchange(spout, NEXT, NEXT, NEXT, NEXT)
    assert _emitted(first) == list(range(39, 23, -1))
    assert len(_emitted(second)) == 16
    assert _emitted(third) == list(range(7, -1, -1))  # the last 8; the 9th call emits nothing
    assert _emitted(fourth) == []
    assert spout.calls == 16 + 16 + 9 + 1


def test_the_default_is_the_embedded_runners_and_one_is_stock_multilang() -> None:
    default = _spout({})
    assert len(_emitted(_exchange(default, NEXT)[0])) == 16  # squall.spout.batch's default
    stock = _spout({"squall.spout.batch": 1})
    assert [len(_emitted(r)) for r in _exchange(stock, NEXT, NEXT, NEXT)] == [1, 1, 1]


def test_max_spout_pending_bounds_the_batch_and_acks_and_fails_make_room() -> None:
    spout = _spout({"squall.spout.batch": 16, "topology.max.spout.pending": 5})
    replies = _exchange(
        spout,
        NEXT,
        NEXT,
        {"command": "ack", "id": "r39"},
        NEXT,
        {"command": "fail", "id": "r38"},
        {"command": "ack", "id": "r37"},
        NEXT,
    )
    assert [len(_emitted(r)) for r in replies] == [5, 0, 0, 1, 0, 0, 2]
    assert spout.acked == ["r39", "r37"] and spout.failed == ["r38"]


def test_unreliable_emits_do_not_count_as_pending() -> None:
    class Unreliable(CountingSpout):
        reliable = False

    spout = _spout({"squall.spout.batch": 16, "topology.max.spout.pending": 5}, Unreliable)
    assert len(_emitted(_exchange(spout, NEXT)[0])) == 16


def test_other_commands_are_pystorms() -> None:
    spout = _spout({})
    for command in ({"command": "activate"}, {"command": "deactivate"}, {"command": "nonsense"}):
        assert _exchange(spout, command) == [[{"command": "sync"}]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "got 0"), ("16", "got '16' (str)"), (2.5, "got 2.5 (float)")],
)
def test_a_bad_batch_size_is_refused_naming_the_spout_key_and_value(
    value: Any, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _spout({"squall.spout.batch": value})
    message = str(caught.value)
    assert "spout 'counting'" in message and "squall.spout.batch" in message
    assert "integer" in message and ">= 1" in message and expected in message


def test_the_embedded_runner_keeps_its_fast_emit_path() -> None:
    # Executor takes its fast emit only for a class whose emit is pystorm's (engine/executor.py)
    for cls in (BatchedSpout, SyntheticHealthSpout, ReliableKafkaSpout):
        assert cls.emit is PystormSpout.emit

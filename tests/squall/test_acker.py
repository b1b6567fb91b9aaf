"""The XOR acker alone: completion in any order, first fail wins, timeouts oldest first."""

from squall.engine.acker import Acker, new_edge_id


def make():
    done = []
    return Acker(lambda task, msg, ok, entered: done.append((task, msg, ok))), done


def test_tree_completes_only_when_every_edge_is_acked_in_any_order():
    acker, done = make()
    e1, e2, c1 = new_edge_id(), new_edge_id(), new_edge_id()
    acker.init(root=1, xor=e1 ^ e2, spout_task=9, msg_id="m", entered=0.0)
    acker.ack(1, c1)  # a grandchild's ack arriving before its parent's (another process)
    assert done == []
    acker.ack(1, e1 ^ c1)  # e1 acked, having emitted child c1
    assert done == []
    acker.ack(1, e2)
    assert done == [(9, "m", True)]
    assert len(acker) == 0 and acker.pending_by_task[9] == 0


def test_a_fail_ends_the_tree_and_later_acks_are_ignored():
    acker, done = make()
    e = new_edge_id()
    acker.init(1, e, 1, "m", 0.0)
    acker.fail(1)
    acker.ack(1, e)
    acker.fail(1)
    assert done == [(1, "m", False)]


def test_a_tuple_nobody_received_is_acked_at_once():
    acker, done = make()
    acker.init(1, 0, 1, "m", 0.0)
    assert done == [(1, "m", True)] and len(acker) == 0


def test_expire_fails_only_trees_older_than_the_timeout():
    acker, done = make()
    for i, t in enumerate([0.0, 1.0, 2.0]):
        acker.init(i + 1, new_edge_id(), 1, f"m{i}", t)
    assert acker.expire(now=2.5, timeout_s=1.0) == 2
    assert done == [(1, "m0", False), (1, "m1", False)]
    assert acker.timed_out == 2 and len(acker) == 1

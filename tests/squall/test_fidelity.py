"""Storm's documented semantics, checked with exact counts, in single- and multi-process mode."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from squall import run_topology
from tests.squall import scenarios as sc

# Every semantic holds with operator chaining on (the default) and off: a chained task runs its
# tuple inside the emitter's execute instead of from its queue (squall.engine.chaining). With 2
# workers only components whose tasks and sources all share a worker chain.
MODES = [
    pytest.param((1, True), id="single-process"),
    pytest.param((1, False), id="single-process-unchained"),
    pytest.param((2, True), id="multi-process"),
    pytest.param((2, False), id="multi-process-unchained"),
]


def run(topology, mode, conf=None, **kw):
    workers, chaining = mode if isinstance(mode, tuple) else (mode, True)
    kw.setdefault("until_idle", True)
    conf = {**(conf or {}), "squall.chaining": chaining}
    return run_topology(topology, conf, workers=workers, capture=True, **kw)


@pytest.mark.parametrize("workers", MODES)
def test_word_count_fields_grouping_puts_each_key_on_one_task(workers):
    result = run(sc.WordCount, workers)
    rows = result.output("count")
    assert len(rows) == len(sc.WORDS)
    tasks_per_word = defaultdict(set)
    final = {}
    for word, count, task in rows:
        tasks_per_word[word].add(task)
        final[word] = max(final.get(word, 0), count)
    assert all(len(tasks) == 1 for tasks in tasks_per_word.values()), tasks_per_word
    assert final == dict(Counter(sc.WORDS))
    assert sorted(result.spout_acked["words"]) == list(range(len(sc.WORDS)))
    assert result.stats["count"].executed == len(sc.WORDS)
    assert result.stats["count"].acked == len(sc.WORDS)
    assert result.spout_failed == {}


@pytest.mark.parametrize("workers", MODES)
def test_diamond_tree_is_acked_once_both_branches_ack(workers):
    result = run(sc.Diamond, workers)
    assert sorted(result.spout_acked["source"]) == list(range(sc.N))
    assert result.spout_failed == {}
    assert sorted(v[0] for v in result.output("join")) == list(range(sc.N))
    assert result.stats["join"].acked == 2 * sc.N
    assert result.stats["sink"].executed == sc.N
    assert result.pending_at_stop == 0


@pytest.mark.parametrize("workers", MODES)
def test_failed_tuples_reach_the_spout_exactly_and_are_replayed(workers):
    result = run(sc.FailAndReplay, workers)
    failed_first = [n for n in range(sc.N) if n % 4 == 0]
    assert sorted(result.spout_failed["source"]) == failed_first
    assert sorted(result.spout_acked["source"]) == list(range(sc.N))
    # every number reached the sink exactly once: the failed ones only on their replay
    assert sorted(v[0] for v in result.output("flaky")) == list(range(sc.N))
    assert result.stats["flaky"].failed == len(failed_first)
    assert result.stats["source"].emitted == sc.N + len(failed_first)


@pytest.mark.parametrize("workers", MODES)
def test_trees_not_acked_in_time_fail_by_timeout(workers):
    result = run(sc.Timeout, workers)
    held = [n for n in range(sc.N) if n % 3 == 0]
    assert sorted(result.spout_failed["source"]) == held
    assert sorted(result.spout_acked["source"]) == [n for n in range(sc.N) if n % 3]
    assert result.timed_out == len(held)


@pytest.mark.parametrize("workers", MODES)
def test_an_exception_fails_its_tree_is_reported_and_the_run_goes_on(workers):
    result = run(sc.Crashing, workers)
    assert result.spout_failed["source"] == [7]
    assert len(result.spout_acked["source"]) == sc.N - 1
    assert len(result.errors) == 1
    err = result.errors[0]
    assert err.component == "crashy" and err.task in _tasks(sc.Crashing)["crashy"]
    assert "ValueError: seven is not allowed" in err.message and "Traceback" in err.message
    assert sorted(v[0] for v in result.output("crashy")) == [n for n in range(sc.N) if n != 7]


@pytest.mark.parametrize("workers", MODES)
def test_all_global_none_local_and_direct_groupings(workers):
    # plain shuffle: Storm 2's default load-aware shuffle would keep light traffic local
    result = run(sc.Groupings, workers, conf={"topology.disable.loadaware.messaging": True})
    model_tasks = _tasks(sc.Groupings)
    by_task = Counter(task for _, task in result.output("to_all"))
    assert by_task == {t: sc.N for t in model_tasks["to_all"]}
    assert {task for _, task in result.output("to_global")} == {min(model_tasks["to_global"])}
    assert sorted(n for n, _ in result.output("to_none")) == list(range(sc.N))
    assert sorted(n for n, _ in result.output("to_local")) == list(range(sc.N))
    targets = sorted(model_tasks["direct_sink"])
    for n, task in result.output("direct_sink"):
        assert task == targets[n % len(targets)]
    assert len(result.output("direct_sink")) == sc.N
    # shuffle-like groupings spread the load: every task of to_none got some
    assert {t for _, t in result.output("to_none")} == set(model_tasks["to_none"])
    assert sorted(result.spout_acked["source"]) == list(range(sc.N))


@pytest.mark.parametrize("workers", MODES)
def test_named_streams_reach_only_their_subscribers(workers):
    result = run(sc.NamedStreams, workers)
    assert sorted(v[0] for v in result.output("evens")) == list(range(0, sc.N, 2))
    assert sorted(v[0] for v in result.output("odds")) == list(range(1, sc.N, 2))
    assert len(result.output("split", "even")) == sc.N // 2
    assert sorted(result.spout_acked["source"]) == list(range(sc.N))


@pytest.mark.parametrize("workers", MODES)
def test_tick_tuples_reach_every_task_at_the_configured_frequency(workers):
    result = run(sc.Ticks, workers, until_idle=False, seconds=3.5)
    per_task = defaultdict(list)
    for ticks, task in result.output("ticker"):
        per_task[task].append(ticks)
    assert set(per_task) == set(_tasks(sc.Ticks)["ticker"])
    for counts in per_task.values():
        # one tick a second from each task's start: 3 in 3.5 s, fewer only if the machine is
        # so loaded that a worker process started late (the manual-clock test below is exact)
        assert counts == list(range(1, len(counts) + 1)) and 1 <= len(counts) <= 3


def test_tick_tuples_follow_the_manual_clock_exactly():
    from squall.testing import TopologyDriver

    driver = TopologyDriver(sc.Ticks)
    driver.advance(3.0)
    assert sorted(driver.output("ticker")) == sorted(
        [n, task] for n in (1, 2, 3) for task in _tasks(sc.Ticks)["ticker"]
    )


@pytest.mark.parametrize("workers", MODES)
def test_max_spout_pending_bounds_trees_in_flight(workers):
    result = run(sc.MaxPending, workers)
    peaks = [in_flight for _, in_flight in result.output("source")]
    assert max(peaks) == 3
    assert sorted(result.spout_acked["source"]) == list(range(sc.N))


@pytest.mark.parametrize("workers", MODES)
def test_unreliable_emits_are_never_tracked(workers):
    result = run(sc.Unreliable, workers)
    assert result.spout_acked == {} and result.spout_failed == {}
    assert result.stats["sink"].executed == sc.N
    assert result.pending_at_stop == 0


def _tasks(topology):
    from squall.engine.model import build_model

    return {c.name: c.task_ids for c in build_model(topology).components.values()}


@pytest.mark.parametrize(
    ("topology", "receiver"),
    [
        # Storm 2's default: a shuffle prefers the emitter's own worker while its tasks keep up
        (sc.Groupings, "to_none"),
        # a spout overriding emit takes the generic path, whose single-shuffle-subscriber
        # shortcut once skipped that preference
        (sc.OneShuffle, "to_shuffle"),
    ],
)
def test_load_aware_shuffle_keeps_light_traffic_in_the_emitting_process(topology, receiver):
    result = run(topology, 2)
    tasks = _tasks(topology)
    source_task = tasks["source"][0]
    ordered = sorted(t for ts in tasks.values() for t in ts)
    same_worker = {t for i, t in enumerate(ordered) if i % 2 == ordered.index(source_task) % 2}
    assert {t for _, t in result.output(receiver)} <= same_worker
    assert sorted(n for n, _ in result.output(receiver)) == list(range(sc.N))

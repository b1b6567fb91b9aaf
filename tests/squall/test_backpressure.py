"""A slow bolt must back-pressure the spout: queues stay bounded, memory stays flat."""

from __future__ import annotations

import re
import threading

import pytest

from squall.engine.clock import MonotonicClock
from squall.engine.model import build_model
from squall.engine.run_settings import RunSettings
from squall.engine.runner import drain
from squall.engine.worker import Worker
from tests.squall.userproj.src.userbolts.components import EndlessSpout, SlowBolt  # noqa: F401


def test_queues_never_exceed_capacity_plus_one_batch_with_a_slow_bolt():
    from streamparse import Topology

    class Slow(Topology):
        source = EndlessSpout.spec()
        slow = SlowBolt.spec(inputs=[source], config={"user.delay_s": 0.001})

    model = build_model(Slow)
    settings = RunSettings.from_conf({"squall.queue.capacity": 50, "squall.spout.batch": 16})
    worker = Worker(model, settings, sorted(model.task_component), MonotonicClock())
    worker.start()
    peak = 0
    for _ in range(400):
        worker.step()
        peak = max(peak, worker.queued())
    drain(worker)
    # the spout is paused once the inbox is full; one spout batch may land on top of it
    assert peak <= 50 + 16
    assert worker.executors[model.components["source"].task_ids[0]].stats.emitted > 100


def test_fail_fast_stops_at_the_first_error():
    from squall import run_topology
    from tests.squall import scenarios as sc

    result = run_topology(sc.Crashing, {"squall.fail.fast": True}, until_idle=True, capture=True)
    assert len(result.errors) == 1
    assert len(result.output("crashy")) < sc.N - 1


def test_bad_settings_name_the_key_and_what_is_valid():
    from squall.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=re.escape(
            "setting topology.message.timeout.secs must be a number >= 0.001; got 'soon' (str)"
        ),
    ):
        RunSettings.from_conf({"topology.message.timeout.secs": "soon"})
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "setting squall.scheduler must be one of 'dm', 'edf', 'fifo', 'llf', 'rm'; got 'random' (str)"
        ),
    ):
        RunSettings.from_conf({"squall.scheduler": "random"})
    # the old key folded into squall.scheduler (oldest-root-first is edf's order without deadlines)
    with pytest.raises(ConfigError, match=re.escape("use 'squall.scheduler'")):
        RunSettings.from_conf({"squall.queue.policy": "oldest-root-first"})


def test_worker_is_single_threaded():
    # components are never called concurrently: the runner adds no threads of its own
    from squall import run_topology
    from tests.squall import scenarios as sc

    before = threading.active_count()
    run_topology(sc.WordCount, until_idle=True)
    assert threading.active_count() == before


@pytest.mark.parametrize("workers", [1, 2])
def test_a_component_failing_to_initialize_is_a_clear_error(workers):
    from streamparse import Bolt, Topology

    from squall import run_topology
    from squall.errors import TopologyError
    from tests.squall import scenarios as sc

    class Broken(Bolt):
        outputs = ["n"]

        def initialize(self, conf, ctx):
            raise KeyError("db.url")

    class T(Topology):
        source = sc.NumberSpout.spec()
        broken = Broken.spec(inputs=[source])

    with pytest.raises(
        TopologyError,
        match=r"component 'broken' \(task 1, class Broken\) failed to initialize: KeyError",
    ):
        run_topology(T, until_idle=True, workers=workers)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stop_event_set_from_another_thread_ends_an_endless_run_cleanly(workers):
    from streamparse import Topology

    from squall import run_topology

    class Endless(Topology):
        source = EndlessSpout.spec()
        slow = SlowBolt.spec(inputs=[source])

    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    try:
        # no seconds, no until_idle: only the event can end this run
        result = run_topology(Endless, workers=workers, stop=stop, capture=True)
    finally:
        timer.cancel()
    assert stop.is_set()
    emitted = result.stats["source"].emitted
    assert emitted > 0
    # the spouts stopped and every tree drained: each emitted number acked, none pending
    assert result.pending_at_stop == 0
    assert sorted(result.spout_acked["source"]) == list(range(emitted))
    assert len(result.output("slow")) == emitted

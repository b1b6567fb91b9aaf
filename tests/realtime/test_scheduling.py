"""Dispatch order of each scheduling policy, on scripted queues with times given by hand.

Jobs are named by their ``item``; times are in seconds (small integers, so every sum is exact).
``one_processor`` is a discrete simulator of one worker that never preempts: it pushes the jobs
released so far, pops one, and runs it for its cost (its ``remaining_s``, exact here).
"""

from __future__ import annotations

import itertools
import re

import pytest

from squall.errors import ConfigError
from squall.realtime.scheduling import (
    SCHEDULERS,
    Dm,
    Edf,
    Fifo,
    Job,
    Llf,
    PriorityScheduler,
    Rm,
    Scheduler,
    hopeless,
    make_scheduler,
)

_seq = itertools.count(1)


def job(
    name: str,
    *,
    deadline: float = 100.0,
    cost: float = 1.0,
    release: float = 0.0,
    executor: str = "bolt",
    relative_deadline: float | None = None,
    rate: float = 1.0,
    sheddable: bool = False,
) -> Job:
    """A job as the worker would build it; ``seq`` from one counter, so arrival = creation order."""
    return Job(
        item=name,
        executor=executor,
        release=release,
        deadline=deadline,
        remaining_s=cost,
        relative_deadline_s=deadline - release if relative_deadline is None else relative_deadline,
        rate_per_s=rate,
        seq=next(_seq),
        sheddable=sheddable,
    )


def drain(scheduler: Scheduler, jobs: list[Job]) -> list[str]:
    for j in jobs:
        scheduler.push(j)
    order = []
    while len(scheduler):
        order.append(scheduler.pop().item)
    return order


def one_processor(
    scheduler: Scheduler, jobs: list[Job], *, discard: bool
) -> tuple[dict[str, float], list[str]]:
    """Run ``jobs`` to the end; return each run job's finish time and the dropped jobs' names."""
    pending = sorted(jobs, key=lambda j: (j.release, j.seq))
    now = 0.0
    finish: dict[str, float] = {}
    dropped: list[Job] = []
    while pending or len(scheduler):
        while pending and pending[0].release <= now:
            scheduler.push(pending.pop(0))
        if not len(scheduler):
            now = pending[0].release  # idle until the next release
            continue
        nxt = scheduler.pop_feasible(now, dropped) if discard else scheduler.pop()
        if nxt is None:
            continue
        now += nxt.remaining_s
        finish[nxt.item] = now
    return finish, [j.item for j in dropped]


def missed(jobs: list[Job], finish: dict[str, float]) -> list[str]:
    return [j.item for j in jobs if j.item in finish and finish[j.item] > j.deadline]


# ----------------------------------------------------------------- each policy's order


def test_fifo_runs_in_arrival_order_whatever_the_deadlines():
    jobs = [job("a", deadline=9), job("b", deadline=1), job("c", deadline=5)]
    assert drain(Fifo(), jobs) == ["a", "b", "c"]


def test_edf_runs_the_earliest_absolute_deadline_first():
    jobs = [job("a", deadline=9), job("b", deadline=1), job("c", deadline=5)]
    assert drain(Edf(), jobs) == ["b", "c", "a"]


def test_edf_ties_go_to_the_earlier_arrival():
    first, second, third = job("first", deadline=3), job("second", deadline=3), job("third")
    # pushed out of arrival order: the arrival number decides, not the push
    assert drain(Edf(), [third, second, first]) == ["first", "second", "third"]


def test_llf_runs_the_least_laxity_first():
    # laxity at now=0: a 10-0-1 = 9, b 12-0-8 = 4, c 11-0-2 = 9 (tie with a: a came first)
    jobs = [
        job("a", deadline=10, cost=1),
        job("b", deadline=12, cost=8),
        job("c", deadline=11, cost=2),
    ]
    assert drain(Llf(), jobs) == ["b", "a", "c"]


def test_dm_orders_by_the_streams_relative_deadline_not_the_absolute_one():
    # the alert was released later, so its absolute deadline (10 + 0.05) is the later one
    trend = job("trend", release=0, deadline=1.0, relative_deadline=1.0)
    alert = job("alert", release=10, deadline=10.05, relative_deadline=0.05)
    trend2 = job("trend2", release=0, deadline=1.0, relative_deadline=1.0)
    assert drain(Dm(), [trend, alert, trend2]) == ["alert", "trend", "trend2"]
    assert drain(Edf(), [trend, alert, trend2]) == ["trend", "trend2", "alert"]


def test_rm_runs_the_highest_rate_stream_first_ties_by_arrival():
    jobs = [
        job("slow", rate=10),
        job("fast", rate=1000),
        job("mid", rate=100),
        job("fast2", rate=1000),
    ]
    assert drain(Rm(), jobs) == ["fast", "fast2", "mid", "slow"]


def test_llf_and_edf_differ_on_a_hand_example():
    """Both at now = 0, never preempted:

    ======  ========  ====  =================  ==================
    job     deadline  cost  laxity (d - 0 - c)  key of LLF (d - c)
    ======  ========  ====  =================  ==================
    short   10        1     9                  9
    long    12        8     4                  4
    ======  ========  ====  =================  ==================

    EDF runs short (0-1) then long (1-9); LLF runs long (0-8) then short (8-9). Both meet
    every deadline; the orders differ. At now = 5 the laxities are 4 and -1: the same order,
    which is why LLF's key needs no ``now``.
    """
    jobs = [job("short", deadline=10, cost=1), job("long", deadline=12, cost=8)]
    edf_finish, _ = one_processor(Edf(), jobs, discard=False)
    llf_finish, _ = one_processor(Llf(), jobs, discard=False)
    assert edf_finish == {"short": 1, "long": 9}
    assert llf_finish == {"long": 8, "short": 9}
    assert missed(jobs, edf_finish) == missed(jobs, llf_finish) == []


def test_the_earliest_deadline_of_any_executor_runs_next_whatever_the_queue_order():
    """Three executors, their jobs pushed executor by executor (parse, trend, then alert).

    A heap per inbox visited in that fixed order would run parse's best job first; one
    scheduler for the worker runs the alert, due first, whatever its queue's place.
    """
    parse = [
        job("parse-1", deadline=0.9, executor="parse"),
        job("parse-2", deadline=0.8, executor="parse"),
    ]
    trend = [job("trend-1", deadline=1.0, executor="trend")]
    alert = [
        job("alert-1", deadline=0.05, executor="alert"),
        job("alert-2", deadline=0.5, executor="alert"),
    ]
    worker = Edf()
    for j in parse + trend + alert:
        worker.push(j)
    first = worker.pop()
    assert (first.item, first.executor) == ("alert-1", "alert")
    assert drain(worker, []) == ["alert-2", "parse-2", "parse-1", "trend-1"]

    per_inbox = {name: Edf() for name in ("parse", "trend", "alert")}
    for j in parse + trend + alert:
        per_inbox[j.executor].push(j)
    visited_first = next(inbox for inbox in per_inbox.values() if len(inbox))
    assert visited_first.pop().item == "parse-2"  # what the fixed visiting order would run


# ----------------------------------------------------------------- overload: the domino effect


def test_plain_edf_misses_every_job_after_a_hopeless_one_and_discarding_it_meets_the_rest():
    """One processor, no preemption (times in ms):

    ====  =======  ====  ========
    job   release  cost  deadline
    ====  =======  ====  ========
    A     0        3     4
    H     1        2     4
    B     1        1     5
    C     1        1     6
    D     1        1     7
    E     1        1     8
    ====  =======  ====  ========

    A runs 0-3 (alone at 0), meets 4. At 3, H has the earliest deadline (4) but needs 2: it
    cannot finish before 5, it is hopeless (4 - 3 < 2), though it was not at its release
    (4 - 1 >= 2): A's run made it so.

    Plain EDF runs it anyway: H 3-5 (late 1), B 5-6 (late 1), C 6-7, D 7-8, E 8-9: each late
    by 1. Every job after the hopeless one misses: the domino effect.

    EDF + discarding the hopeless job drops H at 3: B 3-4, C 4-5, D 5-6, E 6-7, all on time.
    """
    jobs = [
        job("A", release=0, cost=3, deadline=4, sheddable=True),
        job("H", release=1, cost=2, deadline=4, sheddable=True),
        job("B", release=1, cost=1, deadline=5, sheddable=True),
        job("C", release=1, cost=1, deadline=6, sheddable=True),
        job("D", release=1, cost=1, deadline=7, sheddable=True),
        job("E", release=1, cost=1, deadline=8, sheddable=True),
    ]
    finish, dropped = one_processor(Edf(), jobs, discard=False)
    assert finish == {"A": 3, "H": 5, "B": 6, "C": 7, "D": 8, "E": 9}
    assert dropped == []
    assert missed(jobs, finish) == ["H", "B", "C", "D", "E"]

    finish, dropped = one_processor(Edf(), jobs, discard=True)
    assert finish == {"A": 3, "B": 4, "C": 5, "D": 6, "E": 7}
    assert dropped == ["H"]
    assert missed(jobs, finish) == []


def test_a_hard_job_is_never_discarded_even_when_hopeless():
    """The overload above with H a hard stream's job: H runs 3-5, late by 1 rather than lost.

    Then B (deadline 5, cost 1) is hopeless at 5 and is dropped; C and D still meet theirs.
    """
    jobs = [
        job("A", release=0, cost=3, deadline=4, sheddable=True),
        job("H", release=1, cost=2, deadline=4, sheddable=False),
        job("B", release=1, cost=1, deadline=5, sheddable=True),
        job("C", release=1, cost=1, deadline=7, sheddable=True),
        job("D", release=1, cost=1, deadline=8, sheddable=True),
    ]
    finish, dropped = one_processor(Edf(), jobs, discard=True)
    assert finish == {"A": 3, "H": 5, "C": 6, "D": 7}
    assert dropped == ["B"]
    assert missed(jobs, finish) == ["H"]


def test_hopeless_means_it_cannot_finish_by_the_deadline_even_if_run_now():
    j = job("j", deadline=10, cost=2)
    assert not hopeless(j, now=8)  # finishes at 10: exactly on time
    assert hopeless(j, now=8.5)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_discard_hopeless_sweeps_every_policy_and_keeps_the_order_of_the_rest(name):
    """At now = 5: late (deadline 4) and tight (6 - 5 < 2) are hopeless; hard is too but kept."""
    scheduler = make_scheduler(name)
    jobs = [
        job("ok-1", deadline=20, cost=1, sheddable=True, rate=5, relative_deadline=20),
        job("late", deadline=4, cost=1, sheddable=True, rate=1, relative_deadline=4),
        job("hard", deadline=4, cost=1, sheddable=False, rate=2, relative_deadline=4),
        job("tight", deadline=6, cost=2, sheddable=True, rate=3, relative_deadline=6),
        job("ok-2", deadline=9, cost=1, sheddable=True, rate=4, relative_deadline=9),
    ]
    expected_rest = drain(
        make_scheduler(name), [j for j in jobs if j.item not in {"late", "tight"}]
    )
    for j in jobs:
        scheduler.push(j)
    assert [j.item for j in scheduler.discard_hopeless(now=5)] == ["late", "tight"]
    assert len(scheduler) == 3
    assert drain(scheduler, []) == expected_rest
    assert scheduler.discard_hopeless(now=5) == []


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_pop_feasible_on_an_empty_or_all_hopeless_queue_gives_none(name):
    scheduler = make_scheduler(name)
    dropped: list[Job] = []
    assert scheduler.pop_feasible(0.0, dropped) is None
    scheduler.push(job("gone", deadline=1, cost=5, sheddable=True))
    assert scheduler.pop_feasible(0.0, dropped) is None
    assert [j.item for j in dropped] == ["gone"] and len(scheduler) == 0


def test_llf_keeps_every_hopeless_job_at_the_top_of_its_heap():
    # key d - c < now <=> hopeless: pop_feasible drops them all before any feasible job
    scheduler = Llf()
    for j in [
        job("fine", deadline=30, cost=1, sheddable=True),
        job("gone-1", deadline=6, cost=3, sheddable=True),
        job("gone-2", deadline=12, cost=9, sheddable=True),
    ]:
        scheduler.push(j)
    dropped: list[Job] = []
    nxt = scheduler.pop_feasible(5.0, dropped)
    assert nxt is not None and nxt.item == "fine"
    assert [j.item for j in dropped] == ["gone-1", "gone-2"]


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_pop_on_an_empty_scheduler_raises_index_error(name):
    with pytest.raises(IndexError):
        make_scheduler(name).pop()


# ----------------------------------------------------------------- selection by name


def test_schedulers_are_selected_by_name():
    assert {name: type(make_scheduler(name)) for name in SCHEDULERS} == {
        "fifo": Fifo,
        "edf": Edf,
        "llf": Llf,
        "dm": Dm,
        "rm": Rm,
    }
    assert make_scheduler("edf") is not make_scheduler("edf")  # a fresh queue each time


def test_an_unknown_scheduler_is_a_config_error_naming_the_valid_ones():
    expected = "unknown scheduler 'eddf' (setting squall.scheduler); valid: dm, edf, fifo, llf, rm"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        make_scheduler("eddf")
    with pytest.raises(ConfigError, match=re.escape("'EDF' (-o squall.scheduler=EDF); valid:")):
        make_scheduler("EDF", where="-o squall.scheduler=EDF")


def test_a_new_policy_is_one_small_class():
    class ShortestJobFirst(PriorityScheduler):
        name = "sjf"

        def push(self, job: Job) -> None:
            import heapq

            heapq.heappush(self._heap, (job.remaining_s, job.seq, job))

    jobs = [job("big", cost=5), job("small", cost=1), job("mid", cost=2)]
    assert drain(ShortestJobFirst(), jobs) == ["small", "mid", "big"]
    with pytest.raises(NotImplementedError, match="PriorityScheduler must define push"):
        PriorityScheduler().push(jobs[0])

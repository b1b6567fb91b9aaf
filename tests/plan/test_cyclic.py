"""The cyclic executive: hyperperiod, frame sizes, the grid, its text and its Gantt chart.

Every grid produced here goes through ``check_grid``, written apart from the scheduler: each
job of each task gets exactly C of processor time within [release, release + D) (and within the
hyperperiod: the table does not wrap), no two pieces overlap, a non-preemptive grid has one
piece per job, and a frame grid keeps each piece inside one frame.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import sys
from collections import defaultdict
from fractions import Fraction

import pytest

from squall.plan.cyclic import (
    CyclicSchedule,
    cyclic_schedule,
    frame_sizes,
    hyperperiod,
    text_grid,
)
from squall.plan.gantt import write_gantt
from squall.plan.model import PlanError, TaskSet, task

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def taskset(*tasks, units="ms"):
    return TaskSet(tuple(tasks), units)


def jobs_of(ts: TaskSet, h: Fraction):
    """(task name, job index, release, deadline cut to the hyperperiod, cost) of every job."""
    return [
        (t.name, k, k * t.T, min(k * t.T + t.D, h), t.C)
        for t in ts.tasks
        for k in range(int(h / t.T))
    ]


def check_grid(ts: TaskSet, schedule: CyclicSchedule) -> None:
    """The grid is a valid table for ``ts`` (see the module docstring)."""
    h, grid = schedule.hyperperiod, schedule.grid
    assert grid is not None, schedule.note
    assert all((h / t.T).denominator == 1 for t in ts.tasks)
    pieces = defaultdict(list)
    for start, end, name, job in grid:
        assert isinstance(start, Fraction) and isinstance(end, Fraction)
        assert 0 <= start < end <= h
        pieces[name, job].append((start, end))
    for name, k, release, deadline, cost in jobs_of(ts, h):
        mine = pieces.pop((name, k), [])
        assert sum(e - s for s, e in mine) == cost, (name, k, mine)
        assert all(release <= s and e <= deadline for s, e in mine), (name, k, mine)
        if not schedule.sliced:
            assert len(mine) == 1, (name, k, mine)
    assert not pieces, f"pieces of jobs that do not exist: {dict(pieces)}"
    ordered = sorted((s, e) for s, e, _, _ in grid)
    assert all(e <= s2 for (_, e), (s2, _) in itertools.pairwise(ordered)), ordered
    if schedule.frame is not None:
        f = schedule.frame
        assert not schedule.sliced and (h / f).denominator == 1
        assert all(math.floor(s / f) == math.ceil(e / f) - 1 for s, e, _, _ in grid)


def nonpreemptive_exists(ts: TaskSet, h: Fraction) -> bool:
    """Brute force over every job order, each job started as early as the order allows."""
    jobs = jobs_of(ts, h)
    for order in itertools.permutations(jobs):
        now, ok = Fraction(0), True
        for _, _, release, deadline, cost in order:
            now = max(now, release) + cost
            if now > deadline:
                ok = False
                break
        if ok:
            return True
    return False


def frame_grid_exists(ts: TaskSet, h: Fraction, f: Fraction) -> bool | None:
    """Brute force over every assignment of whole jobs to frames of size f that lie within
    their windows."""
    jobs, count = jobs_of(ts, h), int(h / f)
    windows = [
        [m for m in range(count) if r <= m * f and (m + 1) * f <= d] for _, _, r, d, _ in jobs
    ]
    if math.prod(len(w) for w in windows) > 20_000:
        return None  # too many to try here
    for frames in itertools.product(*windows):
        load = [Fraction(0)] * count
        for m, job in zip(frames, jobs, strict=True):
            load[m] += job[4]
        if max(load) <= f:
            return True
    return False


def overloaded_interval(ts: TaskSet, h: Fraction) -> bool:
    """Some [t1, t2) must hold more work (jobs released and due inside it) than its length."""
    jobs = jobs_of(ts, h)
    points = sorted({j[2] for j in jobs} | {j[3] for j in jobs})
    return any(
        sum(c for _, _, r, d, c in jobs if t1 <= r and d <= t2) > t2 - t1
        for t1, t2 in itertools.combinations(points, 2)
    )


# Jane W. S. Liu, "Real-Time Systems" (Prentice Hall, 2000), ch. 5 (clock-driven scheduling),
# frame-size example; task notation (p, e) or (p, e, D). Confirmed from course notes quoting it
# (benchpartner "general structure of cyclic schedules"; Texas A&M CPSC-663 slides): H = 20,
# constraint 2 leaves f in {2, 4, 5, 10, 20}, and only f = 2 satisfies the third constraint.
LIU_FRAMES = taskset(task("T1", 1, 4), task("T2", "1.8", 5), task("T3", 1, 20), task("T4", 2, 20))
# Liu ch. 5, job slices (confirmed from J. Anderson's UNC lecture notes "Clock-driven (or
# static) scheduling (Baker and Shaw and Chapter 5 ...)"): {(4, 1), (5, 2, 7), (20, 5)} needs
# f >= 5 by the first constraint and f <= 4 by the third; slicing (20, 5) into (20, 1),
# (20, 3), (20, 1) makes f = 4 work.
LIU_UNSLICED = taskset(task("T1", 1, 4), task("T2", 2, 5, 7), task("T3", 5, 20))
LIU_SLICED = taskset(
    task("T1", 1, 4),
    task("T2", 2, 5, 7),
    task("T3a", 1, 20),
    task("T3b", 3, 20),
    task("T3c", 1, 20),
)
# The cyclic-executive example our brief attributes to Burns & Wellings, "Real-Time Systems and
# Programming Languages" (minor cycle 25, major cycle 100). We could not confirm it against a
# stored copy of the book, so no page is cited: only the arithmetic below is tested.
BW = taskset(
    task("a", 10, 25), task("b", 8, 25), task("c", 5, 50), task("d", 4, 50), task("e", 2, 100)
)


def test_liu_frame_size_example_admits_only_f_2():
    """Liu (2000) ch. 5: H = 20; of the divisors 2, 4, 5, 10, 20 only f = 2 passes (3)."""
    assert hyperperiod(LIU_FRAMES) == 20
    assert frame_sizes(LIU_FRAMES) == [2]
    schedule = cyclic_schedule(LIU_FRAMES)
    check_grid(LIU_FRAMES, schedule)
    assert (schedule.frame, schedule.sliced) == (2, False)
    assert schedule.note.startswith("non-preemptive grid in 10 frames of 2 ms")


def test_liu_slicing_example_has_no_frame_size_until_T3_is_sliced_then_f_4():
    """Liu (2000) ch. 5, job slices: no frame size for (20, 5); f = 4 once it is sliced."""
    assert frame_sizes(LIU_UNSLICED) == []
    assert frame_sizes(LIU_SLICED) == [4]
    schedule = cyclic_schedule(LIU_SLICED)
    check_grid(LIU_SLICED, schedule)
    assert (schedule.hyperperiod, schedule.frame, schedule.sliced) == (20, 4, False)
    # the three slices of T3's one job run in order, in the first three frames
    starts = {name: s for s, _, name, _ in schedule.grid if name.startswith("T3")}
    assert starts["T3a"] < starts["T3b"] < starts["T3c"] <= 12


def test_with_no_frame_size_the_grid_is_non_preemptive_without_frames():
    """The empty frame-size list (Liu's unsliced set): a whole-job grid still exists."""
    schedule = cyclic_schedule(LIU_UNSLICED)
    check_grid(LIU_UNSLICED, schedule)
    assert (schedule.frame_sizes, schedule.frame, schedule.sliced) == ([], None, False)
    assert "no frame size meets the three conditions" in schedule.note
    assert "deadlines past the hyperperiod are cut to 20 ms" in schedule.note  # T2: D > T


def test_burns_wellings_minor_cycle_25_major_100():
    """Conditions (1)-(3) admit f = 10 and f = 25 for a..e; the largest, 25, is used; the table
    usually printed for this example (a b c | a b d e | a b c | a b d) is a valid f = 25 grid."""
    assert hyperperiod(BW) == 100
    assert frame_sizes(BW) == [10, 25]
    schedule = cyclic_schedule(BW)
    check_grid(BW, schedule)
    assert (schedule.frame, schedule.sliced) == (25, False)
    cost = {t.name: t.C for t in BW.tasks}
    book, count = [], defaultdict(int)
    for m, frame in enumerate(["abc", "abde", "abc", "abd"]):
        now = Fraction(25 * m)
        for name in frame:
            book.append((now, now + cost[name], name, count[name]))
            now += cost[name]
            count[name] += 1
    check_grid(
        BW, CyclicSchedule(Fraction(100), [Fraction(10), Fraction(25)], book, False, Fraction(25))
    )


def test_the_frame_search_backtracks():
    """Found by a random search: first-fit in deadline order leaves no room in frame 2's
    window here, yet a grid of 2 ms frames exists (brute force agrees)."""
    ts = taskset(task("t0", "1.75", 8, 6), task("t1", 1, 4), task("t2", "0.75", 3))
    assert frame_sizes(ts) == [2] and frame_grid_exists(ts, Fraction(24), Fraction(2))
    schedule = cyclic_schedule(ts)
    check_grid(ts, schedule)
    assert schedule.frame == 2


def test_hyperperiod_is_exact_for_fractions():
    half_third = taskset(task("a", "0.1", "1/2"), task("b", "0.1", "1/3"))
    assert hyperperiod(half_third) == 1
    assert hyperperiod(taskset(task("a", "0.1", "0.4"), task("b", "0.1", "0.6"))) == Fraction(6, 5)
    with pytest.raises(PlanError, match=re.escape("the task set is empty")):
        hyperperiod(taskset())


def test_frame_sizes_in_the_task_sets_unit():
    """Times in halves: candidates are divisors of the periods in half units (3 and 6)."""
    ts = taskset(task("a", "0.5", "1.5"), task("b", "0.5", 3), units="s")
    assert frame_sizes(ts) == [Fraction(1, 2), 1, Fraction(3, 2)]
    schedule = cyclic_schedule(ts)
    check_grid(ts, schedule)
    assert schedule.frame == Fraction(3, 2)


def test_without_a_non_preemptive_grid_edf_slices_jobs():
    """b (C=3) run whole would cover one of a's windows [2k, 2k+2): only a sliced grid works."""
    ts = taskset(task("a", 1, 2), task("b", 3, 6))
    schedule = cyclic_schedule(ts)
    check_grid(ts, schedule)
    assert schedule.sliced and schedule.frame is None
    assert schedule.note.startswith(
        "preemptive EDF grid: jobs are sliced; the grid does not follow frames"
    )
    assert "no non-preemptive grid: none exists" in schedule.note


def test_a_search_bound_is_reported_not_hidden():
    schedule = cyclic_schedule(LIU_FRAMES, max_steps=0)
    check_grid(LIU_FRAMES, schedule)
    assert schedule.sliced
    assert "no non-preemptive grid: none found within max_steps=0" in schedule.note
    assert "frame size 2 (search bound reached)" in schedule.note


def test_an_overloaded_set_gets_no_grid_and_the_missing_job_named():
    """By hand, EDF: a0 0-3, b0 3-5, a1 5-8, b1 8-10, a2 10-13 > its deadline 12."""
    ts = taskset(task("a", 3, 4), task("b", 2, 5))
    schedule = cyclic_schedule(ts)
    assert schedule.grid is None
    assert schedule.note.startswith(
        "job 2 of task 'a' (released at 8 ms) misses its deadline 12 ms: EDF finishes it at 13"
    )
    assert schedule.to_json()["grid"] is None


def test_a_huge_hyperperiod_returns_with_its_size():
    """Periods 997, 991, 983, 977 (primes): H is their product, billions of jobs."""
    ts = taskset(*(task(f"p{p}", 1, p) for p in (997, 991, 983, 977)))
    h = 997 * 991 * 983 * 977
    jobs = sum(h // p for p in (997, 991, 983, 977))
    schedule = cyclic_schedule(ts)
    assert schedule.grid is None and schedule.hyperperiod == h
    assert f"the hyperperiod {h} ms holds {jobs} jobs, more than max_jobs=10000" in schedule.note


def test_to_json_numbers_and_text_grid():
    schedule = cyclic_schedule(LIU_FRAMES)
    data = schedule.to_json()
    assert set(data) == {"hyperperiod", "frame_sizes", "grid", "sliced"}
    assert (data["hyperperiod"], data["frame_sizes"], data["sliced"]) == (20, [2], False)
    assert data["grid"][0] == [0, 1.8, "T2", 0] and isinstance(data["grid"][1][0], int)
    text = text_grid(schedule)
    assert "frame 0 [0, 2): T2#0 0-1.8" in text and "frame 9 [18, 20): T1#4 18-19" in text
    assert "T4 |" + "." * 70 + "#" * 10 + "." * 20 + "|" in text  # one column = 0.2 ms
    assert "one column = 0.2 ms" in text
    assert text_grid(cyclic_schedule(taskset(task("a", 3, 4), task("b", 2, 5)))).endswith(
        "no frame size meets the three conditions"
    )


def random_taskset(rng: random.Random) -> TaskSet:
    tasks = []
    for n in range(rng.randint(1, 3)):
        period = rng.choice([2, 3, 4, 6, 8, 12])
        cost = Fraction(rng.randint(1, 2 * period), 4)  # quarters up to half the period
        deadline = rng.choice([period, period, rng.randint(1, period), period + rng.randint(1, 3)])
        tasks.append(task(f"t{n}", cost, period, max(Fraction(deadline), cost)))
    return taskset(*tasks)


def test_random_sets_every_grid_is_valid_and_every_verdict_is_right():
    """Seeded: each grid passes ``check_grid``; a frame grid exists iff one was found (for
    small sets, by brute force), a whole-job grid iff one was found, and no grid only when some
    interval holds more work than its length."""
    rng = random.Random(20240521)
    kinds: defaultdict[str, int] = defaultdict(int)
    for _ in range(300):
        ts = random_taskset(rng)
        schedule = cyclic_schedule(ts, max_steps=50_000)
        h = schedule.hyperperiod
        n_jobs = len(jobs_of(ts, h))
        if schedule.grid is None:
            kinds["none"] += 1
            assert "misses its deadline" in schedule.note
            assert overloaded_interval(ts, h)
            continue
        check_grid(ts, schedule)
        kinds["frames" if schedule.frame else "sliced" if schedule.sliced else "whole"] += 1
        if n_jobs <= 7:
            assert nonpreemptive_exists(ts, h) == (not schedule.sliced), schedule.note
        exists = {frame_grid_exists(ts, h, f) for f in schedule.frame_sizes}
        if schedule.frame is None and exists == {False}:
            kinds["no frame grid, by brute force"] += 1
        assert schedule.frame is not None or True not in exists, schedule.note
    assert all(kinds[k] >= 10 for k in ("frames", "whole", "sliced", "none")), dict(kinds)
    assert kinds["no frame grid, by brute force"] >= 5, dict(kinds)


def test_write_gantt_writes_a_png(tmp_path):
    for name, ts in [("frames", BW), ("sliced", taskset(task("a", 1, 2), task("b", 3, 6)))]:
        path = write_gantt(cyclic_schedule(ts), tmp_path / f"{name}.png")
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_write_gantt_errors(tmp_path, monkeypatch):
    overloaded = cyclic_schedule(taskset(task("a", 3, 4), task("b", 2, 5)))
    with pytest.raises(PlanError, match=re.escape("no grid to draw: job 2 of task 'a'")):
        write_gantt(overloaded, tmp_path / "x.png")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(PlanError, match=re.escape("pip install matplotlib")):
        write_gantt(cyclic_schedule(BW), tmp_path / "y.png")
    assert not (tmp_path / "y.png").exists()

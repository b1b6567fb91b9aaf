"""The cyclic executive: a time table over one hyperperiod, in frames when it can be.

A cyclic executive runs a fixed table that repeats every hyperperiod H (the major cycle); with
frames (minor cycles) of size f the dispatcher only wakes at frame boundaries and runs whole
jobs (Baker & Shaw 1989; Jane Liu, *Real-Time Systems*, 2000, ch. 5). ``cyclic_schedule``
tries, in order, each admissible frame size (largest first: fewest wake-ups), then a
non-preemptive table not bound to frames, then the preemptive EDF table (jobs sliced).

All searches work in integer units: the task set's times scaled by the LCM of the
denominators of every C, T and D. The table is self-contained: a job released in [0, H) runs
within [release, min(release + D, H)), so the first repetition is as correct as every later
one. For D > T that is stricter than a table whose jobs wrap into the next cycle (noted when it
matters). J, B and priorities are not used: a table dispatches at fixed times.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

from squall.plan.model import PlanError, TaskSet, as_number

MAX_JOBS = 10_000  # jobs in one hyperperiod: a longer table is not built
MAX_FRAMES = 100_000  # frames in one hyperperiod: a frame size giving more is skipped
MAX_STEPS = 1_000_000  # steps of each search (frames; not bound to frames)
_MAX_DIVISOR_WORK = 2_000_000  # trial divisions to enumerate one period's frame sizes

Slot = tuple[Fraction, Fraction, str, int]  # start, end, task, job (0-based in H)


@dataclass
class CyclicSchedule:
    """A time grid over one hyperperiod (``grid``: None when none was built; ``note`` says why).

    ``sliced``: jobs are cut into pieces (the preemptive EDF grid, not bound to frames);
    ``frame``: the frame size the grid follows, or None.
    """

    hyperperiod: Fraction
    frame_sizes: list[Fraction]
    grid: list[Slot] | None
    sliced: bool = False
    frame: Fraction | None = None
    note: str = ""
    units: str = "ms"
    tasks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "hyperperiod": as_number(self.hyperperiod),
            "frame_sizes": [as_number(f) for f in self.frame_sizes],
            "grid": None
            if self.grid is None
            else [[as_number(s), as_number(e), name, job] for s, e, name, job in self.grid],
            "sliced": self.sliced,
        }


class _Job(NamedTuple):
    task: int  # index in the task set
    k: int  # job index within the hyperperiod
    r: int  # release, integer units
    d: int  # absolute deadline, cut to the hyperperiod's end
    c: int  # cost


def _show(value: Fraction) -> str:
    return str(as_number(value))


def _scale(ts: TaskSet) -> int:
    return math.lcm(*(v.denominator for t in ts.tasks for v in (t.C, t.T, t.D)))


def _require_tasks(ts: TaskSet) -> None:
    if not ts.tasks:
        raise PlanError("the task set is empty: a cyclic executive needs at least one task")


def hyperperiod(ts: TaskSet) -> Fraction:
    """LCM of the periods, exact for Fractions: lcm of the numerators over gcd of denominators."""
    _require_tasks(ts)
    numerator = math.lcm(*(t.T.numerator for t in ts.tasks))
    denominator = math.gcd(*(t.T.denominator for t in ts.tasks))
    return Fraction(numerator, denominator)


def _divisors_between(n: int, lo: int, hi: int, where: str) -> list[int]:
    """Divisors d of n with lo <= d <= hi: by trying each d, or n's divisors up to sqrt(n)."""
    hi = min(hi, n)
    work = min(hi - lo + 1, math.isqrt(n))
    if work > _MAX_DIVISOR_WORK:
        raise PlanError(
            f"frame sizes: {where} has too many candidates to enumerate ({work} trials, "
            f"bound {_MAX_DIVISOR_WORK}); use coarser times"
        )
    if work <= 0:
        return []
    if work == hi - lo + 1:
        return [d for d in range(lo, hi + 1) if n % d == 0]
    pairs = ((i, n // i) for i in range(1, math.isqrt(n) + 1) if n % i == 0)
    return sorted({d for pair in pairs for d in pair if lo <= d <= hi})


def frame_sizes(ts: TaskSet) -> list[Fraction]:
    """Every frame size f meeting the classic conditions (Baker & Shaw 1989; Liu ch. 5).

    (1) f >= max C_i; (2) f divides at least one period; (3) 2f - gcd(T_i, f) <= D_i for every
    i. Candidates are the divisors of the periods in the task set's integer unit (see the
    module docstring); finer rational sizes are not considered. Ascending; may be empty.
    """
    _require_tasks(ts)
    scale = _scale(ts)
    periods = [int(t.T * scale) for t in ts.tasks]
    deadlines = [int(t.D * scale) for t in ts.tasks]
    lo = max(int(t.C * scale) for t in ts.tasks)
    hi = min(deadlines)  # (3) implies f <= D_i, as gcd(T_i, f) <= f
    candidates: set[int] = set()
    for t, p in zip(ts.tasks, periods, strict=True):
        where = f"the period of task {t.name!r} ({_show(t.T)} {ts.units})"
        candidates.update(_divisors_between(p, lo, hi, where))
    return [
        Fraction(f, scale)
        for f in sorted(candidates)
        if all(2 * f - math.gcd(p, f) <= d for p, d in zip(periods, deadlines, strict=True))
    ]


def _frame_search(
    jobs: list[_Job], f: int, n_frames: int, budget: int
) -> tuple[list[int] | None, int, bool]:
    """Whole jobs into frames by backtracking: (frame of each job or None, steps, exhaustive)."""
    n = len(jobs)
    first = [-(-j.r // f) for j in jobs]
    last = [j.d // f - 1 for j in jobs]
    if any(a > b for a, b in zip(first, last, strict=True)) or any(j.c > f for j in jobs):
        return None, 0, True
    order = sorted(range(n), key=lambda i: (last[i], first[i], -jobs[i].c, jobs[i].task, jobs[i].k))
    room = [f] * n_frames
    frame_of = [-1] * n
    next_try = [first[i] for i in order]  # per position in order: the next frame to try
    pos, steps = 0, 0
    while 0 <= pos < n:
        i = order[pos]
        c = jobs[i].c
        if frame_of[i] >= 0:  # back here: take the job out and try a later frame
            room[frame_of[i]] += c
            frame_of[i] = -1
        k = next_try[pos]
        while k <= last[i] and room[k] < c:
            k += 1
        steps += k - next_try[pos] + 1
        if steps > budget:
            return None, steps, False
        if k <= last[i]:
            room[k] -= c
            frame_of[i] = k
            next_try[pos] = k + 1
            pos += 1
        else:  # no frame left for this job: the next visit starts over
            next_try[pos] = first[i]
            pos -= 1
    return (frame_of if pos == n else None), steps, True


def _free_search(jobs: list[_Job], budget: int) -> tuple[list[int] | None, int, bool]:
    """Non-preemptive job order by branch and bound (Bratley et al. 1971): (start of each job
    or None, steps, exhaustive). Only jobs released before every other job could finish are
    branched on; an exhaustive failure proves no non-preemptive grid exists."""
    n = len(jobs)
    order = sorted(range(n), key=lambda i: (jobs[i].r, jobs[i].d, i))
    rel = [jobs[i].r for i in order]
    cost = [jobs[i].c for i in order]
    due = [jobs[i].d for i in order]
    done = [False] * n
    start = [0] * n  # by job index
    steps = 0

    def candidates(now: int, lo: int) -> list[int] | None:
        nonlocal steps
        bound, scanned, p = math.inf, [], lo
        while p < n and rel[p] < bound:
            steps += 1
            if not done[p]:
                finish = max(now, rel[p]) + cost[p]
                if finish > due[p]:
                    return None  # that job can no longer make its deadline
                bound = min(bound, finish)
                scanned.append(p)
            p += 1
        return sorted((q for q in scanned if rel[q] < bound), key=lambda q: (due[q], rel[q], q))

    if n == 0:
        return [], 0, True
    root = candidates(0, 0)
    # a node: its candidates, and [next candidate, time, first unscheduled, chosen or -1]
    stack = [(root, [0, 0, 0, -1])] if root else []
    while stack:
        below, node = stack[-1]
        if node[3] >= 0:
            done[node[3]] = False
            node[3] = -1
        if node[0] == len(below):
            stack.pop()
            continue
        p = below[node[0]]
        node[0] += 1
        done[p], node[3] = True, p
        start[order[p]] = max(node[1], rel[p])
        now, lo = start[order[p]] + cost[p], node[2]
        while lo < n and done[lo]:
            lo += 1
        if lo == n:
            return start, steps, True
        nxt = candidates(now, lo)
        if steps > budget:
            return None, steps, False
        if nxt:
            stack.append((nxt, [0, now, lo, -1]))
    return None, steps, True


def _edf(jobs: list[_Job]) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Preemptive EDF from time 0: pieces (start, end, job) and each job's finishing time."""
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].r)
    left = [j.c for j in jobs]
    finish = [0] * len(jobs)
    ready: list[tuple[int, int, int, int]] = []
    pieces: list[tuple[int, int, int]] = []
    now, nxt = 0, 0
    while nxt < len(order) or ready:
        if not ready:
            now = max(now, jobs[order[nxt]].r)
        while nxt < len(order) and jobs[order[nxt]].r <= now:
            j = jobs[order[nxt]]
            heapq.heappush(ready, (j.d, j.task, j.k, order[nxt]))
            nxt += 1
        i = ready[0][3]
        until = jobs[order[nxt]].r if nxt < len(order) else now + left[i]
        run = min(left[i], until - now)
        if pieces and pieces[-1][2] == i and pieces[-1][1] == now:
            pieces[-1] = (pieces[-1][0], now + run, i)
        else:
            pieces.append((now, now + run, i))
        now += run
        left[i] -= run
        if left[i] == 0:
            heapq.heappop(ready)
            finish[i] = now
    return pieces, finish


def cyclic_schedule(
    ts: TaskSet, max_steps: int = MAX_STEPS, max_jobs: int = MAX_JOBS
) -> CyclicSchedule:
    """A grid over one hyperperiod: frame-based and non-preemptive if any frame size allows it,
    else non-preemptive without frames, else preemptive EDF (sliced), else None with the missed
    job in ``note``. Each search is bounded by ``max_steps``; a hyperperiod holding more than
    ``max_jobs`` jobs gets no grid (the note gives its size)."""
    if max_steps < 0 or max_jobs < 1:
        raise PlanError(f"max_steps={max_steps}, max_jobs={max_jobs}: need >= 0 and >= 1")
    big_h = hyperperiod(ts)
    out = CyclicSchedule(big_h, [], None, units=ts.units, tasks=tuple(t.name for t in ts.tasks))
    u, notes = ts.units, []
    try:
        out.frame_sizes, sizes_note = frame_sizes(ts), "no frame size meets the three conditions"
    except PlanError as exc:
        sizes_note = str(exc)
    counts = [int(big_h / t.T) for t in ts.tasks]
    if sum(counts) > max_jobs:
        out.note = (
            f"the hyperperiod {_show(big_h)} {u} holds {sum(counts)} jobs, more than "
            f"max_jobs={max_jobs}: no grid is built (harmonic periods keep the table short)"
        )
        return out
    scale = _scale(ts)
    h = int(big_h * scale)
    jobs = [
        _Job(ti, k, int(k * t.T * scale), min(int((k * t.T + t.D) * scale), h), int(t.C * scale))
        for ti, t in enumerate(ts.tasks)
        for k in range(counts[ti])
    ]
    if any(t.D > t.T for t in ts.tasks):  # the last job's deadline H - T + D is past H
        notes.append(f"deadlines past the hyperperiod are cut to {_show(big_h)} {u} (no wrapping)")
    if any(t.J or t.B for t in ts.tasks):
        notes.append("J and B are not used by a table")

    def at(x: int) -> Fraction:
        return Fraction(x, scale)

    def finish(
        pieces: list[tuple[int, int, int]], sliced: bool, frame: Fraction | None, what: str
    ) -> CyclicSchedule:
        named = ((at(s), at(e), ts.tasks[jobs[i].task].name, jobs[i].k) for s, e, i in pieces)
        out.grid, out.sliced, out.frame = sorted(named), sliced, frame
        out.note = "; ".join([what, *notes])
        return out

    budget, failed = max_steps, []
    for f in sorted((int(x * scale) for x in out.frame_sizes), reverse=True):
        if h // f > MAX_FRAMES:
            failed.append(f"{_show(at(f))}: {h // f} frames, more than {MAX_FRAMES}")
            continue
        frame_of, used, exhaustive = _frame_search(jobs, f, h // f, budget)
        budget -= used
        if frame_of is None:
            failed.append(_show(at(f)) + ("" if exhaustive else " (search bound reached)"))
            continue
        pieces, fill = [], [m * f for m in range(h // f)]
        for i in sorted(range(len(jobs)), key=lambda i: (jobs[i].d, jobs[i].task, jobs[i].k)):
            m = frame_of[i]
            pieces.append((fill[m], fill[m] + jobs[i].c, i))
            fill[m] += jobs[i].c
        frames = f"{h // f} frames of {_show(at(f))} {u}"
        return finish(pieces, False, at(f), f"non-preemptive grid in {frames}")
    if failed:
        notes.insert(0, "no non-preemptive frame grid for frame size " + ", ".join(failed))
    elif not out.frame_sizes:
        notes.insert(0, sizes_note)

    starts, used, exhaustive = _free_search(jobs, max_steps)
    if starts is not None:
        pieces = [(s, s + j.c, i) for i, (s, j) in enumerate(zip(starts, jobs, strict=True))]
        return finish(pieces, False, None, "non-preemptive grid not bound to frames")
    why = "none exists" if exhaustive else f"none found within max_steps={max_steps}"
    notes.insert(0, f"no non-preemptive grid: {why}")

    pieces, done_at = _edf(jobs)
    late = [i for i, j in enumerate(jobs) if done_at[i] > j.d]
    if late:
        i = min(late, key=lambda i: (jobs[i].d, jobs[i].task))
        j = jobs[i]
        miss = (
            f"job {j.k} of task {ts.tasks[j.task].name!r} (released at {_show(at(j.r))} {u}) "
            f"misses its deadline {_show(at(j.d))} {u}: EDF finishes it at {_show(at(done_at[i]))} {u}, "
            "so no grid exists, preemptive or not (EDF is optimal on one processor)"
        )
        out.note = "; ".join([miss, *notes])
        return out
    what = "preemptive EDF grid: jobs are sliced; the grid does not follow frames"
    return finish(pieces, True, None, what)


def _rows(schedule: CyclicSchedule, grid: list[Slot], width: int) -> list[str]:
    """One row per task, one column per time step, when the whole hyperperiod fits in width."""
    points = [schedule.hyperperiod] + [x for s, e, _, _ in grid for x in (s, e)]
    if schedule.frame is not None:
        points.append(schedule.frame)
    denominator = math.lcm(*(p.denominator for p in points))
    step = Fraction(math.gcd(*(int(p * denominator) for p in points)), denominator)
    columns = int(schedule.hyperperiod / step)
    if columns > width:
        return []
    names = list(schedule.tasks) or sorted({name for _, _, name, _ in grid})
    pad = max(len(n) for n in names)
    rows = []
    for name in names:
        cells = ["."] * columns
        for s, e, who, _ in grid:
            if who == name:
                cells[int(s / step) : int(e / step)] = ["#"] * int((e - s) / step)
        rows.append(f"{name.ljust(pad)} |{''.join(cells)}|")
    if schedule.frame is not None:
        ticks = [" "] * columns
        for m in range(int(schedule.hyperperiod / schedule.frame)):
            ticks[int(m * schedule.frame / step)] = "^"
        rows.append(f"{' ' * pad}  {''.join(ticks)}  frames")
    rows.append(f"{' ' * pad}  one column = {_show(step)} {schedule.units}")
    return rows


def text_grid(schedule: CyclicSchedule, width: int = 100) -> str:
    """A readable time line: a row per task when it fits in ``width`` columns, then the grid as
    a list (one line per frame when it follows frames)."""
    sizes = ", ".join(_show(f) for f in schedule.frame_sizes) or "none"
    lines = [
        f"cyclic executive: hyperperiod {_show(schedule.hyperperiod)} {schedule.units}; "
        f"frame sizes {sizes}",
        schedule.note,
    ]
    if schedule.grid is None:
        return "\n".join(lines)
    lines += _rows(schedule, schedule.grid, width)
    entries = [(s, f"{name}#{job} {_show(s)}-{_show(e)}") for s, e, name, job in schedule.grid]
    f = schedule.frame
    if f is None:
        return "\n".join(lines + [text for _, text in entries])
    frames: list[list[str]] = [[] for _ in range(int(schedule.hyperperiod / f))]
    for start, text in entries:
        frames[int(start / f)].append(text)
    for m, inside in enumerate(frames):
        lines.append(
            f"frame {m} [{_show(m * f)}, {_show((m + 1) * f)}): {', '.join(inside) or 'idle'}"
        )
    return "\n".join(lines)

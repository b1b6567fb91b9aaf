"""Which job a worker runs next: one queue across all its executors, ordered by a policy.

Issue 11, item 3. Today each executor has an inbox and the worker visits the inboxes in a fixed
order, so a tuple whose deadline is 2 ms away waits behind a full batch of another executor's
tuples due in a second. Here a worker keeps ONE scheduler holding every ready job of every
executor; ``pop`` answers "which job, anywhere in this worker, runs next". The earliest deadline
anywhere runs next, whatever the queue it belongs to.

A job is one tuple waiting for one executor (a fused chain of components is one executor).
Policies, by name (``make_scheduler``; the setting ``squall.scheduler``):

- ``fifo``: arrival order, today's behaviour;
- ``edf``:  earliest absolute deadline first (dynamic priority);
- ``llf``:  least laxity first, laxity = deadline - now - remaining cost (dynamic priority);
- ``dm``:   deadline monotonic, the shortest relative deadline of the job's stream first (fixed);
- ``rm``:   rate monotonic, the highest rate of the job's stream first (fixed; = ``dm`` when
            every stream's deadline is its period).

Ties always go to the earlier arrival (``Job.seq``), so a policy never reorders the jobs of one
stream among themselves unless their deadlines say so.

Cost: ``push`` and ``pop`` are O(log n) (a binary heap; ``fifo`` is a deque, O(1)). The only
allocation per job is its queue entry: the ``(key, seq, job)`` tuple of the heap (``fifo``
stores the ``Job`` itself). Keys are compared as tuples of floats and ints, in C, never by a
Python ``__lt__``. Jobs are read by index, never by field name: a job may be a ``Job`` or any
tuple that starts with ``Job``'s fields in its order (the worker's runtime builds plain tuples
and pushes onto ``PriorityScheduler.heap`` itself: no namedtuple and no Python call per job).

Overload: under plain EDF one hopeless job (one that can no longer meet its deadline) still runs
to completion and makes every later job late too, the domino effect. ``pop_feasible`` (at
dispatch, O(log n) per dropped job) and ``discard_hopeless`` (a full sweep, O(n)) hand such jobs
back to the caller, to be counted and acked as shed, instead of running them. Only jobs marked
``sheddable`` are dropped: a hard stream's job runs late rather than not at all.

A new policy is one small class: subclass ``PriorityScheduler``, give it a ``name`` and a
``push`` that puts ``(key, job.seq, job)`` on ``self._heap`` (lower key runs first), and add it
to ``SCHEDULERS``.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush
from typing import Any, ClassVar, NamedTuple, Protocol

from squall.errors import ConfigError


class Job(NamedTuple):
    """One tuple waiting for one executor. Times are seconds on the worker's clock.

    ``seq`` must be unique within a scheduler and increase with arrival: the worker's tuple ids
    are. It breaks every tie, so two jobs are never compared field by field.
    """

    item: Any  # what the executor runs: the delivered tuple
    executor: Any  # whom it belongs to: the worker's Executor (or a task id)
    release: float  # when the job's tree was released (record timestamp, due time of a reading)
    deadline: float  # absolute: release + the stream's relative deadline
    remaining_s: float  # estimated cost of the rest of its path (sum of measured mean costs)
    relative_deadline_s: float  # its stream's D, for DM
    rate_per_s: float  # its stream's rate, for RM
    seq: int  # arrival order
    # A firm stream's job may be dropped when hopeless (a late result is worthless); hard and
    # soft jobs never are, so the safe default is False.
    sheddable: bool = False
    tree: Any = None  # the worker's runtime: the job's tree (None: best effort); else unused


def hopeless(job: Job, now: float) -> bool:
    """True when ``job`` cannot finish by its deadline anymore, even if it ran right now.

    Finishing exactly at the deadline meets it (lateness = finish - deadline is 0, not > 0).
    """
    return job[3] - now < job[4]  # deadline - now < remaining_s (by index: see the module doc)


def droppable(job: Job, now: float) -> bool:
    """A hopeless job that may be shed (firm streams only); ``pop_feasible`` inlines it."""
    return job[8] and job[3] - now < job[4]  # sheddable and hopeless()


class Scheduler(Protocol):
    """The ready jobs of one worker and the order they run in."""

    name: ClassVar[str]

    def push(self, job: Job) -> None:
        """Add a ready job."""
        ...

    def pop(self) -> Job:
        """Remove and return the job to run next; IndexError when there is none."""
        ...

    def pop_feasible(self, now: float, dropped: list[Job]) -> Job | None:
        """The next job to run, after moving the hopeless sheddable ones ahead of it to
        ``dropped``; None when nothing is left to run."""
        ...

    def discard_hopeless(self, now: float) -> list[Job]:
        """Remove every sheddable job that cannot meet its deadline; return them by arrival."""
        ...

    def __len__(self) -> int: ...


class Fifo:
    """Arrival order, whatever the deadlines: Storm's executor queues, and squall's default."""

    __slots__ = ("_jobs", "push", "pop")
    name: ClassVar[str] = "fifo"

    def __init__(self) -> None:
        self._jobs: deque[Job] = deque()
        # the deque's own methods, bound once: no Python frame per push or pop
        self.push = self._jobs.append
        self.pop = self._jobs.popleft

    def pop_feasible(self, now: float, dropped: list[Job]) -> Job | None:
        # Only the head is checked: a job deeper in the queue is judged when its turn comes,
        # which is the moment that matters (and ``now`` only grows, so it can only get worse).
        jobs = self._jobs
        while jobs:
            job = jobs.popleft()
            if job[8] and job[3] - now < job[4]:  # droppable(), inlined
                dropped.append(job)
                continue
            return job
        return None

    def discard_hopeless(self, now: float) -> list[Job]:
        kept: deque[Job] = deque()
        dropped: list[Job] = []
        for job in self._jobs:
            if droppable(job, now):
                dropped.append(job)
            else:
                kept.append(job)
        if dropped:
            self._jobs.clear()
            self._jobs.extend(kept)  # keeps the bound push/pop valid
        return dropped

    def __len__(self) -> int:
        return len(self._jobs)


class PriorityScheduler:
    """A binary heap of ``(key, seq, job)``: the lowest key runs next, ties by arrival.

    Subclasses are the policies; each only says how a job's key is computed, in ``push``.
    (``push`` is written out per policy rather than calling a ``key`` method: one Python call
    less per job, on the hot path.)
    """

    __slots__ = ("_heap",)
    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Job]] = []

    @property
    def heap(self) -> list[tuple[float, int, Job]]:
        """The queue itself, the same list for the scheduler's life: the worker's runtime
        pushes ``(key, seq, job)`` entries and pops them here directly, on its hot path."""
        return self._heap

    def push(self, job: Job) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define push (its policy's key)")

    def pop(self) -> Job:
        return heappop(self._heap)[2]

    def pop_feasible(self, now: float, dropped: list[Job]) -> Job | None:
        heap = self._heap
        while heap:
            job = heappop(heap)[2]
            if job[8] and job[3] - now < job[4]:  # droppable(), inlined
                dropped.append(job)
                continue
            return job
        return None

    def discard_hopeless(self, now: float) -> list[Job]:
        kept: list[tuple[float, int, Job]] = []
        dropped: list[tuple[float, int, Job]] = []
        for entry in self._heap:
            if droppable(entry[2], now):
                dropped.append(entry)
            else:
                kept.append(entry)
        if dropped:
            heapify(kept)  # O(n): cheaper than n removals of O(log n) each
            self._heap[:] = kept  # in place: ``heap`` stays the one list
        dropped.sort(key=lambda entry: entry[1])  # arrival order: the same answer every run
        return [entry[2] for entry in dropped]

    def __len__(self) -> int:
        return len(self._heap)


class Edf(PriorityScheduler):
    """Earliest absolute deadline first; ties by arrival.

    Optimal on one processor while the load is feasible, and the worst under overload unless
    hopeless jobs are dropped (``pop_feasible``): see the module docstring.
    """

    __slots__ = ()
    name = "edf"

    def push(self, job: Job) -> None:
        heappush(self._heap, (job[3], job[7], job))  # (deadline, seq, job)


class Llf(PriorityScheduler):
    """Least laxity first: laxity = deadline - now - remaining cost; ties by arrival.

    Laxity changes with time, yet the heap is keyed once, by ``deadline - remaining_s``, and
    that is exact, not an approximation: every queued job is compared at the same ``now``, and
    ``deadline_a - now - remaining_a < deadline_b - now - remaining_b`` holds exactly when
    ``deadline_a - remaining_a < deadline_b - remaining_b``; ``now`` cancels. A queued job's
    remaining cost does not change while it waits (only running shortens it, and a running job
    is out of the queue), so the key is the latest start time and stays valid: O(log n) per job,
    no re-keying. (The thrashing of preemptive LLF, where the laxities of the waiting jobs fall
    below the running one's, cannot happen here: the worker does not preempt a running job.)

    The key is frozen at push: a cost estimate revised later applies to jobs pushed afterwards;
    re-keying the queued ones would be O(n). A bonus of this key: hopeless <=> key < now, so
    the hopeless jobs are all at the top of the heap and ``pop_feasible`` finds every one.
    """

    __slots__ = ()
    name = "llf"

    def push(self, job: Job) -> None:
        heappush(self._heap, (job[3] - job[4], job[7], job))  # (deadline - remaining_s, seq)


class Dm(PriorityScheduler):
    """Deadline monotonic: fixed priority by the stream's relative deadline, shortest first."""

    __slots__ = ()
    name = "dm"

    def push(self, job: Job) -> None:
        heappush(self._heap, (job[5], job[7], job))  # (relative_deadline_s, seq, job)


class Rm(PriorityScheduler):
    """Rate monotonic: fixed priority by the stream's rate, highest first (shortest period)."""

    __slots__ = ()
    name = "rm"

    def push(self, job: Job) -> None:
        heappush(self._heap, (-job[6], job[7], job))  # (-rate_per_s, seq, job)


SCHEDULERS: dict[str, type[Fifo] | type[PriorityScheduler]] = {
    cls.name: cls for cls in (Fifo, Edf, Llf, Dm, Rm)
}


def make_scheduler(name: str, where: str = "setting squall.scheduler") -> Scheduler:
    """A new, empty scheduler of the policy ``name``; ConfigError naming the valid ones if unknown.

    ``where`` says where the name came from, for the message (a config file, ``-o``).
    """
    cls = SCHEDULERS.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown scheduler {name!r} ({where}); valid: {', '.join(sorted(SCHEDULERS))}"
        )
    scheduler: Scheduler = cls()
    return scheduler

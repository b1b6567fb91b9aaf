"""Multi-process mode: tasks spread over worker processes, so CPU-bound bolts use every core.

Tasks are dealt round-robin to workers (as Storm's even scheduler deals executors). Each worker
runs the same loop as single-process mode; tuples and acks for another worker's tasks travel in
batches over a ``multiprocessing`` queue per worker. Acks can arrive out of order across workers,
which the XOR acker tolerates. The coordinator (the parent) decides when to stop: time limit,
Ctrl-C, the first error with ``squall.fail.fast``, or global quiescence with ``until_idle``
(every worker idle and every message sent also received, seen twice in a row).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import time
from collections import defaultdict
from typing import Any

from squall.clock import MonotonicClock
from squall.model import TopologyModel
from squall.results import RunResult, Snapshot
from squall.settings import RunSettings
from squall.worker import Worker

_CTX = mp.get_context("fork")  # workers inherit the loaded topology classes, as Storm's JVMs load the jar

# per-worker shared counters
IDLE, SENT, RECV, QUEUED, PENDING, EMITTED, ACKED, FAILED, ERRORS = range(9)
NCOUNTERS = 9


class QueueTransport:
    def __init__(self, index: int, queues: list[Any], counters: Any, cap: int) -> None:
        self.index = index
        self.queues = queues
        self.counters = counters
        self.cap = cap
        self.out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        self.sent = 0
        self.received = 0

    def send(self, worker: int, msg: tuple[Any, ...]) -> None:
        self.out[worker].append(msg)

    def flush(self) -> None:
        for worker, msgs in self.out.items():
            if msgs:
                self.queues[worker].put(msgs)
                self.sent += len(msgs)
        self.out.clear()

    def receive(self) -> list[tuple[Any, ...]]:
        got: list[tuple[Any, ...]] = []
        inbound = self.queues[self.index]
        for _ in range(8):
            try:
                got.extend(inbound.get_nowait())
            except queue.Empty:
                break
        self.received += len(got)
        return got

    def backlog_exceeded(self) -> bool:
        c = self.counters
        for w in range(len(self.queues)):
            if w != self.index and c[w * NCOUNTERS + QUEUED] >= self.cap:
                return True
        return False


def _publish(worker: Worker, transport: QueueTransport, counters: Any, idle: bool) -> None:
    base = worker.index * NCOUNTERS
    spout_stats = [ex.stats for ex in worker.spouts]
    values = {
        IDLE: int(idle), SENT: transport.sent, RECV: transport.received, QUEUED: worker.queued(),
        PENDING: len(worker.acker), EMITTED: sum(s.emitted for s in spout_stats),
        ACKED: sum(s.acked for s in spout_stats), FAILED: sum(s.failed for s in spout_stats),
        ERRORS: len(worker.result.errors),
    }
    with counters.get_lock():
        for k, v in values.items():
            counters[base + k] = v


def _worker_main(
    model: TopologyModel, settings: RunSettings, index: int, tasks: list[int],
    task_worker: dict[int, int], queues: list[Any], counters: Any, events: dict[str, Any],
    results: Any, capture: bool,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator turns Ctrl-C into a clean stop
    transport = QueueTransport(index, queues, counters, settings.queue_capacity)
    worker = Worker(model, settings, tasks, MonotonicClock(), index=index, task_worker=task_worker,
                    transport=transport, capture=capture)
    worker.start()
    next_publish = 0.0
    quiet_rounds = 0
    while not events["finish"].is_set():
        if events["stop_spouts"].is_set():
            worker.spouts_stopped = True
        progressed = worker.step()
        quiet_rounds = 0 if progressed else quiet_rounds + 1
        now = time.monotonic()
        # idle needs a few quiet rounds: one empty receive can race a batch still in the pipe
        idle = quiet_rounds >= 3 and worker.idle()
        if now >= next_publish or idle:
            _publish(worker, transport, counters, idle)
            next_publish = now + 0.05
        if not progressed:
            time.sleep(0.0005)
    worker.close()
    results.put((index, worker.collect()))


def _totals(counters: Any, workers: int) -> list[int]:
    with counters.get_lock():
        return [sum(counters[w * NCOUNTERS + k] for w in range(workers)) for k in range(NCOUNTERS)]


def _quiescent(counters: Any, workers: int) -> tuple[bool, tuple[int, int]]:
    t = _totals(counters, workers)
    return t[IDLE] == workers and t[SENT] == t[RECV], (t[SENT], t[RECV])


def run_multiprocess(
    model: TopologyModel, settings: RunSettings, workers: int, *, seconds: float | None,
    capture: bool, until_idle: bool, progress: Any, progress_every_s: float,
) -> RunResult:
    ordered = sorted(model.task_component)
    task_worker = {t: i % workers for i, t in enumerate(ordered)}
    queues = [_CTX.Queue() for _ in range(workers)]
    counters = _CTX.Array("q", workers * NCOUNTERS)
    events = {"stop_spouts": _CTX.Event(), "finish": _CTX.Event()}
    results = _CTX.Queue()
    procs = []
    for w in range(workers):
        tasks = [t for t in ordered if task_worker[t] == w]
        p = _CTX.Process(
            target=_worker_main, name=f"squall-worker-{w}",
            args=(model, settings, w, tasks, task_worker, queues, counters, events, results, capture),
        )
        p.start()
        procs.append(p)
    started = time.monotonic()
    next_report = started + progress_every_s
    last_quiet: tuple[int, int] | None = None
    try:
        while True:
            time.sleep(0.02)
            now = time.monotonic()
            if seconds is not None and now - started >= seconds:
                break
            totals = _totals(counters, workers)
            if settings.fail_fast and totals[ERRORS]:
                break
            if until_idle:
                quiet, marks = _quiescent(counters, workers)
                if quiet and marks == last_quiet:
                    break
                last_quiet = marks if quiet else None
            if progress is not None and now >= next_report:
                next_report = now + progress_every_s
                progress(now - started, Snapshot(
                    spout_emitted=totals[EMITTED], trees_acked=totals[ACKED],
                    trees_failed=totals[FAILED], errors=totals[ERRORS], in_flight=totals[PENDING]))
            if not any(p.is_alive() for p in procs):
                break
    except KeyboardInterrupt:
        pass
    events["stop_spouts"].set()
    deadline = time.monotonic() + settings.drain_s
    last_quiet = None
    while time.monotonic() < deadline:
        time.sleep(0.02)
        quiet, marks = _quiescent(counters, workers)
        if quiet and _totals(counters, workers)[PENDING] == 0 and marks == last_quiet:
            break
        last_quiet = marks if quiet else None
    events["finish"].set()
    merged = RunResult(workers=workers)
    for _ in procs:
        try:
            _, part = results.get(timeout=30)
        except queue.Empty:
            break
        merged.merge(part)
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    merged.elapsed_s = time.monotonic() - started
    return merged

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
import os
import pickle
import queue
import signal
import struct
import time
from collections import defaultdict
from typing import Any

from squall.engine.clock import MonotonicClock
from squall.engine.live import LiveFeed, LiveProbe, Sampler
from squall.engine.model import TopologyModel
from squall.engine.results import RunResult, Snapshot
from squall.engine.run_settings import RunSettings
from squall.engine.worker import Worker
from squall.errors import SquallError

_CTX = mp.get_context(
    "fork"
)  # workers inherit the loaded topology classes, as Storm's JVMs load the jar

# per-worker shared counters
IDLE, SENT, RECV, QUEUED, PENDING, EMITTED, ACKED, FAILED, ERRORS = range(9)
NCOUNTERS = 9
_LEN = struct.Struct("<I")


class PipeTransport:
    """Batches of messages over one non-blocking pipe per ordered pair of workers.

    The sender pickles in its own loop (no feeder thread fighting for the GIL) and never blocks:
    what the pipe cannot take now stays in a buffer and is retried next round, while the worker
    keeps reading its own inbound pipes — so two workers sending to each other cannot deadlock.
    Each frame is a 4-byte length and a pickled list of messages.
    """

    MAX_PENDING_BYTES = 4 << 20  # above this towards one worker, its spouts pause

    def __init__(
        self,
        index: int,
        out_fds: dict[int, int],
        in_fds: list[int],
        counters: Any,
        cap: int,
        workers: int,
    ) -> None:
        self.index = index
        self.out_fds = out_fds
        self.in_fds = in_fds
        self.counters = counters
        self.cap = cap
        self.workers = workers
        self.out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        self.acks: dict[int, dict[int, int]] = {w: {} for w in out_fds}
        self.pending: dict[int, bytearray] = {w: bytearray() for w in out_fds}
        self.inbuf: dict[int, bytearray] = {fd: bytearray() for fd in in_fds}
        self.sent = 0
        self.received = 0

    def send(self, worker: int, msg: tuple[Any, ...]) -> None:
        self.out[worker].append(msg)

    def send_ack(self, worker: int, root: int, value: int) -> None:
        # XOR is associative: acks of one root within a round travel as one message
        acks = self.acks[worker]
        acks[root] = acks.get(root, 0) ^ value

    def flush(self) -> None:
        for worker, acks in self.acks.items():
            if acks:
                self.out[worker].extend(("A", root, value) for root, value in acks.items())
                acks.clear()
        for worker, msgs in self.out.items():
            if msgs:
                data = pickle.dumps(msgs, protocol=pickle.HIGHEST_PROTOCOL)
                self.pending[worker] += _LEN.pack(len(data)) + data
                self.sent += len(msgs)
        self.out.clear()
        for worker, buf in self.pending.items():
            while buf:
                try:
                    written = os.write(self.out_fds[worker], buf)
                except BlockingIOError:
                    break
                except BrokenPipeError:
                    # that worker died; the coordinator reports it and stops the run
                    buf.clear()
                    break
                del buf[:written]

    def receive(self) -> list[tuple[Any, ...]]:
        got: list[tuple[Any, ...]] = []
        for fd in self.in_fds:
            buf = self.inbuf[fd]
            for _ in range(16):
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                buf += chunk
            while len(buf) >= 4:
                (size,) = _LEN.unpack_from(buf)
                if len(buf) < 4 + size:
                    break
                got.extend(pickle.loads(memoryview(buf)[4 : 4 + size]))
                del buf[: 4 + size]
        self.received += len(got)
        return got

    def backlog_exceeded(self) -> bool:
        for buf in self.pending.values():
            if len(buf) > self.MAX_PENDING_BYTES:
                return True
        c = self.counters
        for w in range(self.workers):
            if w != self.index and c[w * NCOUNTERS + QUEUED] >= self.cap:
                return True
        return False


def _make_pipes(workers: int) -> dict[tuple[int, int], tuple[int, int]]:
    pipes = {}
    for i in range(workers):
        for j in range(workers):
            if i != j:
                r, w = os.pipe()
                os.set_blocking(r, False)
                os.set_blocking(w, False)
                pipes[(i, j)] = (r, w)
    return pipes


def _publish(worker: Worker, transport: PipeTransport, counters: Any, idle: bool) -> None:
    base = worker.index * NCOUNTERS
    spout_stats = [ex.stats for ex in worker.spouts]
    values = {
        IDLE: int(idle),
        SENT: transport.sent,
        RECV: transport.received,
        QUEUED: worker.queued(),
        PENDING: len(worker.acker),
        EMITTED: sum(s.emitted for s in spout_stats),
        ACKED: sum(s.acked for s in spout_stats),
        FAILED: sum(s.failed for s in spout_stats),
        ERRORS: len(worker.result.errors),
    }
    with counters.get_lock():
        for k, v in values.items():
            counters[base + k] = v


def _worker_main(
    model: TopologyModel,
    settings: RunSettings,
    index: int,
    tasks: list[int],
    task_worker: dict[int, int],
    pipes: dict[tuple[int, int], tuple[int, int]],
    counters: Any,
    events: dict[str, Any],
    results: Any,
    capture: bool,
    live: tuple[LiveProbe | None, Any, float] | None = None,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator turns Ctrl-C into a clean stop
    workers = len({w for pair in pipes for w in pair}) or 1
    out_fds = {j: w for (i, j), (_, w) in pipes.items() if i == index}
    in_fds = [r for (i, j), (r, _) in pipes.items() if j == index]
    for (i, j), (r, w) in pipes.items():  # keep only this worker's ends open
        if i != index:
            os.close(w)
        if j != index:
            os.close(r)
    transport = PipeTransport(index, out_fds, in_fds, counters, settings.queue_capacity, workers)
    worker = Worker(
        model,
        settings,
        tasks,
        MonotonicClock(),
        index=index,
        task_worker=task_worker,
        transport=transport,
        capture=capture,
    )
    try:
        worker.start()
    except SquallError as exc:
        results.put((index, exc))
        return
    # live samples (squall run --ui): (probe, queue to the coordinator, seconds between samples)
    sampler = None if live is None else Sampler(worker, live[0])
    next_publish = next_sample = 0.0
    quiet_rounds = 0
    while not events["finish"].is_set():
        if events["stop_spouts"].is_set():
            worker.spouts_stopped = True
        progressed = worker.step()
        quiet_rounds = 0 if progressed else quiet_rounds + 1
        now = time.monotonic()
        # idle needs a few quiet rounds: one empty receive can race a batch still in the pipe
        idle = quiet_rounds >= 3 and worker.idle()
        # the queue depth steers the other workers' back-pressure: keep it fresh every round
        counters[index * NCOUNTERS + QUEUED] = worker.queued()
        if now >= next_publish or idle:
            _publish(worker, transport, counters, idle)
            next_publish = now + 0.05
        if sampler is not None and live is not None and now >= next_sample:
            next_sample = now + live[2]
            live[1].put(sampler.sample())
        if not progressed:
            time.sleep(0.0005)
    worker.close()
    if sampler is not None and live is not None:
        live[1].put(sampler.sample(final=True))
    results.put((index, worker.collect()))


def _totals(counters: Any, workers: int) -> list[int]:
    with counters.get_lock():
        return [sum(counters[w * NCOUNTERS + k] for w in range(workers)) for k in range(NCOUNTERS)]


def _quiescent(counters: Any, workers: int) -> tuple[bool, tuple[int, int]]:
    t = _totals(counters, workers)
    return t[IDLE] == workers and t[SENT] == t[RECV], (t[SENT], t[RECV])


class _LiveRelay:
    """Hands the workers' live samples to the feed, in the coordinator, as they come."""

    def __init__(self, live: LiveFeed | None, samples: Any) -> None:
        self.live = live
        self.samples = samples
        self.finals = 0

    def relay(self) -> None:
        if self.live is None:
            return
        while True:
            try:
                sample = self.samples.get_nowait()
            except queue.Empty:
                return
            self.finals += sample.final
            self.live.publish(sample)

    def wait_finals(self, procs: list[Any], workers: int, give_up: float) -> None:
        while self.live is not None and self.finals < workers and time.monotonic() < give_up:
            self.relay()
            if not any(p.is_alive() for p in procs):
                self.relay()  # what a worker put just before it exited
                return
            time.sleep(0.01)


def run_multiprocess(
    model: TopologyModel,
    settings: RunSettings,
    workers: int,
    *,
    seconds: float | None,
    capture: bool,
    until_idle: bool,
    progress: Any,
    progress_every_s: float,
    stop: Any = None,
    live: LiveFeed | None = None,
) -> RunResult:
    ordered = sorted(model.task_component)
    task_worker = {t: i % workers for i, t in enumerate(ordered)}
    pipes = _make_pipes(workers)
    counters = _CTX.Array("q", workers * NCOUNTERS)
    events = {"stop_spouts": _CTX.Event(), "finish": _CTX.Event()}
    results = _CTX.Queue()
    live_q = None if live is None else _CTX.Queue()
    procs = []
    for w in range(workers):
        tasks = [t for t in ordered if task_worker[t] == w]
        p = _CTX.Process(
            target=_worker_main,
            name=f"squall-worker-{w}",
            args=(
                model,
                settings,
                w,
                tasks,
                task_worker,
                pipes,
                counters,
                events,
                results,
                capture,
                None if live is None else (live.probe, live_q, progress_every_s),
            ),
        )
        p.start()
        procs.append(p)
    for r, w in pipes.values():  # the workers hold their own copies
        os.close(r)
        os.close(w)
    started = time.monotonic()
    next_report = started + progress_every_s
    last_quiet: tuple[int, int] | None = None
    finals = _LiveRelay(live, live_q)
    try:
        while True:
            time.sleep(0.02)
            finals.relay()
            now = time.monotonic()
            if seconds is not None and now - started >= seconds:
                break
            if stop is not None and stop.is_set():
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
                progress(
                    now - started,
                    Snapshot(
                        spout_emitted=totals[EMITTED],
                        trees_acked=totals[ACKED],
                        trees_failed=totals[FAILED],
                        errors=totals[ERRORS],
                        in_flight=totals[PENDING],
                    ),
                )
            if not all(p.is_alive() for p in procs):
                break  # a worker only exits early when it failed: stop the others too
    except KeyboardInterrupt:
        pass
    events["stop_spouts"].set()
    deadline = time.monotonic() + settings.drain_s
    last_quiet = None
    quiet_since: float | None = None
    while time.monotonic() < deadline and all(p.is_alive() for p in procs):
        time.sleep(0.02)
        finals.relay()
        quiet, marks = _quiescent(counters, workers)
        if quiet and marks == last_quiet:
            now = time.monotonic()
            quiet_since = quiet_since or now
            # done when no tree is left, or the ones left are held and nothing moves (see drain)
            if (
                _totals(counters, workers)[PENDING] == 0
                or now - quiet_since >= settings.drain_idle_s
            ):
                break
        else:
            quiet_since = None
        last_quiet = marks if quiet else None
    events["finish"].set()
    merged = RunResult(workers=workers)
    failure: SquallError | None = None
    pending = len(procs)
    give_up = time.monotonic() + 30
    while pending and time.monotonic() < give_up:
        finals.relay()
        try:
            _, part = results.get(timeout=0.1)
        except queue.Empty:
            # a dead worker never answers: wait only for those alive (or with data in flight)
            if not any(p.is_alive() for p in procs) and results.empty():
                break
            continue
        pending -= 1
        if isinstance(part, SquallError):
            failure = part
            continue
        merged.merge(part)
    # a worker exits only once its queues are read: take the last samples while joining
    finals.wait_finals(procs, workers, give_up=time.monotonic() + 10)
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    merged.elapsed_s = time.monotonic() - started
    if failure is not None:
        raise failure
    missing = [p.name for p in procs if p.exitcode not in (0, None)]
    if missing:
        raise SquallError(
            f"worker process(es) {missing} died (exit codes "
            f"{[p.exitcode for p in procs]}); their tasks' results are lost"
        )
    return merged

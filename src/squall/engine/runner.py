"""Run a streamparse Topology in pure Python: ``run_topology`` and its stop/drain protocol."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from streamparse import Topology

from squall.engine.clock import Clock, ManualClock, MonotonicClock
from squall.engine.live import LiveFeed, Sampler
from squall.engine.model import build_model
from squall.engine.results import RunResult, Snapshot
from squall.engine.run_settings import RunSettings
from squall.engine.worker import Worker

ProgressFn = Callable[[float, Snapshot], None]


class StopSignal(Protocol):
    """What ``run_topology(stop=...)`` polls: a ``threading.Event`` or anything with ``is_set``."""

    def is_set(self) -> bool: ...


def resolve_conf(topology: type[Topology], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Topology config, then ``overrides`` (the command line's ``-o``) on top — sparse's order."""
    conf = dict(topology.config or {})
    conf.update(overrides or {})
    # lets a component tell squall from Storm (where stdout is the multilang pipe, for one)
    conf["squall.embedded"] = True
    return conf


def run_topology(
    topology: type[Topology],
    conf: dict[str, Any] | None = None,
    seconds: float | None = None,
    workers: int = 1,
    *,
    name: str | None = None,
    clock: Clock | None = None,
    capture: bool = False,
    until_idle: bool = False,
    progress: ProgressFn | None = None,
    progress_every_s: float = 1.0,
    stop: StopSignal | None = None,
    live: LiveFeed | None = None,
) -> RunResult:
    """Run ``topology`` until ``seconds`` pass, it goes idle (``until_idle``), ``stop`` is set
    (a ``threading.Event``, set from any thread), or Ctrl-C.

    Then spouts stop, in-flight trees drain for at most ``squall.drain.secs``, spouts are
    deactivated and components closed. ``capture`` records every emitted tuple in the result.
    ``live`` gets a sample of every worker at each progress tick and a final one at the end.
    """
    model = build_model(topology, name)
    merged = resolve_conf(topology, conf)
    merged.setdefault("topology.name", model.name)
    settings = RunSettings.from_conf(merged)
    if workers < 1:
        raise ValueError(f"workers={workers}: need at least 1")
    if workers > 1:
        from squall.engine.multiproc import run_multiprocess

        return run_multiprocess(
            model,
            settings,
            workers,
            seconds=seconds,
            capture=capture,
            until_idle=until_idle,
            progress=progress,
            progress_every_s=progress_every_s,
            stop=stop,
            live=live,
        )
    clock = clock or MonotonicClock()
    worker = Worker(model, settings, sorted(model.task_component), clock, capture=capture)
    started = time.monotonic()
    worker.start()
    sampler = None if live is None else Sampler(worker, live.probe)
    tick = progress if sampler is None or live is None else _with_live(progress, sampler, live)
    try:
        drive(
            worker,
            seconds=seconds,
            until_idle=until_idle,
            progress=tick,
            progress_every_s=progress_every_s,
            started=started,
            stop=stop,
        )
    except KeyboardInterrupt:
        pass
    finally:
        drain(worker)
        worker.close()
    result = worker.collect()
    result.elapsed_s = time.monotonic() - started
    if sampler is not None and live is not None:
        live.publish(sampler.sample(final=True))
    return result


def _with_live(progress: ProgressFn | None, sampler: Sampler, live: LiveFeed) -> ProgressFn:
    """The progress callback, then a live sample: both at the same tick, off the hot loop."""

    def tick(elapsed: float, snap: Snapshot) -> None:
        if progress is not None:
            progress(elapsed, snap)
        live.publish(sampler.sample())

    return tick


def drive(
    worker: Worker,
    *,
    seconds: float | None,
    until_idle: bool,
    progress: ProgressFn | None,
    progress_every_s: float,
    started: float,
    stop: StopSignal | None = None,
) -> None:
    manual = isinstance(worker.clock, ManualClock)
    next_report = started + progress_every_s
    while True:
        progressed = worker.step()
        if worker.stop_error is not None:
            return
        now = time.monotonic()
        if seconds is not None and now - started >= seconds:
            return
        if stop is not None and stop.is_set():
            return
        if not progressed:
            if until_idle and worker.idle():
                return
            if not manual:
                time.sleep(0.0005)  # Storm's spout wait strategy: back off when nothing moved
        if progress is not None and now >= next_report:
            next_report = now + progress_every_s
            progress(now - started, worker.snapshot())


def drain(worker: Worker) -> None:
    """Stop the spouts and let in-flight trees finish, bounded by ``squall.drain.secs``.

    Trees still held when nothing has moved for ``squall.drain.idle.secs`` are held by a
    component (a window waiting for more input, a batch): waiting longer cannot ack them, so
    the drain ends there; their spouts replay them on the next run (at-least-once).
    """
    worker.spouts_stopped = True
    start = time.monotonic()
    deadline = start + worker.settings.drain_s
    idle_limit = worker.settings.drain_idle_s
    manual = isinstance(worker.clock, ManualClock)
    last_change, last_pending = start, len(worker.acker)
    while (now := time.monotonic()) < deadline:
        progressed = worker.step()
        pending = len(worker.acker)
        if pending != last_pending or worker.queued():
            # tick tuples alone are no progress: only trees finishing or tuples moving are
            last_change, last_pending = now, pending
        if worker.idle() and (pending == 0 or manual or now - last_change >= idle_limit):
            return
        if not progressed:
            time.sleep(0.0005)

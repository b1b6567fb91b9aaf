"""Issue 12's validation: ``squall plan``'s predictions for the health topology against runs.

**Predicted.** One unpaced calibration run of topologies/health.py, as docs/realtime.md's
command does it (``-o health.producers.rate.per.producer.hz=0 -o health.sinks.console=false``),
gives the costs (``calibrate``); ``plan`` at each offered rate gives the sustainable rate and
whether the alert deadline holds. The rates are multiples of that predicted rate.

**Measured.** The same topology on the embedded runner (one worker), paced at the offered rate:
config.yaml's 4 producers at ``offered / 4`` readings/s each, the rest of the settings as in the
calibration. Each run is a fresh process. Two bench-only subclasses are swapped into the
topology's own wiring (``plan_topology``), so src/ is not touched:

- ``ReleaseStampedSpout``: a self-describing reading's ``ts`` is its *release* time — the time
  the producer schedule made it due (``SyntheticSource``: producer p's k-th reading is due at
  ``start + (k + p/N) / rate``) — instead of the time the spout got round to emitting it. A
  spout that falls behind its schedule therefore shows up in the latency.
- ``AlertClockSink``: the console sink (switched off, as in the calibration) notes, for each
  alert of a self-describing reading, ``now - ts``: release to delivery at the sink. Course-form
  readings carry no time of their own (their ``ts`` is the arrival at ParseBolt), so only
  self-describing alerts, about half, are timed.

Per run, after a warm-up (component start-up):

- **achieved rate**: readings the spout emitted per second (what the schedule really offered);
- **backlog**: readings due by the schedule minus readings emitted, sampled every 0.25 s.
  Bounded when the backlog grows by less than ``BACKLOG_SLACK`` of the readings due over the
  second half of the run (the spout kept up with at least 97% of its schedule there);
- **alert latency** p50/p99 and the share past the deadline, over the alerts of readings
  released between the warm-up and ``TAIL_S`` before the end. Readings released then but not
  yet emitted at the end would be late anyway: their expected alerts count as misses.

Rows are the median of ``repeats`` runs per rate; the measured knee is the highest offered rate
with a bounded backlog and alert p99 within the deadline.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamparse import Topology

from bolts.sinks import ConsoleSinkBolt
from health_core.synthetic import SyntheticRecord, SyntheticSource
from spouts.synthetic import SyntheticHealthSpout

Progress = Callable[[int], None]

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "topologies" / "health.py"
# The alert is delivered when the sink has it: the console sink is the component the deadline
# names, so the plan's worst-case response and the measured latency end at the same place.
DEADLINE_COMPONENT = "console"
# 100 ms: an alert a person acts on, well under a second, and ~50x the plan's worst-case
# response below the sustainable rate (about 2 ms), so a miss means queueing, not jitter of the
# loop (0.5 ms idle sleeps, 64-tuple batches).
DEADLINE_MS = 100.0
MISS_SHARE = 0.01  # "meets its deadline": at most 1% of the alerts late
BACKLOG_SLACK = 0.03  # bounded: the backlog grew by < 3% of the readings due in the 2nd half
WARMUP_S = 1.0
TAIL_S = 0.5
CALIBRATION_OPTIONS = {
    "health.producers.rate.per.producer.hz": 0,
    "health.sinks.console": False,
}
PRODUCERS = 4  # config.yaml's count; the calibration runs with it too


class _Record:
    """What the swapped-in components note during one run (one run per process)."""

    def __init__(self) -> None:
        self.source: SyntheticSource | None = None
        self.alerts: list[tuple[int, float]] = []  # (release ms, delivered ms)


RECORD = _Record()


class ReleaseStampedSource(SyntheticSource):
    """``next_due`` with the reading's release (due) time as its ``ts``, not the emit time."""

    def next_due(self, now_ms: int) -> SyntheticRecord | None:
        candidates = list(self._available())
        if not candidates:
            return None
        producer = min(candidates, key=lambda p: (self._due_ms(p), p.index))
        due_ms = self._due_ms(producer)
        if due_ms > now_ms:
            return None
        return producer.next_record(math.floor(due_ms))


class ReleaseStampedSpout(SyntheticHealthSpout):
    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        super().initialize(storm_conf, context)
        self.source = ReleaseStampedSource(self.settings, start_ms=self.source.start_ms)
        RECORD.source = self.source


class AlertClockSink(ConsoleSinkBolt):
    def process(self, tup: Any) -> None:
        if tup.component == "threshold" and tup.values[3].get("form") == "self":
            RECORD.alerts.append((tup.values[2], time.time_ns() / 1e6))
        super().process(tup)


def plan_topology() -> type[Topology]:
    """topologies/health.py's own wiring with the spout and the console sink swapped."""
    from squall.loading import load_topology

    health = load_topology(str(TOPOLOGY))
    swap = {"synthetic": ReleaseStampedSpout, "console": AlertClockSink}
    attrs: dict[str, Any] = {"config": dict(health.config)}
    for spec in health.specs:
        if spec.name in swap:
            spec = copy.copy(spec)
            spec.component_cls = swap[spec.name]
        attrs[spec.name] = spec
    return type("HealthPlanBench", (Topology,), attrs)


def _conf(options: dict[str, Any]) -> dict[str, Any]:
    """As ``squall plan`` builds it: config.json < the topology's config < ``-o`` options."""
    from squall.loading import config_file_options, load_topology

    conf = config_file_options(ROOT / "config.json", None)
    conf.update(load_topology(str(TOPOLOGY)).config or {})
    conf.update(options)
    return conf


def _run_options(offered: float) -> dict[str, Any]:
    from health_core.config import TREND_HOLD_MARGIN_S, load_config

    windows = load_config(ROOT / "config.yaml").windows
    hold_s = windows.window_s + windows.slide_s + TREND_HOLD_MARGIN_S
    return {
        "health.producers.count": PRODUCERS,
        "health.producers.rate.per.producer.hz": offered / PRODUCERS,
        "health.sinks.console": False,
        # Readings that raise an alert stay in flight while their alert sits in a trend window
        # (window + slide + margin): the config refuses a pending limit below that, and a lower
        # one would stall the spout below capacity. Overload is bounded by the queues instead.
        "topology.max.spout.pending": math.ceil(offered * hold_s) + 1_000,
        "squall.drain.secs": 0.2,  # the run is over at `seconds`: do not wait for windows
    }


def calibration(seconds: float, rates_x: list[float], progress: Progress | None = None) -> dict:
    """Calibrate once, then ``plan`` at each multiple of the predicted sustainable rate."""
    from squall.engine.run_settings import RunSettings
    from squall.engine.runner import resolve_conf
    from squall.loading import load_topology
    from squall.plan.topology import plan
    from squall.plan.topology_cli import calibrate

    topology = load_topology(str(TOPOLOGY))
    conf = _conf({"health.producers.count": PRODUCERS, **CALIBRATION_OPTIONS})
    settings = RunSettings.from_conf(resolve_conf(topology, conf))
    started = time.monotonic()
    costs = calibrate(topology, conf, seconds, TOPOLOGY.stem)
    elapsed = time.monotonic() - started
    # As plan_topology_command computes it (one spout task here).
    spouts = [c for c in costs.components.values() if c.is_spout]
    burst = max(settings.spout_batch * sum(c.par for c in spouts), 1)
    cores = os.cpu_count() or 1
    deadlines = {DEADLINE_COMPONENT: DEADLINE_MS / 1000}

    def at(rate: float) -> Any:
        return plan(costs, rate, 1, cores, deadlines, settings.batch, burst)

    max_rate = at(1.0).max_rate
    predictions = []
    for x in rates_x:
        result = at(x * max_rate)
        response = result.responses_s[DEADLINE_COMPONENT]
        predictions.append(
            {
                "x": x,
                "offered": x * max_rate,
                "holds": result.holds(DEADLINE_COMPONENT),
                "response_ms": None if response is None else response * 1000,
                "utilization": result.worker_utilization[0],
            }
        )
    return {
        "max_rate": max_rate,
        "reading_ms": costs.reading_s() * 1000,
        "overhead_ms": costs.overhead_s * 1000,
        "source": costs.source,
        "bottleneck": at(max_rate).bottleneck_task,
        "batch": settings.batch,
        "burst": burst,
        "seconds": elapsed,
        "predictions": predictions,
    }


def due_by(t_ms: float, start_ms: float, producers: int, rate_hz: float) -> int:
    """Readings the schedule made due by ``t_ms``: producer p's k-th at start + (k + p/N)/rate."""
    span = (t_ms - start_ms) * rate_hz / 1000.0
    return sum(max(0, math.floor(span - p / producers) + 1) for p in range(producers))


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def rate_run(
    offered: float, seconds: float, records: int | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """One paced run at ``offered`` readings/s for ``seconds``; what it measured."""
    from squall import run_topology

    samples: list[tuple[float, int]] = []  # (wall ms, readings emitted)

    def sample(_elapsed: float, _snap: Any) -> None:
        if RECORD.source is None:
            return
        emitted = sum(p.seq for p in RECORD.source.producers)
        samples.append((time.time_ns() / 1e6, emitted))
        if progress is not None:
            progress(emitted)

    result = run_topology(
        plan_topology(),
        _conf(_run_options(offered)),
        seconds=seconds,
        name=TOPOLOGY.stem,
        progress=sample,
        progress_every_s=0.25,
    )
    if result.errors:
        raise RuntimeError(f"run reported {len(result.errors)} errors, first: {result.errors[0]}")
    if RECORD.source is None or len(samples) < 4:
        raise RuntimeError(f"the run gave {len(samples)} progress samples: too short to measure")
    return measure_run(offered, RECORD.source.start_ms, samples, RECORD.alerts)


def measure_run(
    offered: float,
    start_ms: float,
    samples: list[tuple[float, int]],
    alerts: list[tuple[int, float]],
) -> dict[str, Any]:
    """Achieved rate, backlog growth and alert latency of one run (see the module doc)."""
    rate_hz = offered / PRODUCERS

    def due(t_ms: float) -> int:
        return due_by(t_ms, start_ms, PRODUCERS, rate_hz)

    steady = [s for s in samples if s[0] >= start_ms + WARMUP_S * 1000]
    first, last = steady[0], steady[-1]
    achieved = (last[1] - first[1]) / ((last[0] - first[0]) / 1000)
    # The backlog's floor in the second and the last quarter of the steady part: a window
    # evaluation blocks the loop for up to a few hundred ms every slide (2 s) and the backlog
    # jumps meanwhile; what matters is whether it comes back down. Each quarter spans more than
    # a slide, so it holds a moment between evaluations.
    span = last[0] - first[0]
    quarters = [
        [s for s in steady if first[0] + q * span / 4 <= s[0] <= first[0] + (q + 1) * span / 4]
        for q in range(4)
    ]
    floors = [min((due(t) - n, t) for t, n in q) for q in (quarters[1], quarters[3])]
    growth = floors[1][0] - floors[0][0]
    due_between = max(due(floors[1][1]) - due(floors[0][1]), 1)

    lo, hi = start_ms + WARMUP_S * 1000, last[0] - TAIL_S * 1000
    timed = sorted(done - released for released, done in alerts if lo <= released < hi)
    # Readings released in [lo, hi) and still not emitted at the end: their alerts are late.
    unemitted = max(0, due(hi) - last[1])
    emitted_in = due(hi) - due(lo) - unemitted
    unseen = unemitted * len(timed) / emitted_in if emitted_in > 0 else 0.0
    late = sum(1 for v in timed if v > DEADLINE_MS)
    total = len(timed) + unseen
    return {
        "offered": offered,
        "achieved": achieved,
        "behind_end_s": (due(last[0]) - last[1]) / offered,
        "backlog_growth": growth,
        "backlog_growth_share": growth / due_between,
        "bounded": growth / due_between < BACKLOG_SLACK,
        "alerts_timed": len(timed),
        "alerts_unseen": unseen,
        "p50_ms": _percentile(timed, 0.50),
        "p99_ms": _percentile(timed, 0.99),
        "max_ms": timed[-1] if timed else None,
        "miss_share": (late + unseen) / total if total else None,
    }

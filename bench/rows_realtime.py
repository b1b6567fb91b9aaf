"""Issue 11's bench: the ward topology under load, per policy set — do critical alerts keep
their deadline when routine work is shed?

**Topology.** topologies/health_ward.py on the embedded runner (one worker): critical readings
(20% of the load, hard, D = 50 ms) and routine readings (firm, D = 1 s, (m,k) = (3,4) per
patient), config.yaml's 4 producers per class, trend windows of 5 s sliding by 1 s (so that
window evaluation, the longest hold of the loop, happens several times per run), console off.
Bench-only subclasses are swapped into its wiring, src/ is not touched:

- ``BenchSpout`` (which keeps pystorm's ``emit``: the runner's fast path) notes, when the run
  closes it, how many readings its schedule had made due
  that it never took (its backlog: each will be late, so each counts as a miss of its class),
  what it emitted, acked, gave up and discarded; and can follow a burst profile (``burst``).
- ``BenchTrend`` notes every window it emits (count, precision, error bound).

**Policy sets** (``POLICY_SETS``): ``fifo/late`` (today's runner: FIFO, deadline loss only);
``edf+imprecise+discard`` (EDF across the worker, routine readings discarded within (3,4) at
the spout, hopeless routine jobs dropped, trend windows sampled 1 in 4); ``+rate`` (and the
routine spout asked less often while overloaded).

**Capacities, measured first in the same run.** Full work: a first guess from a paced fifo
run's CPU share (probe rate / share of wall time on CPU, three probes), which runs low; then
the knee (``knee``): the highest offered rate a fifo run keeps up with (``kept_up``: >= 97% of
the offered readings taken, routine misses <= 1% — critical misses are what the targets judge,
not part of the capacity), searched in steps of 15% and one bisection. Mandatory only: the same knee with every policy forced on
(``squall.overload.force``): routine readings at their (m,k) minimum.

**Per row** (offered = a multiple of the full-work capacity): the achieved rate (readings the
schedule produced per second: emitted + discarded; below the offered rate when the loop could
not even take them), critical and routine p99 (release to the last ack: the alert written),
miss ratios (late completions + readings still due-but-not-taken at the end, over all
readings of the class), shed counts, critical readings lost or shed, trend precision and the
trend count error (``trend_error``: the trend records against the exact counts of every reading
the spouts took, kept or discarded — what an unshed run over the same records counts — and the
error the records state), CPU seconds per reading.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

from streamparse import Topology

from bench.trend_oracle import PANE_MS, RULES, exact_rules, trend_error

SHEDDING = "edf+imprecise+discard"
POLICY_SETS: dict[str, dict[str, Any]] = {
    "fifo/late": {"squall.scheduler": "fifo", "squall.realtime.routine.default.policies": "late"},
    "edf+imprecise+discard": {
        "squall.scheduler": "edf",
        "squall.realtime.routine.default.policies": "discard",
        "squall.realtime.trend.default.policies": "imprecise",
    },
    "edf+imprecise+discard+rate": {
        "squall.scheduler": "edf",
        "squall.realtime.routine.default.policies": "discard,rate",
        "squall.realtime.trend.default.policies": "imprecise",
    },
}
# the trend stream's declaration (its policies come with the policy set)
TREND_DECLARATION = {
    "squall.realtime.trend.default.deadline.ms": 1000,
    "squall.realtime.trend.default.criticality": "firm",
    "squall.realtime.trend.default.mk": "3,4",
}
ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "topologies" / "health_ward.py"
PRODUCERS = 4  # per class, config.yaml's count
BASE_CONF: dict[str, Any] = {
    "health.producers.count": PRODUCERS,
    "health.sinks.console": False,
    "health.windows.window.secs": 5,
    "health.windows.slide.secs": 1,
}

_SPOUTS: dict[str, dict[str, Any]] = {}  # component -> what its BenchSpout noted at close
# (rule, window end ms, count, precision, error_bound) per window the trend bolt emitted
_WINDOWS: list[tuple[str, int, int, float, int]] = []
# (rule, pane end ms) -> alerts of every reading the spouts took, kept or discarded (the oracle)
_EXACT: dict[tuple[str, int], int] = {}
_RUN: dict[str, float] = {"stop_s": 0.0}  # when the spouts stop, seconds after they started


def ward_topology(burst: tuple[float, float, float] | None) -> type[Topology]:
    """HealthWardTopology with the bench's spout and trend subclasses; ``burst`` =
    (start s, length s, factor) of a burst on top of the base rate."""
    from bolts.trend import PaneTrendBolt
    from health_core.synthetic import SyntheticSource
    from health_core.trend import TREND_FIELDS
    from spouts.synthetic import WardSyntheticSpout
    from squall.realtime.context import realtime_of

    rule_i, end_i, count_i, precision_i, bound_i = (
        TREND_FIELDS.index("rule"),
        TREND_FIELDS.index("window_end_ms"),
        TREND_FIELDS.index("count"),
        TREND_FIELDS.index("precision"),
        TREND_FIELDS.index("error_bound"),
    )

    class BurstSource(SyntheticSource):
        def next_due(self, now_ms: int) -> Any:
            """The record, counted by the oracle whether it is then kept or discarded."""
            record = super().next_due(now_ms)
            if record is not None and record.kind != "malformed":
                pane = -(-now_ms // PANE_MS) * PANE_MS  # its event time: when it was taken
                for rule in exact_rules(record.weight_kg, record.height_cm):
                    _EXACT[rule, pane] = _EXACT.get((rule, pane), 0) + 1
            return record

        def cumulative(self, t_s: float) -> float:
            """Readings per producer due by ``t_s`` after the start (the rate profile's integral)."""
            r = self.settings.rate_per_producer_hz
            if burst is None or t_s <= burst[0]:
                return r * t_s
            start, length, factor = burst
            inside = min(t_s, start + length) - start
            return r * start + factor * r * inside + r * max(0.0, t_s - start - length)

        def _due_ms(self, producer: Any) -> float:
            r = self.settings.rate_per_producer_hz
            n = producer.seq + producer.index / self.settings.count
            if burst is None or n <= r * burst[0]:
                return self.start_ms + n * 1000.0 / r
            start, length, factor = burst
            if n <= r * start + factor * r * length:
                return self.start_ms + 1000.0 * (start + (n - r * start) / (factor * r))
            return self.start_ms + 1000.0 * (
                start + length + (n - r * start - factor * r * length) / r
            )

    class BenchSpout(WardSyntheticSpout):
        def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
            super().initialize(storm_conf, context)
            self.source.__class__ = BurstSource
            self._name = str(context.get("componentid"))

        def close(self) -> None:
            source = self.source
            assert isinstance(source, BurstSource)
            # Readings due more than D before the spouts stopped, never taken: late for sure
            # (those due later were cut off by the end of the run, not by overload).
            decl = realtime_of(self).deadline("default")
            late_by = _RUN["stop_s"] - (decl.deadline_s if decl else 0.0)
            due = 0
            for p in source.producers:
                n = math.floor(source.cumulative(late_by) - p.index / source.settings.count) + 1
                due += max(0, n - p.seq)
            elapsed = (self.clock() - source.start_ms) / 1000.0
            _SPOUTS[self._name] = {
                "taken": sum(p.seq for p in source.producers),
                "emitted": sum(p.seq for p in source.producers) - self.shed,
                "backlog": due,
                "acked": self.acked,
                "given_up": self.given_up,
                "shed": self.shed,
                "pending": len(self.pending),
                "elapsed_s": elapsed,
            }

    class BenchTrend(PaneTrendBolt):
        def emit(self, tup: Any, *args: Any, **kwargs: Any) -> Any:
            if len(tup) == len(TREND_FIELDS):
                _WINDOWS.append(
                    (tup[rule_i], tup[end_i], tup[count_i], tup[precision_i], tup[bound_i])
                )
            return super().emit(tup, *args, **kwargs)

    from bench.swap import with_components

    swap = {"critical": BenchSpout, "routine": BenchSpout, "trend": BenchTrend}
    return with_components(TOPOLOGY, swap, "HealthWardBench")


def ward_run(
    offered: float,
    policy: str,
    seconds: float,
    force: bool = False,
    burst: tuple[float, float, float] | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """One run of the ward at ``offered`` readings/s under ``policy`` (a fresh process each)."""
    from squall import run_topology
    from squall.loading import load_topology, run_conf

    _SPOUTS.clear()
    _WINDOWS.clear()
    _EXACT.clear()
    _RUN["stop_s"] = seconds
    options = {
        **BASE_CONF,
        **TREND_DECLARATION,
        **POLICY_SETS[policy],
        "health.producers.rate.per.producer.hz": offered / PRODUCERS,
        "squall.overload.force": force,
        # the config refuses fewer than window + slide + 2 s of readings (health.py's readings
        # wait on windows; the ward's do not, but the check is the config's)
        "topology.max.spout.pending": math.ceil(offered * 8) + 1_000,
        "squall.drain.secs": 1.0,  # trees in flight at the end finish (late ones count)
    }
    conf = run_conf(load_topology(str(TOPOLOGY)), options, ROOT / "config.json")
    if tuple(conf["health.rules"]) != RULES:
        raise ValueError(f"health.rules = {conf['health.rules']!r}; the oracle knows {RULES}")
    topo = ward_topology(burst)
    cpu0, wall0 = time.process_time(), time.monotonic()
    result = run_topology(topo, conf, seconds=seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    assert result.realtime is not None, "the ward declares deadlines: the runtime reports them"
    streams = result.realtime.streams
    out: dict[str, Any] = {
        "offered": offered,
        "policy": policy,
        "seconds": seconds,
        "cpu_s": cpu,
        "wall_s": wall,
        "busy": cpu / wall,
        "overload_episodes": result.overload_episodes,
        "rate_factor_min": result.rate_factor_min,
        "alarms": list(result.overload_alarms),
    }
    taken = 0
    for cls in ("critical", "routine"):
        spout = _SPOUTS.get(cls, {})
        m = streams.get(f"{cls}.default")
        backlog = spout.get("backlog", 0)
        completed = m.completed if m else 0
        misses = m.misses if m else 0
        taken += spout.get("taken", 0)
        out[cls] = {
            "taken": spout.get("taken", 0),
            "completed": completed,
            "late": misses,
            "backlog": backlog,
            "miss_ratio": (misses + backlog) / max(1, completed + backlog),
            "p50_ms": 1000 * m.latency.quantile(0.5) if m and completed else None,
            "p99_ms": 1000 * m.latency.quantile(0.99) if m and completed else None,
            "max_ms": 1000 * m.latency.max if m and completed else None,
            "shed": dict(m.shed) if m else {},
            "lost": spout.get("given_up", 0),
        }
    trend = streams.get("trend.default")
    estimated = [(c, b) for _, _, c, p, b in _WINDOWS if p < 1.0]
    out["trend"] = {
        "windows": len(_WINDOWS),
        "estimated_windows": len(estimated),
        "shed_imprecise": trend.shed.get("imprecise", 0) if trend else 0,
        # what the run says of its own counts: the error bounds over the estimated counts
        "stated_error": (sum(b for _, b in estimated) / max(1, sum(c for c, _ in estimated)))
        if estimated
        else 0.0,
        **trend_error(_WINDOWS, _EXACT, int(conf["health.windows.window.secs"]) * 1000, seconds),
    }
    out["spouts"] = dict(_SPOUTS)
    out["achieved"] = taken / seconds
    out["cpu_per_reading_us"] = 1e6 * cpu / max(1, taken)
    return out


KEPT_UP = 0.97  # a run kept up when it took at least this share of the readings offered
KNEE_STEP = 1.15  # the knee search's step up, then one bisection between pass and fail


def kept_up(run: dict[str, Any]) -> bool:
    """The run took what was offered and its routine work kept its deadline (misses <= 1%):
    the work was sustained. Critical misses are not part of it: they are what the targets
    judge at these capacities, and a knee cut at the first critical miss would make the
    critical target true by construction."""
    return (
        "error" not in run
        and run["achieved"] >= KEPT_UP * run["offered"]
        and run["routine"]["miss_ratio"] <= 0.01
    )


def knee(attempt: Any, start: float, steps: int = 6) -> tuple[float, list[dict[str, Any]]]:
    """The highest offered rate ``attempt(rate)`` keeps up with: from ``start`` down by
    ``KNEE_STEP`` until one passes, or up until one fails; then one bisection step."""
    runs: list[dict[str, Any]] = []
    rate = start
    first = attempt(rate)
    runs.append(first)
    ok = kept_up(first)
    passed, failed = (rate, None) if ok else (None, rate)
    for _ in range(steps):
        rate = rate * KNEE_STEP if ok else rate / KNEE_STEP
        got = attempt(rate)
        runs.append(got)
        if kept_up(got):
            passed = rate if passed is None or rate > passed else passed
            if not ok:
                break
        else:
            failed = rate if failed is None or rate < failed else failed
            if ok:
                break
    if passed is None:
        return 0.0, runs
    if failed is not None:
        middle = (passed + failed) / 2
        got = attempt(middle)
        runs.append(got)
        if kept_up(got):
            passed = middle
    return passed, runs


def _capacity(run: dict[str, Any]) -> float:
    """Readings/s the process would sustain at 100% CPU, from a run's CPU share."""
    return float(run["achieved"] / max(run["busy"], 1e-6))


def realtime_rows(
    seconds: float,
    loads: list[float],
    policies: list[str],
    burst: tuple[float, float, float] | None,
    probe: float,
    probes: int = 3,
    progress: Any = None,
    knee_steps: int = 6,
    cost_pairs: int = 4,
) -> dict[str, Any]:
    """Capacities first, then a row per (policy set, load) and per policy set for the burst."""
    from bench.rowexec import run_row

    def run(label: str, **kwargs: Any) -> dict[str, Any]:
        t0 = time.monotonic()
        got = run_row(
            "bench.rows_realtime:ward_run", {"seconds": seconds, **kwargs}, label, seconds + 90
        )
        if "error" not in got:
            crit = got["critical"]
            print(
                f"    {label}: achieved {got['achieved']:,.0f}/s, busy {got['busy']:.0%}, critical "
                f"p99 {crit['p99_ms'] or 0:,.1f} ms misses {100 * crit['miss_ratio']:.1f}%, "
                f"routine misses {100 * got['routine']['miss_ratio']:.1f}% "
                f"({time.monotonic() - t0:.1f} s)",
                flush=True,
            )
        return got

    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    # A first guess from the CPU share at a paced probe; it runs low (below capacity the loop
    # batches less and polls when idle, so a reading costs more CPU than at capacity: the
    # second run of 2026-12-02 guessed 14.5k/s where fifo held 20.8k/s). The capacities are
    # then searched as knees: the highest offered rate the run kept up with.
    rate, estimate = probe, None
    for k in range(probes):
        got = run(f"realtime: full-work probe {k + 1}/{probes}", offered=rate, policy="fifo/late")
        if "error" in got:
            break
        estimate = _capacity(got)
        rate = 0.85 * estimate
    if estimate is None:
        return {"rows": [{"name": "capacity", "error": "every capacity probe failed"}]}
    full, full_runs = knee(
        lambda r: run(f"realtime: full-work knee at {r:,.0f}/s", offered=r, policy="fifo/late"),
        0.85 * estimate,
        knee_steps,
    )
    mandatory, forced_runs = knee(
        lambda r: run(
            f"realtime: mandatory-only knee at {r:,.0f}/s",
            offered=r,
            policy="edf+imprecise+discard",
            force=True,
        ),
        full,
        knee_steps,
    )
    last, forced = full_runs[-1], (forced_runs[-1] if forced_runs else {})
    summary = {
        "realtime": "capacity",
        "full_capacity": full,
        "mandatory_capacity": mandatory,
        "probe": last,
        "forced": forced,
    }
    rows.append(
        {
            "name": "capacity (full work)",
            "records_per_s": full,
            "note": f"mandatory-only {mandatory or 0:,.0f}/s (routine at (3,4) minimum); both "
            f"knees of offered rate (kept up: >= {KEPT_UP:.0%} taken, routine misses <= 1%), "
            f"CPU-share guess {estimate:,.0f}/s",
            "extra": summary,
        }
    )
    for policy in policies:
        for x in loads:
            got = run(f"realtime: {policy} at {x:g}x", offered=x * full, policy=policy)
            rows.append(_row(f"{policy} at {x:g}x", got, x, full))
        if burst is not None:
            base_x = 0.6
            got = run(
                f"realtime: {policy} burst", offered=base_x * full, policy=policy, burst=burst
            )
            rows.append(
                _row(f"{policy} burst {burst[2]:g}x for {burst[1]:g} s on 0.6x", got, None, full)
            )
    # The scheduler's cost: CPU per reading at 0.5x, edf against fifo, in pairs of adjacent
    # runs (one run swings +-5-10% on two shared cores, and the machine drifts between
    # minutes): the ratio is taken within each pair, so drift cancels, and the pairs' median
    # is the row's. Every other pair runs edf first, so neither side always has the warm slot.
    # (The load rows' 0.5x runs are minutes apart: not a pair.)
    pairs: list[tuple[float, float]] = []
    for k in range(cost_pairs):
        order = ("fifo/late", SHEDDING) if k % 2 == 0 else (SHEDDING, "fifo/late")
        got = {
            policy: run(
                f"realtime: cost pair {k + 1}/{cost_pairs}, {policy}",
                offered=0.5 * full,
                policy=policy,
            )
            for policy in order
        }
        if all("error" not in g for g in got.values()):
            pairs.append(
                (got["fifo/late"]["cpu_per_reading_us"], got[SHEDDING]["cpu_per_reading_us"])
            )
    if pairs:
        fifo_us = statistics.median(p[0] for p in pairs)
        edf_us = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(b / a for a, b in pairs)
        rows.append(
            {
                "name": "scheduler cost at 0.5x (edf vs fifo, CPU per reading)",
                "records_per_s": 0.5 * full,
                "note": f"median of {len(pairs)} paired ratios {ratio:.3f}x (pairs "
                + ", ".join(f"{b / a:.3f}" for a, b in pairs)
                + f"); medians fifo {fifo_us:.1f} us, edf {edf_us:.1f} us",
                "extra": {
                    "realtime": "cost",
                    "fifo_us": fifo_us,
                    "edf_us": edf_us,
                    "ratio": ratio,
                    "pairs": pairs,
                },
            }
        )
    summary["elapsed_s"] = time.monotonic() - started
    return {"rows": rows}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _row(name: str, got: dict[str, Any], x: float | None, full: float) -> dict[str, Any]:
    if "error" in got:
        return {"name": name, "error": got["error"]}
    crit, routine = got["critical"], got["routine"]
    shed = sum(routine["shed"].values())
    note = (
        f"critical misses {100 * crit['miss_ratio']:.1f}%, routine misses "
        f"{100 * routine['miss_ratio']:.1f}%, routine shed {shed:,}, critical lost/shed "
        f"{crit['lost'] + sum(crit['shed'].values())}, trend error "
        f"{_pct(got['trend']['measured_error'])} measured / "
        f"{100 * got['trend']['stated_error']:.1f}% stated"
    )
    return {
        "name": name,
        "records_per_s": got["achieved"],
        "p50_ms": crit["p50_ms"],
        "p99_ms": crit["p99_ms"],
        "note": note,
        "extra": {"realtime": "load", "x": x, "full_capacity": full, **got},
    }

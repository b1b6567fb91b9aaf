"""What a run reports: per-component counters, errors, and (when asked) captured outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from squall.realtime.metrics import Metrics


@dataclass
class ComponentStats:
    emitted: int = 0
    acked: int = 0
    failed: int = 0
    executed: int = 0
    exec_seconds: float = 0.0
    exec_max_seconds: float = 0.0
    # when that longest execute started (``time.perf_counter``, this process's): lets a
    # calibration take out what else ran in it, e.g. a garbage-collection pause
    exec_max_started: float = 0.0
    errors: int = 0

    def merge(self, other: ComponentStats) -> None:
        self.emitted += other.emitted
        self.acked += other.acked
        self.failed += other.failed
        self.executed += other.executed
        self.exec_seconds += other.exec_seconds
        if other.exec_max_seconds > self.exec_max_seconds:
            self.exec_max_seconds = other.exec_max_seconds
            self.exec_max_started = other.exec_max_started
        self.errors += other.errors

    @property
    def exec_mean_ms(self) -> float:
        return 1000.0 * self.exec_seconds / self.executed if self.executed else 0.0


@dataclass
class ComponentError:
    """An exception raised inside a component; the tuple tree it was working on was failed."""

    component: str
    task: int
    message: str

    def __str__(self) -> str:
        return f"{self.component} (task {self.task}): {self.message}"


@dataclass(frozen=True)
class Snapshot:
    """Totals for a progress line."""

    spout_emitted: int
    trees_acked: int
    trees_failed: int
    errors: int
    in_flight: int


@dataclass
class RunResult:
    stats: dict[str, ComponentStats] = field(default_factory=dict)
    errors: list[ComponentError] = field(default_factory=list)
    # component -> stream -> emitted values, in emit order per task (only with capture=True)
    outputs: dict[str, dict[str, list[list[Any]]]] = field(default_factory=dict)
    # spout component -> message ids the spout was told were acked / failed
    spout_acked: dict[str, list[Any]] = field(default_factory=dict)
    spout_failed: dict[str, list[Any]] = field(default_factory=dict)
    timed_out: int = 0
    pending_at_stop: int = 0
    elapsed_s: float = 0.0
    workers: int = 1
    # per-stream deadlines met and missed, shed jobs, precision: when the topology declares
    # deadlines or a scheduler (squall.realtime); None otherwise
    realtime: Metrics | None = None
    overload_episodes: int = 0
    rate_factor_min: float = 1.0  # the lowest share of turns a ``rate`` spout was asked on
    overload_alarms: list[str] = field(default_factory=list)  # hard streams that missed anyway
    # bolt -> why its tasks are not chained, None when they are (squall.engine.chaining)
    chaining: dict[str, str | None] = field(default_factory=dict)

    def merge(self, other: RunResult) -> None:
        for name, stats in other.stats.items():
            self.stats.setdefault(name, ComponentStats()).merge(stats)
        self.errors.extend(other.errors)
        for comp, streams in other.outputs.items():
            for stream, values in streams.items():
                self.outputs.setdefault(comp, {}).setdefault(stream, []).extend(values)
        for comp, ids in other.spout_acked.items():
            self.spout_acked.setdefault(comp, []).extend(ids)
        for comp, ids in other.spout_failed.items():
            self.spout_failed.setdefault(comp, []).extend(ids)
        self.timed_out += other.timed_out
        self.pending_at_stop += other.pending_at_stop
        if other.realtime is not None:
            if self.realtime is None:
                self.realtime = Metrics()
            self.realtime.merge(other.realtime)
        self.overload_episodes += other.overload_episodes
        self.rate_factor_min = min(self.rate_factor_min, other.rate_factor_min)
        self.overload_alarms += [a for a in other.overload_alarms if a not in self.overload_alarms]
        for name, reason in other.chaining.items():
            # chained only where every worker holding its tasks chained it
            if self.chaining.get(name) is None:
                self.chaining[name] = reason

    def output(self, component: str, stream: str = "default") -> list[list[Any]]:
        return self.outputs.get(component, {}).get(stream, [])

    def summary_table(self) -> str:
        head = f"{'component':<22}{'emitted':>10}{'acked':>10}{'failed':>9}{'executed':>10}{'mean ms':>9}{'max ms':>9}{'errors':>8}"
        lines = [head, "-" * len(head)]
        for name in sorted(self.stats):
            s = self.stats[name]
            lines.append(
                f"{name:<22}{s.emitted:>10}{s.acked:>10}{s.failed:>9}{s.executed:>10}"
                f"{s.exec_mean_ms:>9.3f}{1000 * s.exec_max_seconds:>9.2f}{s.errors:>8}"
            )
        lines.append(
            f"{self.elapsed_s:.1f} s, {self.workers} worker(s), {self.timed_out} tree(s) timed out, "
            f"{self.pending_at_stop} in flight at stop, {len(self.errors)} error(s)"
        )
        chained = sorted(n for n, why in self.chaining.items() if why is None)
        if chained:
            lines.append(f"chained (run inside their emitter's execute): {', '.join(chained)}")
        unchained = sorted((n, why) for n, why in self.chaining.items() if why is not None)
        reasons = {why for _, why in unchained}
        if not chained and len(reasons) == 1 and len(unchained) > 1:
            lines.append(f"not chained: {reasons.pop()}")  # off, or a scheduler: one line
        else:
            # a bolt left queued says why, never silently (squall.chaining)
            for name, why in unchained:
                lines.append(f"not chained: {name}: {why}")
        if self.realtime is not None and self.realtime.streams:
            slowed = (
                f"; rate policy slowed sources to {self.rate_factor_min:.0%}"
                if self.rate_factor_min < 1.0
                else ""
            )
            lines.append(f"deadlines ({self.overload_episodes} overload episode(s){slowed}):")
            for stream in sorted(self.realtime.streams):
                lines.append(f"  {stream:<22}{self.realtime.summary_line(stream)}")
        return "\n".join(lines)

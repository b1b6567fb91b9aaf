"""Per-stream real-time metrics: latency, deadline misses, lateness, slack, shedding, precision.

Issue 11, item 6. One ``StreamMetrics`` per stream, kept by a ``Metrics`` of the run; the wiring
calls ``complete`` when a tuple tree is done, ``record_slack`` when a job is dispatched,
``add_shed`` when a policy sheds a job, and sets ``precision``. Reports: ``summary_line`` for the
run summary, ``prometheus`` for the live view, ``merge`` to add up the workers of a
multi-process run.

Histograms have fixed, log-spaced buckets: memory is bounded (362 counts for 1 us..1000 s) and
recording is one binary search, whatever the number of samples. The bucket bounds are the
Renard R40 preferred numbers (ISO 3: 10^(i/40), rounded to three digits) in each decade: round
values in the exposition (``le="0.0025"``), and the 1, 2.5, 5 steps of Prometheus' default
buckets are among them, which is the subset exposed. Adjacent bounds differ by a factor of at
most 15/14 (1.4 to 1.5, 2.8 to 3.0, 5.6 to 6.0): that is ``LogHistogram.ratio``.

Quantile guarantee (nearest rank: the value of rank ceil(q * n) in sorted order): a quantile q
between the first and the last bound is estimated by the upper bound of its bucket, capped at
the exact maximum, so ``q <= estimate <= q * ratio`` (for a negative q, ``q <= estimate <=
q + (ratio - 1) * |q|``): never below the truth, at most one bucket's relative width above it.
Latency is reported on the safe side. Beyond the last bound the estimate is the exact maximum.
The maximum, minimum, sum and count are exact.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from fractions import Fraction

# ISO 3 / Renard R40 mantissas, as decimal strings so each bound is the float nearest to the
# decimal value (what the exposition prints), not a product with rounding error in it
R40 = (
    "1.00 1.06 1.12 1.18 1.25 1.32 1.40 1.50 1.60 1.70 1.80 1.90 2.00 2.12 2.24 2.36 2.50 2.65 "
    "2.80 3.00 3.15 3.35 3.55 3.75 4.00 4.25 4.50 4.75 5.00 5.30 5.60 6.00 6.30 6.70 7.10 7.50 "
    "8.00 8.50 9.00 9.50"
).split()
# the bounds exposed to Prometheus: its default buckets' steps
EXPOSED_MANTISSAS = ("1.00", "2.50", "5.00")
SHED_POLICIES = ("late", "imprecise", "discard", "rate")  # issue 11's overload policies
# Prometheus names: base units (seconds), counters end in _total (notes/realtime.md)
E2E = "squall_e2e_latency_seconds"
MISS = "squall_deadline_miss_total"
LATENESS = "squall_lateness_seconds_max"
SHED = "squall_shed_total"
PRECISION = "squall_precision"


def log_bounds(first_decade: int = -6, last_decade: int = 3) -> tuple[float, ...]:
    """R40 bounds from 10^first_decade to 10^last_decade inclusive, in seconds."""
    if last_decade <= first_decade:
        raise ValueError(f"last_decade {last_decade} must be above first_decade {first_decade}")
    bounds = [float(f"{m}e{k}") for k in range(first_decade, last_decade) for m in R40]
    bounds.append(float(f"1e{last_decade}"))
    return tuple(bounds)


def signed_bounds(bounds: tuple[float, ...]) -> tuple[float, ...]:
    """``bounds`` mirrored around 0, for values of either sign (slack)."""
    return tuple(-b for b in reversed(bounds)) + (0.0,) + bounds


LATENCY_BOUNDS = log_bounds(-6, 3)  # 1 us .. 1000 s
SLACK_BOUNDS = signed_bounds(log_bounds(-6, 3))  # slack is negative for a job already late


class LogHistogram:
    """Counts of values in fixed buckets ``(bounds[i-1], bounds[i]]`` (Prometheus' ``le``).

    Bucket 0 takes everything up to ``bounds[0]``, the last bucket everything above
    ``bounds[-1]``.
    """

    __slots__ = ("bounds", "counts", "count", "sum", "min", "max", "ratio")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        if not bounds or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
            raise ValueError(f"histogram bounds must be non-empty and ascending; got {bounds}")
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        # the widest bucket between two bounds of one sign: the quantile guarantee's factor
        self.ratio = max(
            [hi / lo for lo, hi in zip(bounds, bounds[1:], strict=False) if lo > 0]
            + [lo / hi for lo, hi in zip(bounds, bounds[1:], strict=False) if hi < 0]
            + [1.0]
        )

    def add(self, value: float) -> None:
        # bisect_left: the first bound >= value, so a value equal to a bound counts as le it
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        if value > self.max:
            self.max = value
        if value < self.min:
            self.min = value

    def quantile(self, q: float) -> float:
        """The nearest-rank q-quantile, within the module's guarantee; NaN when empty."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile is between 0 and 1; got {q}")
        if not self.count:
            return math.nan
        # Fraction(str(q)): 0.07 means 7/100 here, not the binary float just above it, whose
        # product with n could round the rank up by one
        rank = max(1, math.ceil(Fraction(str(q)) * self.count))
        seen = 0
        last = len(self.bounds)
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return self.max if i == last else min(self.bounds[i], self.max)
        return self.max  # unreachable: the counts add up to self.count

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else math.nan

    def cumulative(self) -> Iterator[tuple[float, int]]:
        """``(le, count of values <= le)`` for every bound, then ``(inf, count)``."""
        seen = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            seen += n
            yield bound, seen
        yield math.inf, self.count

    def merge(self, other: LogHistogram) -> None:
        if other.bounds != self.bounds:
            raise ValueError(
                f"cannot merge histograms with different bounds: {len(self.bounds)} bounds "
                f"{self.bounds[0]}..{self.bounds[-1]} and {len(other.bounds)} bounds "
                f"{other.bounds[0]}..{other.bounds[-1]}"
            )
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)


class StreamMetrics:
    """What one stream's jobs did: when they finished against their deadlines, what was shed."""

    __slots__ = (
        "latency",
        "slack",
        "misses",
        "lateness_sum_s",
        "lateness_max_s",
        "shed",
        "precision",
    )

    def __init__(
        self,
        latency_bounds: tuple[float, ...] = LATENCY_BOUNDS,
        slack_bounds: tuple[float, ...] = SLACK_BOUNDS,
    ) -> None:
        self.latency = LogHistogram(latency_bounds)  # seconds, release to done
        # Slack at dispatch, as the scheduler saw it: deadline - now - remaining cost. Slack at
        # completion would say nothing new: it is D - latency, a mirror of the latency histogram.
        self.slack = LogHistogram(slack_bounds)
        self.misses = 0
        # lateness = finish - deadline, of the late jobs only (a job on time has none)
        self.lateness_sum_s = 0.0
        self.lateness_max_s = 0.0
        self.shed = dict.fromkeys(SHED_POLICIES, 0)
        self.precision = 1.0  # 1 = exact; set by the imprecise policy (e.g. its sampling rate)

    def complete(self, release: float, deadline: float, finish: float) -> None:
        """A job of this stream is done at ``finish`` (seconds, on the clock of its release)."""
        self.latency.add(finish - release)
        lateness = finish - deadline
        if lateness > 0.0:  # finishing exactly at the deadline meets it
            self.misses += 1
            self.lateness_sum_s += lateness
            if lateness > self.lateness_max_s:
                self.lateness_max_s = lateness

    def record_slack(self, slack_s: float) -> None:
        self.slack.add(slack_s)

    def add_shed(self, policy: str, n: int = 1) -> None:
        """``n`` jobs shed by ``policy``: never silently, so the ratios stay honest."""
        try:
            self.shed[policy] += n
        except KeyError:
            raise ValueError(
                f"unknown shedding policy {policy!r}; valid: {', '.join(SHED_POLICIES)}"
            ) from None

    @property
    def completed(self) -> int:
        return self.latency.count

    @property
    def miss_ratio(self) -> float:
        """Misses over completed jobs (shed jobs never completed: they are in ``shed``)."""
        return self.misses / self.completed if self.completed else 0.0

    @property
    def lateness_mean_s(self) -> float:
        return self.lateness_sum_s / self.misses if self.misses else 0.0

    def merge(self, other: StreamMetrics) -> None:
        self.latency.merge(other.latency)
        self.slack.merge(other.slack)
        self.misses += other.misses
        self.lateness_sum_s += other.lateness_sum_s
        self.lateness_max_s = max(self.lateness_max_s, other.lateness_max_s)
        for policy, n in other.shed.items():
            self.shed[policy] = self.shed.get(policy, 0) + n
        # the lowest precision in effect anywhere: what a reader of the merged view can rely on
        self.precision = min(self.precision, other.precision)


class Metrics:
    """The real-time metrics of a run (or of one worker), stream by stream."""

    __slots__ = ("latency_bounds", "slack_bounds", "streams")

    def __init__(
        self,
        latency_bounds: tuple[float, ...] = LATENCY_BOUNDS,
        slack_bounds: tuple[float, ...] = SLACK_BOUNDS,
    ) -> None:
        self.latency_bounds = latency_bounds
        self.slack_bounds = slack_bounds
        self.streams: dict[str, StreamMetrics] = {}

    def stream(self, name: str) -> StreamMetrics:
        """The metrics of stream ``name``, created empty on first use (keep it: hot path)."""
        metrics = self.streams.get(name)
        if metrics is None:
            metrics = self.streams[name] = StreamMetrics(self.latency_bounds, self.slack_bounds)
        return metrics

    def merge(self, other: Metrics) -> None:
        """Add ``other``'s counts (another worker's) to these."""
        for name, metrics in other.streams.items():
            self.stream(name).merge(metrics)

    def summary_line(self, stream: str) -> str:
        """E.g. ``p99 12.3 ms, misses 4/1000 (0.4%)``, then shed jobs and precision if any."""
        m = self.streams.get(stream)
        if m is None:
            raise KeyError(f"no metrics for stream {stream!r}; streams: {sorted(self.streams)}")
        n = m.completed
        p99 = f"{_ms(m.latency.quantile(0.99))} ms" if n else "n/a"
        parts = [f"p99 {p99}, misses {m.misses}/{n} ({_percent(m.misses, n)})"]
        shed = {policy: k for policy, k in m.shed.items() if k}
        if shed:
            by_policy = ", ".join(f"{policy} {k}" for policy, k in shed.items())
            parts.append(f"shed {sum(shed.values())} ({by_policy})")
        if m.precision != 1.0:
            parts.append(f"precision {m.precision:.3g}")
        return ", ".join(parts)

    def prometheus(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of every stream, families grouped."""
        streams = sorted(self.streams.items())
        lines: list[str] = []
        _family(
            lines,
            E2E,
            "histogram",
            "End-to-end latency of the stream's tuple trees, release to done.",
        )
        for name, m in streams:
            s = f'stream="{_escape(name)}"'
            for le, n in _exposed(m.latency):
                lines.append(f'{E2E}_bucket{{{s},le="{_number(le)}"}} {n}')
            lines.append(f"{E2E}_sum{{{s}}} {_number(m.latency.sum)}")
            lines.append(f"{E2E}_count{{{s}}} {m.latency.count}")
        _family(lines, MISS, "counter", "Jobs of the stream that finished after their deadline.")
        lines.extend(f'{MISS}{{stream="{_escape(n)}"}} {m.misses}' for n, m in streams)
        _family(lines, LATENESS, "gauge", "Largest lateness (finish - deadline) of a late job.")
        lines.extend(
            f'{LATENESS}{{stream="{_escape(n)}"}} {_number(m.lateness_max_s)}' for n, m in streams
        )
        _family(lines, SHED, "counter", "Jobs shed under overload, by the policy that shed them.")
        lines.extend(
            f'{SHED}{{stream="{_escape(n)}",policy="{_escape(p)}"}} {k}'
            for n, m in streams
            for p, k in m.shed.items()
        )
        _family(lines, PRECISION, "gauge", "Precision of the stream's results (1 = exact).")
        lines.extend(
            f'{PRECISION}{{stream="{_escape(n)}"}} {_number(m.precision)}' for n, m in streams
        )
        return "\n".join(lines) + "\n"


def _family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _exposed(h: LogHistogram) -> Iterable[tuple[float, int]]:
    """The cumulative counts at the 1, 2.5, 5 bounds and +Inf (every bound on another grid).

    A subset of cumulative buckets is exact: ``le`` counts need no interpolation. It keeps a
    scrape to 3 lines per decade instead of 40.
    """
    wanted = [(le, n) for le, n in h.cumulative() if f"{le:.2e}"[:4] in EXPOSED_MANTISSAS]
    if not wanted:  # bounds of another grid: expose them all
        return list(h.cumulative())
    wanted.append((math.inf, h.count))
    return wanted


def _number(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return repr(float(x))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _ms(seconds: float) -> str:
    ms = 1000.0 * seconds
    return f"{ms:.0f}" if abs(ms) >= 100 else f"{ms:.3g}"


def _percent(k: int, n: int) -> str:
    if not k or not n:
        return "0%"
    pct = 100.0 * k / n
    return "<0.1%" if pct < 0.1 else f"{pct:.1f}%"

"""Real-time metrics: exact counts on hand-computed examples, quantiles against sorted samples,
and the Prometheus exposition word for word.

Hand examples use times that are binary fractions of a second (0.25, 0.625, ...), so every
latency, lateness and sum below is exact in floating point.
"""

from __future__ import annotations

import math
import pickle
import random
import re

import pytest

from squall.realtime.metrics import (
    LATENCY_BOUNDS,
    SLACK_BOUNDS,
    LogHistogram,
    Metrics,
    log_bounds,
    signed_bounds,
)

# (numerator, denominator) of each quantile: the test's ranks use integers only
QUANTILES = [(0, 1), (1, 100), (1, 2), (9, 10), (95, 100), (99, 100), (999, 1000), (1, 1)]


def exact_quantile(samples: list[float], num: int, den: int) -> float:
    """Nearest rank: the value of rank ceil(q * n) in sorted order (rank 1 for q = 0)."""
    ordered = sorted(samples)
    rank = max(1, -(-num * len(ordered) // den))
    return ordered[rank - 1]


# ----------------------------------------------------------------- misses and lateness


def test_misses_and_lateness_are_exact_on_a_hand_example():
    """Stream D = 0.5 s, all released at 0:

    ======  ========  ==========  ==============
    finish  deadline  late?       lateness (s)
    ======  ========  ==========  ==============
    0.25    0.5       no          -
    0.5     0.5       no (equal)  -
    0.625   0.5       yes         0.125
    1.5     0.5       yes         1.0
    ======  ========  ==========  ==============

    misses 2/4 = 0.5; lateness max 1.0, mean (0.125 + 1.0) / 2 = 0.5625 (late jobs only).
    """
    m = Metrics().stream("alerts")
    for finish in (0.25, 0.5, 0.625, 1.5):
        m.complete(release=0.0, deadline=0.5, finish=finish)
    assert (m.completed, m.misses, m.miss_ratio) == (4, 2, 0.5)
    assert (m.lateness_max_s, m.lateness_mean_s, m.lateness_sum_s) == (1.0, 0.5625, 1.125)
    assert (m.latency.min, m.latency.max, m.latency.sum) == (0.25, 1.5, 2.875)


def test_a_stream_without_misses_has_no_lateness():
    m = Metrics().stream("s")
    assert (m.completed, m.misses, m.miss_ratio, m.lateness_mean_s, m.lateness_max_s) == (
        0,
        0,
        0.0,
        0.0,
        0.0,
    )
    m.complete(release=3.0, deadline=4.0, finish=3.75)
    assert (m.misses, m.lateness_max_s, m.lateness_mean_s) == (0, 0.0, 0.0)


def test_shed_jobs_are_counted_per_policy_and_an_unknown_policy_is_refused():
    m = Metrics().stream("trends")
    m.add_shed("discard", 3)
    m.add_shed("imprecise")
    assert m.shed == {"late": 0, "imprecise": 1, "discard": 3, "rate": 0}
    expected = "unknown shedding policy 'drop'; valid: late, imprecise, discard, rate"
    with pytest.raises(ValueError, match=re.escape(expected)):
        m.add_shed("drop")


# ----------------------------------------------------------------- histogram accuracy


def test_latency_quantiles_are_within_one_bucket_above_the_exact_ones():
    rng = random.Random(11)
    # log-normal around 10 ms, spread over five decades, plus values exactly on bounds
    samples = [rng.lognormvariate(math.log(0.01), 1.5) for _ in range(20_000)]
    samples += [0.0025, 0.001, 0.0015]
    h = LogHistogram(LATENCY_BOUNDS)
    for v in samples:
        h.add(v)
    assert h.ratio == pytest.approx(15 / 14)  # the widest R40 step: 1.4 -> 1.5
    for num, den in QUANTILES:
        exact = exact_quantile(samples, num, den)
        estimate = h.quantile(num / den)
        assert LATENCY_BOUNDS[0] <= exact <= LATENCY_BOUNDS[-1]
        assert exact <= estimate <= exact * h.ratio, (num, den, exact, estimate)
    assert h.quantile(1.0) == h.max == max(samples)  # the maximum is exact
    assert (h.min, h.count) == (min(samples), len(samples))
    assert h.sum == pytest.approx(math.fsum(samples))


def test_slack_quantiles_are_within_one_bucket_above_the_exact_ones_of_either_sign():
    rng = random.Random(7)
    samples = [rng.gauss(0.004, 0.01) for _ in range(20_000)]
    assert min(samples) < 0 < max(samples)
    h = LogHistogram(SLACK_BOUNDS)
    for v in samples:
        h.add(v)
    for num, den in QUANTILES:
        exact = exact_quantile(samples, num, den)
        estimate = h.quantile(num / den)
        # near 0 the first bucket of each sign is (0, 1 us]: the error is at most 1 us there
        assert exact <= estimate <= exact + max((h.ratio - 1) * abs(exact), 1e-6)


def test_quantile_ranks_are_the_decimal_ones():
    # 0.07 * 100 is 7.000000000000001 in floats; the rank must still be 7 (the value 7, in
    # bucket (6.70, 7.10]), not 8 (the value 8, in bucket (7.50, 8.00])
    h = LogHistogram(log_bounds(0, 3))
    for v in range(1, 101):
        h.add(float(v))
    assert h.quantile(0.07) == 7.1
    assert h.quantile(0.08) == 8.0


def test_memory_is_bounded_and_a_bound_value_counts_as_le_it():
    h = LogHistogram(log_bounds(-3, 0))
    for i in range(100_000):
        h.add((i % 1000) / 1000)
    assert len(h.counts) == len(h.bounds) + 1 == 3 * 40 + 2
    h2 = LogHistogram((1.0, 2.0))
    for v in (0.5, 1.0, 1.5, 2.0, 2.5):
        h2.add(v)
    assert h2.counts == [2, 2, 1]
    assert list(h2.cumulative()) == [(1.0, 2), (2.0, 4), (math.inf, 5)]


def test_quantile_input_is_checked_and_an_empty_histogram_has_none():
    h = LogHistogram(LATENCY_BOUNDS)
    assert math.isnan(h.quantile(0.5)) and math.isnan(h.mean)
    with pytest.raises(ValueError, match=re.escape("a quantile is between 0 and 1; got 99")):
        h.quantile(99)
    with pytest.raises(ValueError, match="non-empty and ascending"):
        LogHistogram((2.0, 1.0))


def test_the_bounds_are_round_numbers_on_a_log_grid():
    assert log_bounds(-3, -2)[:8] == (
        0.001,
        0.00106,
        0.00112,
        0.00118,
        0.00125,
        0.00132,
        0.0014,
        0.0015,
    )
    assert log_bounds(-3, -2)[-1] == 0.01 and len(log_bounds(-3, -2)) == 41
    assert signed_bounds((1.0, 2.0)) == (-2.0, -1.0, 0.0, 1.0, 2.0)
    assert len(LATENCY_BOUNDS) == 9 * 40 + 1  # 1 us .. 1000 s


# ----------------------------------------------------------------- merge


def test_merging_two_workers_equals_one_worker_that_saw_everything():
    rng = random.Random(3)
    # finish times in 1/256 s: every sum is exact whatever the order it is added in
    jobs = [(0.0, 0.05, rng.randint(1, 64) / 256) for _ in range(500)]
    whole, left, right = Metrics(), Metrics(), Metrics()
    for i, (release, deadline, finish) in enumerate(jobs):
        whole.stream("alerts").complete(release, deadline, finish)
        (left if i % 2 else right).stream("alerts").complete(release, deadline, finish)
    for m in (whole, left):
        m.stream("trends").add_shed("discard", 2)
        m.stream("trends").record_slack(-0.004)
    right.stream("trends").precision = 0.25
    whole.stream("trends").precision = 0.25  # the lowest precision in effect anywhere
    left.merge(pickle.loads(pickle.dumps(right)))  # what a worker process sends back
    assert left.prometheus() == whole.prometheus()
    a, b = left.stream("alerts"), whole.stream("alerts")
    assert (a.misses, a.completed, a.latency.counts) == (b.misses, b.completed, b.latency.counts)
    assert a.lateness_sum_s == pytest.approx(b.lateness_sum_s)
    assert left.stream("trends").slack.count == 1


def test_histograms_on_different_bounds_do_not_merge():
    with pytest.raises(ValueError, match="cannot merge histograms with different bounds"):
        LogHistogram((1.0, 2.0)).merge(LogHistogram((1.0, 3.0)))


# ----------------------------------------------------------------- summary line


def test_the_summary_line_gives_p99_and_misses():
    """989 jobs of 1 ms and 11 of 12.3 ms: the p99 (rank 990) is 12.3 ms. Four of the slow
    ones had D = 10 ms (late), the other seven D = 20 ms (on time)."""
    metrics = Metrics()
    m = metrics.stream("alerts")
    for _ in range(989):
        m.complete(release=0.0, deadline=0.01, finish=0.001)
    for deadline in [0.01] * 4 + [0.02] * 7:
        m.complete(release=0.0, deadline=deadline, finish=0.0123)
    assert metrics.summary_line("alerts") == "p99 12.3 ms, misses 4/1000 (0.4%)"


def test_the_summary_line_adds_shed_jobs_and_precision_and_copes_with_nothing():
    metrics = Metrics()
    trends = metrics.stream("trends")
    trends.complete(release=0.0, deadline=1.0, finish=0.5)
    trends.add_shed("discard", 3)
    trends.add_shed("imprecise", 2)
    trends.precision = 0.5
    assert metrics.summary_line("trends") == (
        "p99 500 ms, misses 0/1 (0%), shed 5 (imprecise 2, discard 3), precision 0.5"
    )
    metrics.stream("idle")
    assert metrics.summary_line("idle") == "p99 n/a, misses 0/0 (0%)"
    rare = metrics.stream("rare")
    for i in range(2000):
        rare.complete(release=0.0, deadline=0.5, finish=0.75 if i == 0 else 0.25)
    assert metrics.summary_line("rare") == "p99 250 ms, misses 1/2000 (<0.1%)"
    with pytest.raises(
        KeyError, match=re.escape("no metrics for stream 'nope'; streams: ['idle',")
    ):
        metrics.summary_line("nope")


# ----------------------------------------------------------------- Prometheus exposition

LINE = re.compile(
    r"^[a-zA-Z_:][a-zA-Z0-9_:]*"  # name
    r'(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})?'
    r" (\S+)$"  # value
)
COMMENT = re.compile(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$")


def parse_exposition(text: str) -> dict[str, float]:
    """``{'name{labels}': value}``; fails on any line that is not a sample, # HELP or # TYPE."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert COMMENT.match(line), line
            continue
        match = LINE.match(line)
        assert match, line
        value = match.group(3)
        samples[line.rsplit(" ", 1)[0]] = float(value.replace("Inf", "inf"))
    return samples


def hand_example() -> Metrics:
    """alerts (released at 10, 11, 12; D = 0.5): latencies 0.0625, 0.25, 0.75 (late 0.25),
    2.0 (late 1.5). trends: one on-time job of 0.5 s, 3 discarded and 2 made imprecise,
    precision 0.5."""
    metrics = Metrics(latency_bounds=log_bounds(-2, 0))  # 10 ms .. 1 s keeps the text short
    alerts = metrics.stream("alerts")
    for release, finish in [(10.0, 10.0625), (10.0, 10.25), (11.0, 11.75), (12.0, 14.0)]:
        alerts.complete(release=release, deadline=release + 0.5, finish=finish)
    trends = metrics.stream("trends")
    trends.complete(release=0.0, deadline=1.0, finish=0.5)
    trends.add_shed("discard", 3)
    trends.add_shed("imprecise", 2)
    trends.precision = 0.5
    return metrics


EXPECTED = """\
# HELP squall_e2e_latency_seconds End-to-end latency of the stream's tuple trees, release to done.
# TYPE squall_e2e_latency_seconds histogram
squall_e2e_latency_seconds_bucket{stream="alerts",le="0.01"} 0
squall_e2e_latency_seconds_bucket{stream="alerts",le="0.025"} 0
squall_e2e_latency_seconds_bucket{stream="alerts",le="0.05"} 0
squall_e2e_latency_seconds_bucket{stream="alerts",le="0.1"} 1
squall_e2e_latency_seconds_bucket{stream="alerts",le="0.25"} 2
squall_e2e_latency_seconds_bucket{stream="alerts",le="0.5"} 2
squall_e2e_latency_seconds_bucket{stream="alerts",le="1.0"} 3
squall_e2e_latency_seconds_bucket{stream="alerts",le="+Inf"} 4
squall_e2e_latency_seconds_sum{stream="alerts"} 3.0625
squall_e2e_latency_seconds_count{stream="alerts"} 4
squall_e2e_latency_seconds_bucket{stream="trends",le="0.01"} 0
squall_e2e_latency_seconds_bucket{stream="trends",le="0.025"} 0
squall_e2e_latency_seconds_bucket{stream="trends",le="0.05"} 0
squall_e2e_latency_seconds_bucket{stream="trends",le="0.1"} 0
squall_e2e_latency_seconds_bucket{stream="trends",le="0.25"} 0
squall_e2e_latency_seconds_bucket{stream="trends",le="0.5"} 1
squall_e2e_latency_seconds_bucket{stream="trends",le="1.0"} 1
squall_e2e_latency_seconds_bucket{stream="trends",le="+Inf"} 1
squall_e2e_latency_seconds_sum{stream="trends"} 0.5
squall_e2e_latency_seconds_count{stream="trends"} 1
# HELP squall_deadline_miss_total Jobs of the stream that finished after their deadline.
# TYPE squall_deadline_miss_total counter
squall_deadline_miss_total{stream="alerts"} 2
squall_deadline_miss_total{stream="trends"} 0
# HELP squall_lateness_seconds_max Largest lateness (finish - deadline) of a late job.
# TYPE squall_lateness_seconds_max gauge
squall_lateness_seconds_max{stream="alerts"} 1.5
squall_lateness_seconds_max{stream="trends"} 0.0
# HELP squall_shed_total Jobs shed under overload, by the policy that shed them.
# TYPE squall_shed_total counter
squall_shed_total{stream="alerts",policy="late"} 0
squall_shed_total{stream="alerts",policy="imprecise"} 0
squall_shed_total{stream="alerts",policy="discard"} 0
squall_shed_total{stream="alerts",policy="rate"} 0
squall_shed_total{stream="trends",policy="late"} 0
squall_shed_total{stream="trends",policy="imprecise"} 2
squall_shed_total{stream="trends",policy="discard"} 3
squall_shed_total{stream="trends",policy="rate"} 0
# HELP squall_precision Precision of the stream's results (1 = exact).
# TYPE squall_precision gauge
squall_precision{stream="alerts"} 1.0
squall_precision{stream="trends"} 0.5
"""


def test_the_exposition_is_exact_on_a_hand_example():
    assert hand_example().prometheus() == EXPECTED


def test_the_exposition_parses_and_its_histograms_are_consistent():
    for metrics in (hand_example(), Metrics()):
        rng = random.Random(5)
        for _ in range(300):
            metrics.stream('odd "name"\\x').complete(0.0, 0.01, rng.expovariate(100.0))
        text = metrics.prometheus()
        samples = parse_exposition(text)
        counts = {
            k[len("squall_e2e_latency_seconds_count{") : -1]: v
            for k, v in samples.items()
            if k.startswith("squall_e2e_latency_seconds_count{")
        }
        assert 'stream="odd \\"name\\"\\\\x"' in counts  # the label value is escaped
        for labels, count in counts.items():
            prefix = f"squall_e2e_latency_seconds_bucket{{{labels},"
            buckets = [v for k, v in samples.items() if k.startswith(prefix)]
            assert buckets == sorted(buckets) and buckets[-1] == count  # cumulative, to +Inf
        families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
        assert families == [
            "squall_e2e_latency_seconds",
            "squall_deadline_miss_total",
            "squall_lateness_seconds_max",
            "squall_shed_total",
            "squall_precision",
        ]


def test_the_default_exposition_has_three_buckets_a_decade():
    metrics = Metrics()
    metrics.stream("s").complete(0.0, 1.0, 0.002)
    les = re.findall(r'le="([^"]+)"', metrics.prometheus())
    assert les[:4] == ["1e-06", "2.5e-06", "5e-06", "1e-05"]
    assert les[-2:] == ["1000.0", "+Inf"] and len(les) == 9 * 3 + 2

"""The benchmark table: rows, ratios, the markdown file and the plot."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass
class Row:
    """One measured configuration. ``records_per_s`` is None when the row could not run."""

    group: str
    name: str
    baseline: str | None = None  # the row name the ratio is taken against
    records_per_s: float | None = None
    ratio: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    peak_rss_mb: float | None = None
    outputs: str = ""  # alerts / invalid / trends, to show every row did the same work
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fill_ratios(rows: list[Row]) -> None:
    by_name = {r.name: r for r in rows}
    for r in rows:
        base = by_name.get(r.baseline) if r.baseline else None
        if base is not None and base.records_per_s and r.records_per_s:
            r.ratio = r.records_per_s / base.records_per_s


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _versions() -> str:
    names = ["streamparse", "pystorm", "kafka-python", "bytewax", "msgpack"]
    parts = [f"Python {platform.python_version()}"]
    for name in names:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=20)
        parts.append(java.stderr.splitlines()[0] if java.stderr else "java ?")
    except (OSError, subprocess.SubprocessError):
        parts.append("java (not found)")
    return ", ".join(parts)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, {platform.platform()}; load average at the end {load}"


def write(
    rows: list[Row],
    quick: bool,
    extras: list[str],
    started: dt.datetime,
    folder: Path | None = None,
) -> Path:
    """``<folder>/<date>[-quick].md`` and ``.png`` (folder: bench/results); the markdown path."""
    folder = folder or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / (started.strftime("%Y-%m-%d") + ("-quick" if quick else ""))
    lines = [
        f"# squall benchmark — {started.isoformat(timespec='seconds')}Z"
        + (" (quick run: tiny inputs, numbers not meaningful)" if quick else ""),
        "",
        f"- machine: {_machine()}",
        f"- versions: {_versions()}",
        f"- command: `{' '.join([Path(sys.executable).name, '-m', 'bench.run', *sys.argv[1:]])}`,"
        f" {(dt.datetime.now(dt.UTC).replace(tzinfo=None) - started).total_seconds():.0f} s",
        "",
        "| group | row | records/s | ratio | to | p50 ms | p99 ms | peak RSS MB | outputs | note |",
        "|---|---|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.group} | {r.name} | {_fmt(r.records_per_s, ',.0f')} | {_fmt(r.ratio, '.2f')} | "
            f"{r.baseline or ''} | {_fmt(r.p50_ms, '.1f')} | {_fmt(r.p99_ms, '.1f')} | "
            f"{_fmt(r.peak_rss_mb, '.0f')} | {r.outputs} | {r.note} |"
        )
    lines += ["", *extras]
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n")
    plot(rows, stem.with_suffix(".png"), quick)
    plot_plan(rows, stem.with_name(stem.name + "-plan.png"), quick)
    from bench.report_realtime import plot_realtime

    plot_realtime(rows, stem.with_name(stem.name + "-realtime.png"), quick)
    return md


def plot(rows: list[Row], path: Path, quick: bool) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    # The plan rows' rates are offered rates (the achieved one follows them until the knee):
    # they have a plot of their own (plot_plan).
    shown = [
        r for r in rows if r.records_per_s and r.group not in ("plan", "realtime", "realtime-kafka")
    ]
    colors = {
        "limit": "#222222",
        "runner": "#4477aa",
        "scaling": "#66ccee",
        "bytewax": "#ccbb44",
        "storm": "#ee6677",
        "kafka": "#228833",
        "chain": "#aa3377",
    }
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(shown) + 1.5))
    labels = [r.name if r.name.startswith(r.group) else f"{r.group}: {r.name}" for r in shown][::-1]
    values = [r.records_per_s or 0 for r in shown][::-1]
    ax.barh(labels, values, color=[colors.get(r.group, "#999999") for r in shown][::-1])
    for y, r in enumerate(shown[::-1]):
        if r.ratio is not None:
            ax.text(r.records_per_s or 0, y, f" {r.ratio:.2f}x", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("records / s, log scale (ratio to its baseline row at the bar's end)")
    ax.set_title("squall benchmark" + (" (quick run)" if quick else ""))
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plan_rows(rows: list[Row]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The plan group's summary (on its calibration row) and its per-rate medians."""
    summary = next((r.extra for r in rows if r.extra.get("plan") == "calibration"), None)
    rates = [r.extra for r in rows if r.extra.get("plan") == "rate"]
    return summary, sorted(rates, key=lambda r: r["offered"])


def plot_plan(rows: list[Row], path: Path, quick: bool) -> None:
    """Issue 12: predicted vs measured, against the offered rate: alert p99 (with the deadline
    and the plan's worst-case response), the backlog, and the rate the spout achieved."""
    summary, rates = _plan_rows(rows)
    if summary is None or not rates:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plan plot", file=sys.stderr)
        return
    offered = [r["offered"] for r in rates]
    max_rate, deadline = summary["max_rate"], summary["deadline_ms"]
    fig, (lat, back, got) = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    lat.plot(offered, [r["p99_ms"] for r in rates], "o-", color="#ee6677", label="measured p99")
    lat.plot(offered, [r["p50_ms"] for r in rates], "o:", color="#4477aa", label="measured p50")
    each = [(r["offered"], v) for r in rates for v in r.get("runs_p99_ms", []) if v is not None]
    if len(each) > len(rates):
        lat.plot(*zip(*each, strict=True), ".", color="#ee6677", alpha=0.5, label="p99 of each run")
    feasible = [r for r in rates if r["predicted_response_ms"] is not None]
    lat.plot(
        [r["offered"] for r in feasible],
        [r["predicted_response_ms"] for r in feasible],
        "s--",
        color="#228833",
        label="predicted worst case",
    )
    lat.axhline(deadline, color="#222222", lw=1, label=f"deadline {deadline:g} ms")
    lat.set_yscale("log")
    lat.set_ylabel("alert latency, ms (log)")
    back.plot(offered, [r["behind_end_s"] for r in rates], "o-", color="#aa3377")
    back.set_ylabel("spout behind its schedule\nat the end, s")
    got.plot(offered, [r["achieved"] for r in rates], "o-", color="#4477aa", label="achieved")
    got.plot(offered, offered, ":", color="#999999", label="offered")
    own = [(r["offered"], r["own_max_rate"]) for r in rates if r.get("own_max_rate")]
    if own:
        got.plot(
            *zip(*own, strict=True),
            "x",
            color="#228833",
            label="predicted max rate, calibration before that rate's runs",
        )
    got.set_ylabel("readings / s")
    got.set_xlabel("offered readings / s")
    for ax in (lat, back, got):
        ax.axvline(max_rate, color="#228833", ls="--", lw=1, label="predicted max rate")
        if summary.get("knee"):
            ax.axvline(summary["knee"], color="#ee6677", ls=":", lw=1, label="measured knee")
        if summary.get("capacity_knee") and summary["capacity_knee"] != summary.get("knee"):
            ax.axvline(
                summary["capacity_knee"],
                color="#aa3377",
                ls=":",
                lw=1,
                label="highest rate, backlog bounded",
            )
        ax.grid(alpha=0.3)
    lat.legend(fontsize=7)
    got.legend(fontsize=7)
    lat.set_title(
        "squall plan vs measured: health topology, 1 worker, median of "
        f"{rates[0].get('runs', 1)} runs" + (" (quick run)" if quick else "")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# (issue, what, row, baseline row, minimum ratio)
TARGETS: list[tuple[str, str, str, str, float]] = [
    (
        "13",
        "600 s window >= 0.9x of 10 s",
        "pane trend, Kafka feed, window 600 s, 1 proc, acking on",  # bench.run.PANE_WINDOW_ROW
        "pane trend, Kafka feed, window 10 s, 1 proc, acking on",
        0.9,
    ),
    ("7, 13", "runner with acking >= 0.5x the hand loop", "1 proc, acking on", "hand loop", 0.5),
    (
        "7, 13",
        "runner without acking >= 0.8x the hand loop",
        "1 proc, acking off",
        "hand loop",
        0.8,
    ),
    (
        "7",
        "runner (per item, acking on) above Bytewax per item",
        "1 proc, acking on",
        "batch 1",
        1.0,
    ),
    # bench.rows_storm.VARIANTS: stock multilang is JSON, one next_tuple per `next`, one
    # process per bolt. Issue 7's 2x: msgpack alone measured 1.05-1.41x (bench/README.md);
    # the product options reach it together.
    (
        "7",
        "Storm path >= 2x stock JSON multilang (msgpack both sides + spout batch)",
        "Storm local mode, msgpack, spout batch 16, unfused",
        "Storm local mode, json, 1 next_tuple per next, unfused (stock)",
        2.0,
    ),
    # Issue 13, item 5: the product's defaults under Storm: msgpack (one setting,
    # docs/storm.md), squall.spout.batch 16 (squall.storm.batched_spout) and fused Python bolts
    # (squall.storm.fusion: every bolt of the health topology in one process since 12-04
    # evening), against stock multilang on the same topology (one parse task) and
    # on the topology as it was before 2026-12-04 (two parse tasks): one row each
    (
        "13",
        "Storm path >= 5x stock JSON multilang (msgpack + spout batch + fused bolts)",
        "Storm local mode, msgpack, spout batch 16, every bolt fused (the defaults)",
        "Storm local mode, json, 1 next_tuple per next, unfused (stock)",
        5.0,
    ),
    (
        "13",
        "Storm path >= 5x stock JSON multilang with two parse tasks (the topology before 12-04)",
        "Storm local mode, msgpack, spout batch 16, every bolt fused (the defaults)",
        "Storm local mode, json, 1 next_tuple per next, unfused, parse 2 (stock, the topology "
        "before 12-04)",
        5.0,
    ),
    (
        "2, 13",
        "3-bolt chain, acking on >= 0.4x its loop",
        "chain: 1 proc, acking on",
        "chain: hand loop, light",
        0.4,
    ),
    (
        "2",
        "3-bolt chain, acking off >= 0.75x its loop",
        "chain: 1 proc, acking off",
        "chain: hand loop, light",
        0.75,
    ),
    (
        "13",
        "3-bolt chain, acking off >= 0.5x its loop",
        "chain: 1 proc, acking off",
        "chain: hand loop, light",
        0.5,
    ),
    ("2", "health workload, acking on >= 0.4x the loop", "1 proc, acking on", "hand loop", 0.4),
    ("2", "health workload, acking off >= 0.75x the loop", "1 proc, acking off", "hand loop", 0.75),
    (
        "2, 13",
        "multi-process >= 1.6x single on a CPU-bound bolt",
        "chain: CPU-bound, 2 procs",
        "chain: CPU-bound, 1 proc",
        1.6,
    ),
    (
        "5",
        "Kafka end to end >= 0.8x the kafka-python consumer ceiling",
        "HealthKafkaTopology, backlog, 1 proc",
        "kafka-python consumer ceiling",
        0.8,
    ),
    # Issue 13, item 1: against hand loops doing the same work (bench/kafka_hand_loops.py)
    (
        "13",
        "Kafka end to end >= 0.8x the kafka-python hand loop",
        "HealthKafkaTopology, backlog, 1 proc",
        "hand loop, kafka-python",
        0.8,
    ),
    (
        "13",
        "Kafka confluent end to end >= 0.4x the confluent-kafka hand loop",
        "HealthKafkaTopology, confluent-kafka backend, backlog, 1 proc",
        "hand loop, confluent-kafka",
        0.4,
    ),
]
# Rows a target names that nothing measures yet: the target says so instead of "not measured".
# rows whose subject does not exist yet, by row name -> why (shown instead of "not measured")
NOT_BUILT: dict[str, str] = {}


def target_lines(rows: list[Row]) -> list[str]:
    """The targets of issues 2, 5, 7 and 12 against this run: met or missed, with the ratio
    (issue 12's: with the numbers they are judged on)."""
    by_name = {r.name: r for r in rows}
    lines = ["## Targets in this run", "", "| issue | target | ratio | met |", "|---|---|---:|---|"]
    for issue, what, name, base, minimum in TARGETS:
        row, ref = by_name.get(name), by_name.get(base)
        if row is None and name in NOT_BUILT:
            lines.append(f"| {issue} | {what} | — | not built: {NOT_BUILT[name]} |")
            continue
        if row is None or ref is None or not row.records_per_s or not ref.records_per_s:
            failed = [r.name for r in (row, ref) if r is not None and r.note.startswith("FAILED")]
            why = (
                f"row failed: {failed[0]} (see its note)" if failed else "not measured in this run"
            )
            lines.append(f"| {issue} | {what} | — | {why} |")
            continue
        ratio = row.records_per_s / ref.records_per_s
        lines.append(f"| {issue} | {what} | {ratio:.2f} | {'yes' if ratio >= minimum else 'NO'} |")
    summary, rates = _plan_rows(rows)
    for what, shown, met in (summary or {}).get("targets", []):
        lines.append(f"| 12 | {what} | {shown} | {'yes' if met else 'NO'} |")
    from bench.report_realtime import summary_lines, target_rows

    for what, shown, met in target_rows(rows):
        lines.append(f"| 11 | {what} | {shown} | {'yes' if met else 'NO'} |")
    from bench.report_ui import target_lines as ui_target_lines

    lines += ui_target_lines(rows)
    lines += _window_rss_lines(by_name)
    from bench.kafka_latency import latency_target_lines

    lines += latency_target_lines(rows)
    keyed = [r for r in rows if r.group == "scaling" and "keys" in r.name and r.peak_rss_mb]
    if keyed:
        low, high = min(r.peak_rss_mb or 0 for r in keyed), max(r.peak_rss_mb or 0 for r in keyed)
        bounded = high <= 1.5 * low
        lines.append(
            f"| 7 | peak RSS bounded from 10 to 1M keys | {high / low:.2f} "
            f"({low:.0f}-{high:.0f} MB) | {'yes' if bounded else 'NO'} |"
        )
    if summary is not None and rates:
        lines += ["", *_plan_lines(summary)]
    realtime = summary_lines(rows)
    if realtime:
        lines += ["", *realtime]
    return lines


def _window_rss_lines(by_name: dict[str, Row]) -> list[str]:
    """Issue 13's memory target of the pane-based trend path: 600 s peak RSS <= 1.2x 10 s."""
    from bench.run import PANE_WINDOW_ROW

    short, long = by_name.get(PANE_WINDOW_ROW.format(10)), by_name.get(PANE_WINDOW_ROW.format(600))
    what = "600 s window peak RSS <= 1.2x of 10 s"
    if short is None or long is None or not short.peak_rss_mb or not long.peak_rss_mb:
        return [f"| 13 | {what} | — | not measured in this run |"]
    ratio = long.peak_rss_mb / short.peak_rss_mb
    shown = f"{ratio:.2f} ({short.peak_rss_mb:.0f} -> {long.peak_rss_mb:.0f} MB)"
    return [f"| 13 | {what} | {shown} | {'yes' if ratio <= 1.2 else 'NO'} |"]


def _plan_lines(summary: dict[str, Any]) -> list[str]:
    """The plan group's knees under the targets table (issue 12)."""

    def rate(value: float | None) -> str:
        return "none" if value is None else f"{value:,.0f}/s"

    low_high = summary.get("ceiling")
    ceiling = "none" if not low_high else f"{low_high[0]:,.0f}-{low_high[1]:,.0f}/s (medians)"
    return [
        f"Plan (issue 12): predicted max sustainable rate {rate(summary['max_rate'])}"
        + (
            f" (median of {len(summary['own_rates'])} calibrations, one before each rate's "
            f"runs: {min(summary['own_rates']):,.0f}-{max(summary['own_rates']):,.0f}/s; the "
            f"first, which placed the rates, {rate(summary.get('grid_rate'))})"
            if summary.get("own_rates")
            else ""
        )
        + "; "
        f"measured knee (backlog bounded and alert p99 within {summary['deadline_ms']:g} ms, "
        f"there and at every rate below) {rate(summary['knee'])}"
        + (
            f" (a higher rate passed too: {rate(summary['knee_any'])})"
            if summary.get("knee_any") != summary["knee"]
            else ""
        )
        + "; highest rate with the backlog bounded "
        f"{rate(summary['capacity_knee'])}; rate achieved at the rates that overloaded it "
        f"{ceiling}. The group took {summary['elapsed_s']:.0f} s; its plot is the `-plan.png` "
        "beside this file.",
    ]

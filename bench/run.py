"""``make bench``: every row of the runner benchmark in one sitting, as ratios to the hand loop.

Writes ``bench/results/<date>.md`` (the table, machine and versions) and ``<date>.png`` (a bar
plot). ``--quick`` runs tiny inputs, for the smoke test that checks the table gets written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.chain import Chain, ParallelChain, hand_loop
from squall.runner import run_topology

RESULTS = Path(__file__).parent / "results"


@dataclass
class Row:
    name: str
    records_per_s: float
    baseline: str
    ratio: float = 0.0
    peak_rss_mb: float = 0.0
    note: str = ""


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _runner_rate(topology: type, n: int, spin: int, reliable: bool, workers: int) -> float:
    conf = {"bench.records": n, "bench.spin": spin, "bench.reliable": reliable}
    start = time.perf_counter()
    result = run_topology(topology, conf, workers=workers, until_idle=True)
    elapsed = time.perf_counter() - start
    done = result.stats["count"].executed
    if done != n:
        raise RuntimeError(f"{topology.__name__}: count bolt executed {done} of {n} records")
    return n / elapsed


def measure(quick: bool, progress: Callable[[str], None]) -> list[Row]:
    light_n = 2_000 if quick else 150_000
    cpu_n = 500 if quick else 20_000
    spin = 20 if quick else 300
    rows: list[Row] = []

    def add(name: str, rate: float, baseline: str, note: str = "") -> None:
        rows.append(Row(name, rate, baseline, peak_rss_mb=_peak_rss_mb(), note=note))
        progress(f"{name:<48} {rate:>12,.0f} rec/s")

    add("hand loop, light work", hand_loop(light_n, 0), "hand loop, light work")
    add("runner 1 proc, acking on", _runner_rate(Chain, light_n, 0, True, 1), "hand loop, light work")
    add("runner 1 proc, acking off", _runner_rate(Chain, light_n, 0, False, 1), "hand loop, light work")
    add("runner 2 procs, acking on", _runner_rate(ParallelChain, light_n, 0, True, 2), "hand loop, light work")
    add("hand loop, CPU-bound", hand_loop(cpu_n, spin), "hand loop, CPU-bound")
    add("runner 1 proc, CPU-bound, acking on", _runner_rate(ParallelChain, cpu_n, spin, True, 1),
        "hand loop, CPU-bound")
    add("runner 2 procs, CPU-bound, acking on", _runner_rate(ParallelChain, cpu_n, spin, True, 2),
        "runner 1 proc, CPU-bound, acking on", note="target >= 1.6x single-process")
    by_name = {r.name: r for r in rows}
    for r in rows:
        r.ratio = r.records_per_s / by_name[r.baseline].records_per_s
    return rows


def write_report(rows: list[Row], quick: bool) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    stem = RESULTS / (f"{stamp}-quick" if quick else stamp)
    lines = [
        f"# squall runner benchmark — {dt.datetime.now().isoformat(timespec='seconds')}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}{' (quick run: tiny inputs, numbers not meaningful)' if quick else ''}",
        "",
        "| row | records/s | ratio | to | peak RSS MB | note |",
        "|---|---:|---:|---|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r.name} | {r.records_per_s:,.0f} | {r.ratio:.2f} | {r.baseline} | "
                     f"{r.peak_rss_mb:.0f} | {r.note} |")
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 4.5))
        ax.barh([r.name for r in rows][::-1], [r.records_per_s for r in rows][::-1], color="#4477aa")
        ax.set_xlabel("records / s (higher is better)")
        ax.set_title("squall embedded runner vs hand-written loop")
        fig.tight_layout()
        fig.savefig(stem.with_suffix(".png"), dpi=110)
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
    return md


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs (smoke test)")
    args = parser.parse_args(argv)
    rows = measure(args.quick, lambda line: print(line, flush=True))
    path = write_report(rows, args.quick)
    print(path.read_text())
    print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

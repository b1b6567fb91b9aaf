"""``make bench``: every row of the benchmark in one sitting, as ratios to the hand-written loop.

Rows (see bench/README.md for what each measures): the hand loop (the limit), the embedded
runner (acking on/off, 1 and 2 processes), Bytewax (batch 1 and 1000), Storm local mode
(multilang, JSON and msgpack), end to end through a real Kafka broker (consumer ceiling, p50/p99
latency at fixed offered rates), the scaling rows (par, window length, distinct keys), the
pane-based trend path at a 10 s and a 600 s window (issue 13, group ``windows``), issue 2's
3-bolt chain, issue 12's check of ``squall plan`` (predicted vs measured at paced rates) and
issue 11's real-time group (critical alerts under overload, per scheduling and shedding policy).
Each row runs in its own process and prints progress while it runs.

Writes ``bench/results/<date>.md`` (``<date>-quick.md`` with ``--quick``) and a ``.png`` plot.
``--only GROUP`` runs the rows of some groups (repeatable), e.g. ``--only runner``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIMIT = "hand loop"


@dataclass
class Spec:
    group: str
    name: str
    target: str  # module:function returning the row's measured fields
    kwargs: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = LIMIT
    timeout_s: float = 300.0


def specs(quick: bool) -> list[Spec]:
    n = 3_000 if quick else 200_000
    n_keys = 3_000 if quick else 200_000
    n_window = 3_000 if quick else 100_000
    chain_n, cpu_n, spin = (2_000, 500, 20) if quick else (150_000, 20_000, 300)
    runner = "bench.rows_runner:runner_row"
    rows = [
        Spec("limit", LIMIT, "bench.rows_runner:limit_row", {"records": n}, baseline=None),
        Spec("runner", "1 proc, acking on", runner, {"records": n}),
        Spec("runner", "1 proc, acking off", runner, {"records": n, "acking": False}),
        Spec("runner", "2 procs, acking on", runner, {"records": n, "workers": 2}),
        Spec(
            "runner", "2 procs, acking off", runner, {"records": n, "workers": 2, "acking": False}
        ),
        Spec("bytewax", "batch 1", "bench.rows_bytewax:bytewax_row", {"records": n, "batch": 1}),
        Spec(
            "bytewax", "batch 1000", "bench.rows_bytewax:bytewax_row", {"records": n, "batch": 1000}
        ),
    ]
    for par in (1, 2, 4):
        rows.append(
            Spec(
                "scaling",
                f"par {par}, 2 procs, acking on",
                runner,
                {"records": n, "workers": 2, "par": par},
            )
        )
    for window_s in (10, 60, 600):
        rows.append(
            Spec(
                "scaling",
                f"window {window_s} s, 1 proc, acking on",
                runner,
                {"records": n_window, "window_s": window_s},
            )
        )
    rows += window_specs(n_window)
    for keys, label in ((10, "10"), (10_000, "10k"), (1_000_000, "1M")):
        rows.append(
            Spec(
                "scaling",
                f"{label} keys (rule x patient), 1 proc, acking on",
                runner,
                {"records": n_keys, "keys": keys, "by_patient": True},
            )
        )
    rows += storm_specs(quick) + kafka_specs(quick)
    chain = "bench.rows_runner:chain_row"
    light, cpu = "chain: hand loop, light", "chain: hand loop, CPU-bound"
    rows += [
        Spec("chain", light, chain, {"kind": "loop", "records": chain_n}, baseline=None),
        Spec(
            "chain",
            "chain: 1 proc, acking on",
            chain,
            {"kind": "chain", "records": chain_n},
            baseline=light,
        ),
        Spec(
            "chain",
            "chain: 1 proc, acking off",
            chain,
            {"kind": "chain", "records": chain_n, "acking": False},
            baseline=light,
        ),
        Spec("chain", cpu, chain, {"kind": "loop", "records": cpu_n, "spin": spin}, baseline=None),
        Spec(
            "chain",
            "chain: CPU-bound, 1 proc",
            chain,
            {"kind": "parallel", "records": cpu_n, "spin": spin},
            baseline=cpu,
        ),
        Spec(
            "chain",
            "chain: CPU-bound, 2 procs",
            chain,
            {"kind": "parallel", "records": cpu_n, "spin": spin, "workers": 2},
            baseline="chain: CPU-bound, 1 proc",
        ),
    ]
    return rows + plan_specs(quick) + realtime_specs(quick) + ui_specs(quick)


# Issue 13, item 4: the pane-based trend path as the Kafka topology feeds it (bench/rows_windows.py)
PANE_WINDOW_ROW = "pane trend, Kafka feed, window {} s, 1 proc, acking on"


def window_specs(records: int) -> list[Spec]:
    """Group ``windows``: the trend path behind the unanchored feed at a 10 s and a 600 s
    window, best of 3 runs each (bench/rows_windows.py says why; `--only windows`, about a
    minute in all)."""
    return [
        Spec(
            "windows",
            PANE_WINDOW_ROW.format(window_s),
            "bench.rows_windows:pane_window_row",
            {"records": records, "window_s": window_s},
        )
        for window_s in (10, 600)
    ]


def storm_specs(quick: bool) -> list[Spec]:
    from bench.rows_storm import VARIANTS

    records, seconds, repeats = (2_000, 30, 1) if quick else (20_000, 40, 2)
    return [
        Spec(
            "storm",
            "storm",
            "bench.rows_storm:storm_rows",
            {
                "records": records,
                "seconds": seconds,
                "repeats": repeats,
                "variants": list(VARIANTS),
            },
            baseline=None,
            timeout_s=1500,
        )
    ]


def kafka_specs(quick: bool) -> list[Spec]:
    records, rates, seconds = (
        (2_000, [200], 2.0) if quick else (100_000, [1_000, 3_000, 10_000], 15.0)
    )
    return [
        Spec(
            "kafka",
            "kafka",
            "bench.rows_kafka:kafka_rows",
            {"records": records, "rates": rates, "seconds": seconds},
            timeout_s=900,
        )
    ]


def plan_specs(quick: bool) -> list[Spec]:
    """Issue 12's validation (bench/rows_plan.py): calibrate (15 s, as squall plan does by
    default) to place the rates at multiples of the predicted highest rate meeting the deadline,
    then per rate a calibration of its own and paced runs. 0.7-1.0 step by 10% below the
    prediction, so that the knee (the highest rate that holds) is located to within 10-15% when
    the prediction is near it; 1.3-2x reach past a knee the prediction (a bound) sits below.
    Full: 9 calibrations and 8 rates x 3 runs of 18 s, about 11 minutes."""
    calibrate_s, rates_x, seconds, repeats = (
        (1.0, [0.5, 2.0], 2.5, 1)
        if quick
        else (15.0, [0.5, 0.7, 0.8, 0.9, 1.0, 1.3, 1.6, 2.0], 18.0, 3)
    )
    return [
        Spec(
            "plan",
            "plan",
            "bench.rows_plan:plan_rows",
            {
                "calibrate_s": calibrate_s,
                "rates_x": rates_x,
                "seconds": seconds,
                "repeats": repeats,
            },
            baseline=None,
            timeout_s=1000,
        )
    ]


def realtime_specs(quick: bool) -> list[Spec]:
    """Issue 11 (bench/rows_realtime.py): capacities, then the ward at 0.5-3x its full-work
    capacity per policy set, and a 3x burst for 5 s on 0.6x. Full: 3 probes, two knee searches
    (3-8 runs each) + 3 x (5 + 1) runs of 12 s, about 8 minutes."""
    seconds, loads, policies, burst = (
        (2.5, [0.5, 2.0], ["fifo/late", "edf+imprecise+discard"], None)
        if quick
        else (
            12.0,
            [0.5, 1.0, 1.5, 2.0, 3.0],
            ["fifo/late", "edf+imprecise+discard", "edf+imprecise+discard+rate"],
            (4.0, 5.0, 3.0),
        )
    )
    return [
        Spec(
            "realtime",
            "realtime",
            "bench.rows_realtime:realtime_rows",
            {
                "seconds": seconds,
                "loads": loads,
                "policies": policies,
                "burst": burst,
                "probe": 1_000.0 if quick else 2_000.0,
                "probes": 2 if quick else 3,
                "knee_steps": 1 if quick else 6,
                "cost_pairs": 1 if quick else 4,
            },
            baseline=None,
            timeout_s=1_200,
        ),
        # The same question through Kafka (bench/rows_realtime_kafka.py): a group of its own,
        # `--only realtime-kafka`, so that the synthetic group's rows stay as they are. Full:
        # 2 backlog drains + 3 policy sets x 4 loads, each ~12 s + the groups' join.
        Spec(
            "realtime-kafka",
            "realtime-kafka",
            "bench.rows_realtime_kafka:kafka_realtime_rows",
            {
                "seconds": 3.0 if quick else 12.0,
                "loads": [0.5, 2.0] if quick else [0.5, 1.0, 2.0, 3.0],
                "policies": ["edf+imprecise+discard"]
                if quick
                else ["fifo/late", "edf+imprecise+discard", "edf+imprecise+discard+rate"],
                "backlog": 3_000 if quick else 40_000,
            },
            baseline=None,
            timeout_s=600 if quick else 1_800,
        ),
    ]


def ui_specs(quick: bool) -> list[Spec]:
    """Issue 14 (bench/rows_ui.py): health.py unpaced with and without the live view, in
    interleaved pairs of fresh processes. Full: 3 pairs of 15 s runs (the first 3 s, start-up
    and the first windows, not measured), about 2 minutes."""
    seconds, warmup_s, pairs = (2.0, 0.5, 1) if quick else (15.0, 3.0, 3)
    return [
        Spec(
            "ui",
            "ui",
            "bench.rows_ui:ui_rows",
            {"seconds": seconds, "warmup_s": warmup_s, "pairs": pairs},
            baseline=None,
            timeout_s=600,
        )
    ]


def measure(quick: bool, only: list[str] | None) -> list[Any]:
    from bench.report import Row
    from bench.rowexec import run_row

    rows = []
    chosen = [s for s in specs(quick) if not only or s.group in only]
    for index, spec in enumerate(chosen, 1):
        label = f"[{index}/{len(chosen)}] {spec.group}: {spec.name}"
        print(f"{label} ...", flush=True)
        started = time.monotonic()
        got = run_row(spec.target, spec.kwargs, label, spec.timeout_s)
        for fields in got.get("rows") or [got]:
            row = Row(
                spec.group,
                fields.get("name", spec.name),
                baseline=fields.get("baseline", spec.baseline),
            )
            if "error" in fields:
                row.note = str(fields["error"])[:300]
            for key in ("records_per_s", "p50_ms", "p99_ms", "outputs", "note", "extra"):
                if fields.get(key) is not None:
                    setattr(row, key, fields[key])
            row.peak_rss_mb = fields.get("peak_rss_mb", got.get("peak_rss_mb"))
            rate = "—" if row.records_per_s is None else f"{row.records_per_s:,.0f} rec/s"
            shown = label if row.name == spec.name else f"{label}: {row.name}"
            print(f"{shown}: {rate} ({time.monotonic() - started:.1f} s) {row.note}", flush=True)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs (the smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="GROUP",
        help="only these groups: limit runner bytewax scaling windows storm kafka chain plan "
        "realtime realtime-kafka ui serializer",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the results (default bench/results)"
    )
    args = parser.parse_args(argv)
    # The streamparse project convention (as `sparse` and `squall run` load topologies): the
    # components under src/ are importable. Spawned row processes inherit sys.path.
    if str(ROOT / "src") not in sys.path:
        sys.path.insert(0, str(ROOT / "src"))
    from bench.report import fill_ratios, target_lines, write

    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    only = args.only
    if only and LIMIT not in only and "limit" not in only:
        only = ["limit", *only]  # ratios need the limit row
    rows = measure(args.quick, only)
    extras: list[str] = []
    if not only or "serializer" in only:
        from bench.serializers import report_lines

        extras += report_lines(args.quick)
    fill_ratios(rows)
    extras = [*target_lines(rows), "", *extras]
    path = write(rows, args.quick, extras, started, args.out)
    print(path.read_text())
    print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rows (a), (b) and the scaling rows: the health workload by hand and on the embedded runner;
plus the 3-bolt chain of issue 2 (light and CPU-bound). Each function runs inside a fresh
child process (``bench.rowexec``) so its peak RSS is its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.health_workload import (
    Outcome,
    Workload,
    hand_loop,
    health_topology,
    reset_tally,
    tally_outcome,
)
from squall import run_topology

Progress = Callable[[int], None]


def _outputs(out: Outcome) -> str:
    return (
        f"{out.alerts} alerts, {out.invalid} invalid, {out.trends} trends (sum {out.trend_total})"
    )


def limit_row(
    records: int,
    keys: int = 1000,
    window_s: float = 10.0,
    by_patient: bool = False,
    progress: Progress | None = None,
    repeat: int = 2,
) -> dict[str, Any]:
    """The hand loop; best of ``repeat`` runs (the machine is shared: the best is the limit)."""
    work = Workload(records, keys=keys, window_s=window_s, by_patient=by_patient)
    rates = []
    for _ in range(repeat):
        rate, out = hand_loop(work, progress)
        rates.append(rate)
    return {
        "records_per_s": max(rates),
        "outputs": _outputs(out),
        "note": "best of " + ", ".join(f"{r:,.0f}" for r in rates),
    }


def runner_row(
    records: int,
    acking: bool = True,
    workers: int = 1,
    par: int = 1,
    keys: int = 1000,
    window_s: float = 10.0,
    by_patient: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """HealthTopology's bolts on the embedded runner; rate = readings / time to the last alert."""
    work = Workload(records, keys=keys, window_s=window_s, by_patient=by_patient)
    conf = work.storm_conf()
    if not acking:
        conf["topology.acker.executors"] = 0
    conf["squall.drain.secs"] = 1.0  # the last windows' trees never complete: don't wait 5 s
    reset_tally()

    def show(_elapsed: float, snap: Any) -> None:
        if progress is not None:
            progress(snap.spout_emitted)

    start = time.monotonic()
    result = run_topology(
        health_topology(par, by_patient),
        conf,
        workers=workers,
        until_idle=True,
        progress=show,
        progress_every_s=2.0,
    )
    out, last = tally_outcome()
    if result.errors:
        raise RuntimeError(f"run reported {len(result.errors)} errors, first: {result.errors[0]}")
    note = "" if not by_patient else f"{min(records, keys):,} distinct patients seen"
    return {"records_per_s": records / (last - start), "outputs": _outputs(out), "note": note}


def chain_row(
    kind: str,
    records: int,
    spin: int = 0,
    acking: bool = True,
    workers: int = 1,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Issue 2's 3-bolt chain (bench.chain): ``kind`` is 'loop', 'chain' or 'parallel'."""
    from bench.chain import Chain, ParallelChain
    from bench.chain import hand_loop as chain_loop

    if kind == "loop":
        return {"records_per_s": max(chain_loop(records, spin) for _ in range(2))}
    topology = Chain if kind == "chain" else ParallelChain
    conf = {"bench.records": records, "bench.spin": spin, "bench.reliable": acking}
    if not acking:
        conf["topology.acker.executors"] = 0
    start = time.perf_counter()
    result = run_topology(topology, conf, workers=workers, until_idle=True)
    elapsed = time.perf_counter() - start
    done = result.stats["count"].executed
    if done != records:
        raise RuntimeError(f"{topology.__name__}: count bolt executed {done} of {records} records")
    return {"records_per_s": records / elapsed}

"""Issue 14's bench: what the live view (``squall run --ui``) costs the run it watches.

**Topology.** topologies/health.py itself, on the embedded runner (one worker), unpaced
(``health.producers.rate.per.producer.hz=0``: the synthetic spout emits as fast as the worker
takes readings), the console sink off, ``topology.max.spout.pending`` as ``squall plan``'s
calibration sets it (an alert's reading stays in flight while its trend windows hold it: a small
limit would idle the worker and measure the wait, not the work).

**With the UI** the run is wired as ``squall run --ui`` wires it (``squall.ui.launch``): the
live view's server on a free loopback port, its ``LiveFeed`` given to ``run_topology(live=...)``
(a sample of every task at each progress tick, and the probe's taps on the streams the
topology's ``ui_panels`` declare), and one page's worth of reader: a separate process reading
``/events`` (an open page costs the run a JSON of the state per tick in the server's thread,
in the run's process; the reader is a process of its own so that its parsing does not).
Without the UI: the same run, ``live=None``. Both tick progress every 1 s, as ``squall run``
does, since the feed rides on that tick.

**Measured.** Readings the spout emitted per second between the first progress tick past
``warmup_s`` (imports, first windows) and the last tick. Each run is a fresh process
(``bench.rowexec``); pairs are interleaved, their order alternating (off/on, on/off, ...), so
that a drift of the shared machine falls on both sides; a row is the median of its runs and
issue 14's target is the ratio of the medians (bench/report_ui.py).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Progress = Callable[[int], None]

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "topologies" / "health.py"
OFF, ON = "ui: off", "ui: on"
OPTIONS: dict[str, Any] = {
    "health.producers.rate.per.producer.hz": 0,  # unpaced
    "health.sinks.console": False,  # printing would measure the terminal
    "topology.max.spout.pending": 500_000,  # squall plan's CALIBRATION_PENDING, same reason
    "squall.drain.secs": 1.0,  # the last windows' trees never complete: don't wait 5 s
}
# Reads the SSE stream until killed; stdlib only, so it starts fast in a bare interpreter.
READER = (
    "import sys, urllib.request\n"
    "with urllib.request.urlopen(sys.argv[1], timeout=60) as r:\n"
    "    while r.read(65536): pass\n"
)


def _view_args() -> argparse.Namespace:
    """What ``squall run --ui --port 0 --ui-linger-secs 0`` parses to (squall.ui.launch)."""
    return argparse.Namespace(
        ui=True,
        port=0,  # any free port: runs never collide with a user's view or each other
        ui_host="127.0.0.1",
        ui_token=None,
        ui_show_payloads=False,
        ui_linger_secs=0,
        workers=1,
    )


def ui_run(
    ui: bool, seconds: float, warmup_s: float, progress: Progress | None = None
) -> dict[str, Any]:
    """One run of health.py, with or without the live view; its readings per second."""
    from squall import run_topology
    from squall.loading import load_topology, run_conf
    from squall.ui.launch import start_live_view

    topology = load_topology(str(TOPOLOGY))
    conf = run_conf(topology, OPTIONS, ROOT / "config.json")
    samples: list[tuple[float, int]] = []

    def tick(_elapsed: float, snap: Any) -> None:
        samples.append((time.monotonic(), snap.spout_emitted))
        if progress is not None:
            progress(snap.spout_emitted)

    view, reader = None, None
    if ui:
        view = start_live_view(_view_args(), topology, TOPOLOGY.stem, out=io.StringIO())
        events = view.url.rstrip("/") + "/events"
        reader = subprocess.Popen([sys.executable, "-c", READER, events])
    try:
        started = time.monotonic()
        result = run_topology(
            topology,
            conf,
            # half a tick more: the tick at `seconds` falls inside the run (the runner
            # stops at `seconds` exactly, before that tick) and ends the measured span
            seconds=seconds + 0.5,
            name=TOPOLOGY.stem,
            progress=tick,
            progress_every_s=1.0,  # squall run's tick, which the live feed rides on
            live=None if view is None else view.feed,
        )
        if view is not None:
            view.finish(result)
    finally:
        if reader is not None:  # stopped by its own pid
            reader.kill()
            reader.wait(10)
        if view is not None:
            view.close()
    steady = [(t, n) for t, n in samples if t - started >= warmup_s]
    if len(steady) < 2:
        raise RuntimeError(f"{len(samples)} progress ticks in {seconds:g} s: too few to measure")
    (t0, n0), (t1, n1) = steady[0], steady[-1]
    stats = result.stats
    return {
        "records_per_s": (n1 - n0) / (t1 - t0),
        "measured_s": t1 - t0,
        "alerts": stats["threshold"].emitted if "threshold" in stats else None,
        "errors": len(result.errors),
    }


def ui_rows(
    seconds: float, warmup_s: float, pairs: int, progress: Progress | None = None
) -> dict[str, Any]:
    """``pairs`` interleaved off/on runs, each in a fresh process; rows "ui: off" and "ui: on"."""
    from bench.rowexec import run_row

    rates: dict[str, list[float]] = {OFF: [], ON: []}
    ratios: list[float] = []
    rss: dict[str, list[float]] = {OFF: [], ON: []}
    errors: list[str] = []
    for pair in range(pairs):
        order = (OFF, ON) if pair % 2 == 0 else (ON, OFF)
        got: dict[str, float] = {}
        for name in order:
            label = f"{name}, pair {pair + 1}/{pairs}"
            out = run_row(
                "bench.rows_ui:ui_run",
                {"ui": name == ON, "seconds": seconds, "warmup_s": warmup_s},
                label,
                seconds + 90,
            )
            if "error" in out:
                errors.append(f"{label}: {out['error']}")
                continue
            got[name] = out["records_per_s"]
            rates[name].append(out["records_per_s"])
            rss[name].append(out.get("peak_rss_mb") or 0.0)
            print(f"    {label}: {out['records_per_s']:,.0f} readings/s", flush=True)
        if len(got) == 2:  # a pair's ratio only from both of its runs
            ratios.append(got[ON] / got[OFF])
    rows: list[dict[str, Any]] = []
    for name in (OFF, ON):
        if not rates[name]:
            rows.append({"name": name, "error": "; ".join(errors) or "no run"})
            continue
        rows.append(
            {
                "name": name,
                "baseline": OFF if name == ON else None,
                "records_per_s": statistics.median(rates[name]),
                "peak_rss_mb": max(rss[name]),
                "note": f"median of {len(rates[name])} runs of {seconds:g} s: "
                + ", ".join(f"{r:,.0f}" for r in rates[name])
                + (f"; pair ratios {', '.join(f'{r:.3f}' for r in ratios)}" if name == ON else ""),
                "extra": {"ui": name, "rates": rates[name], "pair_ratios": ratios},
            }
        )
    return {"rows": rows}

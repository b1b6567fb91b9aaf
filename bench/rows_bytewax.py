"""Row (d): the health workload as a Bytewax dataflow (Bytewax from PyPI, the ``bench`` extra).

Equivalent steps: input (``batch`` payloads per poll) -> parse (the project's parse_payload)
-> branch valid/invalid -> BMI -> one alert per firing rule -> ``count_window`` keyed by rule
(event-time clock, sliding 10 s / 2 s aligned to the epoch, 1 s of allowed lateness like
TrendBolt's lag) -> trend against the previous window (``stateful_map``) -> a counting sink.
Bytewax runs it with ``run_main`` (one worker, in this process).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.health_workload import LAG_S, Outcome, Workload, payload
from health_core.bmi import bmi, who_class
from health_core.config import HealthConfig
from health_core.parse import Reading, parse_payload
from health_core.rules import firing
from health_core.trend import classify

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bytewax_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("bytewax")
    except Exception:  # noqa: BLE001 - not installed: the row says so
        return None


def run_bytewax(work: Workload, batch: int, progress: Any = None) -> tuple[float, Outcome]:
    """Records/s of the dataflow to its last alert, and what it produced."""
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.inputs import DynamicSource, StatelessSourcePartition
    from bytewax.operators import windowing as win
    from bytewax.outputs import DynamicSink, StatelessSinkPartition
    from bytewax.testing import run_main

    out = Outcome()
    last_alert = [0.0]
    records, keys = work.records, work.keys

    class Payloads(StatelessSourcePartition[str]):
        def __init__(self) -> None:
            self.i = 0

        def next_batch(self) -> list[str]:
            i = self.i
            if i >= records:
                raise StopIteration()
            end = min(records, i + batch)
            self.i = end
            if progress is not None and (i // 65536) != (end // 65536):
                progress(end)
            return [payload(k, keys) for k in range(i, end)]

    class Source(DynamicSource[str]):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> Payloads:
            return Payloads()

    class CountPartition(StatelessSinkPartition[Any]):
        def write_batch(self, items: list[Any]) -> None:
            for item in items:
                out.trends += 1
                out.trend_total += item[1][0]

    class CountSink(DynamicSink[Any]):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> CountPartition:
            return CountPartition()

    rules = HealthConfig().rules

    def parse(raw: str) -> Any:
        return parse_payload(raw, time.time_ns() // 1_000_000)

    def add_bmi(reading: Reading) -> dict[str, Any]:
        d = reading.to_dict()
        value = bmi(d["weight_kg"], d["height_cm"])
        return {**d, "bmi": value, "bmi_class": who_class(value)}

    def alerts(reading: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        found = [(rule.name, reading) for rule in firing(rules, reading)]
        if found:
            out.alerts += len(found)
            last_alert[0] = time.monotonic()
        return found

    def count_invalid(_item: Any) -> None:
        out.invalid += 1

    def trend(previous: int | None, window: tuple[int, int]) -> tuple[int, tuple[int, str, int]]:
        count = window[1]
        prev = previous or 0
        return count, (count, classify(count, prev), prev)

    flow = Dataflow("health_bench")
    raw = op.input("payloads", flow, Source())
    parsed = op.map("parse", raw, parse)
    split = op.branch("valid", parsed, lambda r: isinstance(r, Reading))
    op.inspect("invalid", split.falses, lambda _step, item: count_invalid(item))
    with_bmi = op.map("bmi", split.trues, add_bmi)
    fired = op.flat_map("threshold", with_bmi, alerts)
    clock = win.EventClock(
        lambda a: EPOCH + timedelta(milliseconds=a[1]["ts"]),
        wait_for_system_duration=timedelta(seconds=LAG_S),
    )
    windower = win.SlidingWindower(
        length=timedelta(seconds=work.window_s),
        offset=timedelta(seconds=work.slide_s),
        align_to=EPOCH,
    )
    counted = win.count_window("trend_window", fired, clock, windower, key=lambda a: a[0])
    trended = op.stateful_map("trend", counted.down, trend)
    op.output("sink", trended, CountSink())
    start = time.monotonic()
    run_main(flow)
    return work.records / (last_alert[0] - start), out


def bytewax_row(records: int, batch: int, progress: Any = None) -> dict[str, Any]:
    """Row (d): the dataflow with ``batch`` payloads per source poll."""
    found = bytewax_version()
    if found is None:
        return {"note": "bytewax not installed: pip install -e '.[bench]'"}
    rate, out = run_bytewax(Workload(records), batch, progress)
    return {
        "records_per_s": rate,
        "outputs": f"{out.alerts} alerts, {out.invalid} invalid, {out.trends} trends "
        f"(sum {out.trend_total})",
        "note": f"bytewax {found}, run_main (1 worker); windows flushed at end of input",
    }

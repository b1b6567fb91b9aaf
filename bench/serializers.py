"""The Python side of one Storm multilang hop, JSON vs msgpack (pystorm's two serializers).

A hop, for a bolt, is what pystorm does per tuple in ``Bolt._run``: read the tuple message,
call ``process`` (here: emit the same values, anchored), ack. The bolt runs on in-memory
streams holding N tuple messages in the serializer's wire format, exactly as Storm's ShellBolt
would write them; the time per tuple is the Python side's protocol cost of that hop.

The tuple is what flows between BMIBolt and ThresholdBolt in HealthTopology:
``[reading_id, ts, reading]`` with the reading dict of 8 fields.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

TUPLE_VALUES: list[Any] = [
    417,
    1_767_225_600_000,
    {
        "id": 417,
        "age": 33.0,
        "height_cm": 172.0,
        "weight_kg": 91.0,
        "ts": 1_767_225_600_000,
        "form": "self",
        "bmi": 30.76,
        "bmi_class": "obese_I",
    },
]


def _messages(n: int, serializer: str) -> bytes:
    msgs = [
        {
            "id": str(1_000_000 + i),
            "comp": "bmi",
            "stream": "default",
            "task": 3,
            "tuple": TUPLE_VALUES,
        }
        for i in range(n)
    ]
    if serializer == "json":
        return "".join(json.dumps(m) + "\nend\n" for m in msgs).encode()
    import msgpack

    return b"".join(msgpack.packb(m) for m in msgs)


def per_hop_us(serializer: str, n: int) -> tuple[float, float]:
    """(µs per tuple on the Python side, bytes written per tuple) for ``serializer``."""
    from pystorm import Bolt

    class Passthrough(Bolt):
        def process(self, tup: Any) -> None:
            self.emit(tup.values)

    out = io.BytesIO()
    bolt = Passthrough(
        input_stream=io.BytesIO(_messages(n, serializer)),
        output_stream=out,
        rdb_signal=None,
        serializer=serializer,
    )
    # What read_handshake would have set up.
    bolt.storm_conf, bolt.context = {}, {}
    bolt.component_name, bolt.task_id = "threshold", 4
    start = time.perf_counter()
    for _ in range(n):
        bolt._run()
    elapsed = time.perf_counter() - start
    written = out.getbuffer().nbytes if serializer != "json" else len(out.getvalue())
    return elapsed / n * 1e6, written / n


def report_lines(quick: bool) -> list[str]:
    n = 2_000 if quick else 50_000
    lines = [
        "## Storm multilang, Python side of one hop (pystorm serializers)",
        "",
        f"A bolt's read tuple -> emit (anchored) -> ack through pystorm's `Bolt._run` on "
        f"in-memory streams, {n:,} tuples of `[reading_id, ts, reading]` (best of 3).",
        "",
        "| serializer | µs per hop | bytes written per hop | ratio to JSON |",
        "|---|---:|---:|---:|",
    ]
    results = {}
    for name in ("json", "msgpack"):
        try:
            best = min(per_hop_us(name, n) for _ in range(3))
        except ImportError as exc:
            lines.append(f"| {name} | — | — | not installed: {exc} |")
            continue
        results[name] = best
    for name, (us, size) in results.items():
        ratio = results["json"][0] / us if "json" in results else float("nan")
        lines.append(f"| {name} | {us:.1f} | {size:.0f} | {ratio:.2f}x faster |")
    return lines

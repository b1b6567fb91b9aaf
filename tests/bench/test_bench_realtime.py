"""`make bench --quick --only realtime` (issue 11's group) writes its rows, its targets and its
plot. Never asserts a timing or a met target (a quick run's numbers mean nothing): only that
every row ran and reported the numbers the targets are judged on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_quick_realtime_run_writes_its_rows_targets_and_plot(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "bench.run", "--quick", "--only", "realtime"]
    proc = subprocess.run(
        [*args, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [md] = tmp_path.glob("*-quick.md")
    assert md.with_name(md.stem + "-realtime.png").stat().st_size > 0
    text = md.read_text()
    rows = re.findall(r"^\| realtime \| ([^|]+) \| ([\d,]+) \|", text, re.M)
    names = [name.strip() for name, _ in rows]
    assert names == [
        "capacity (full work)",
        "fifo/late at 0.5x",
        "fifo/late at 2x",
        "edf+imprecise+discard at 0.5x",
        "edf+imprecise+discard at 2x",
        "scheduler cost at 0.5x (edf vs fifo, CPU per reading)",
    ], text
    for target in (
        "critical alert deadline misses <= 1% with edf+imprecise+discard",
        "0 critical alerts lost or shed at every load",
        "every shed routine job counted, none silent",
        "scheduler cost: CPU per reading under edf within 5% of fifo at 0.5x",
        "trend count error <= 5% against the exact counts of every reading taken",
    ):
        assert re.search(
            rf"^\| 11 \| {re.escape(target)}[^|]* \| [^|]+ \| (yes|NO) \|$", text, re.M
        ), (
            target,
            text,
        )
    assert "Real time (issue 11): full-work capacity" in text

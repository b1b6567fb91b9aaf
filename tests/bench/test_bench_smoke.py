"""`make bench --quick` writes its table and plot. Never asserts a timing: only that every row
ran, and that the hand loop and the embedded runner did the same work (same alerts and invalid
readings from the same fixed-seed input). Storm and Kafka rows are left out here (their
runtimes' start-up alone is most of a minute); their own suites test those paths."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ["runner", "bytewax", "scaling", "chain", "serializer"]


def _table(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 10 and cells[0] not in ("group", "---"):
            rows[f"{cells[0]}: {cells[1]}"] = cells
    return rows


def test_a_quick_run_writes_the_table_and_the_plot(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)]
    for group in GROUPS:
        args += ["--only", group]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [md] = tmp_path.glob("*-quick.md")
    assert md.with_suffix(".png").stat().st_size > 0
    text = md.read_text()
    rows = _table(text)
    expected = {
        "limit: hand loop",
        "runner: 1 proc, acking on",
        "runner: 1 proc, acking off",
        "runner: 2 procs, acking on",
        "runner: 2 procs, acking off",
        "bytewax: batch 1",
        "bytewax: batch 1000",
        "scaling: par 4, 2 procs, acking on",
        "scaling: window 600 s, 1 proc, acking on",
        "scaling: 1M keys (rule x patient), 1 proc, acking on",
        "chain: chain: CPU-bound, 2 procs",
    }
    assert expected <= set(rows), sorted(rows)
    for name, cells in rows.items():
        assert re.fullmatch(r"[\d,]+", cells[2]), f"row {name!r} has no rate: {cells}"

    # The same work: every health row saw the hand loop's alerts and invalid readings.
    def work(cells: list[str]) -> str:
        return ", ".join(cells[8].split(", ")[:2])  # alerts and invalid; trends depend on ticks

    limit = work(rows["limit: hand loop"])
    for name, cells in rows.items():
        if name.split(":")[0] in ("runner", "bytewax") or "window" in name or "par" in name:
            assert work(cells) == limit, f"{name}: {cells[8]} vs hand loop {limit}"
    assert "msgpack" in text and "µs per hop" in text

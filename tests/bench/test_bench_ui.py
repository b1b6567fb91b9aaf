"""`python -m bench.run --quick --only ui` (issue 14's group) runs end to end: a pair of
health.py runs, with and without the live view, its two rows and its target. Never asserts a
timing or a met target (a quick run's numbers mean nothing): the group must not break unseen,
e.g. when squall.ui.launch's options or run_topology's live feed change."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_quick_ui_run_writes_its_rows_and_target(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "bench.run", "--quick", "--only", "ui"]
    proc = subprocess.run(
        [*args, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [md] = tmp_path.glob("*-quick.md")
    text = md.read_text()
    rows = re.findall(r"^\| ui \| ([^|]+) \| ([\d,]+) \|", text, re.M)
    assert [name.strip() for name, _ in rows] == ["ui: off", "ui: on"], text
    assert re.search(
        r"^\| 14 \| throughput with the UI on within 3% of off[^|]* \| [\d.]+ [^|]*\| (yes|NO) \|$",
        text,
        re.M,
    ), text[-3000:]

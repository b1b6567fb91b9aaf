"""`make bench --quick --only plan` (issue 12's validation group) runs end to end: calibrates,
plans, runs the paced rates and writes its rows and targets. Never asserts a timing or a met
target (a quick run's numbers mean nothing). It exists because the group broke once unseen: a
bench-only subclass followed a private detail of the synthetic source that had changed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_quick_plan_run_writes_its_rows_and_targets(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "bench.run", "--quick", "--only", "plan"]
    proc = subprocess.run(
        [*args, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [md] = tmp_path.glob("*-quick.md")
    text = md.read_text()
    rows = re.findall(r"^\| plan \| ([^|]+) \| ([\d,]+) \|", text, re.M)
    names = [name.strip() for name, _ in rows]
    assert names[0].startswith("predicted max sustainable rate"), text
    assert [n.split(":")[0] for n in names[1:]] == ["0.5x predicted", "2x predicted"], names
    for target in (
        "plan: predicted max sustainable rate within ±20% of the measured knee",
        "plan: every rate predicted feasible meets its alert deadline",
        "plan: every rate predicted infeasible misses its deadline",
    ):
        assert re.search(
            rf"^\| 12 \| {re.escape(target)}[^|]* \| [^|]+ \| (yes|NO) \|$", text, re.M
        ), (
            target,
            text[-3000:],
        )

"""Every `squall plan` command in docs/realtime.md runs, and says what the page says it does."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doc_commands import sh_commands

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "realtime.md"


def commands() -> list[str]:
    return [
        line
        for line in sh_commands(PAGE, ("squall plan", "squall run"))
        if "health_ward.py" not in line  # the runtime's: tests/realtime/test_realtime_docs.py
    ]


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # the page's paths are relative to the project; run elsewhere so outputs (PNG) land in tmp
    argv = [
        str(ROOT / a) if a.startswith(("docs/", "topologies/")) else a for a in shlex.split(command)
    ]
    exe = Path(sys.executable).parent / "squall"
    return subprocess.run(
        [str(exe), *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=240
    )


def test_the_page_has_the_commands_it_explains():
    assert len(commands()) == 9


@pytest.mark.parametrize("command", commands())
def test_each_command_runs_as_described(command, tmp_path):
    proc = run(command, tmp_path)
    if "--rate 500000" in command:  # far past what one worker sustains: refused
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert re.search(
            r"squall run: refused: topology plan \(non-preemptive response-time analysis, 1 "
            r"worker\(s\)\): console worst-case response unbounded > deadline 1000 ms at "
            r"500,000 readings/s .*; --force runs anyway",
            proc.stderr,
        )
        assert proc.stdout == ""  # no tuple ran, no summary
        return
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    if command.startswith("squall run"):
        assert "squall run: admitted: every deadline holds at 2,000 readings/s" in proc.stderr
        assert re.search(r"^threshold\s+\d+", out, re.M)  # the run's summary table
    elif "--json" in command:
        doc = json.loads(out)
        assert doc["utilization"] == 0.9 and doc["cyclic_executive"]["frame_sizes"] == []
        dm = next(t for t in doc["tests"] if t["name"] == "rta" and t["policy"] == "dm")
        assert dm["response_times"] == {"T1": 4, "T2": 1} and dm["verdict"] == "schedulable"
        assert doc["cyclic_executive"]["sliced"] is True
    elif "--gantt" in command:
        assert (tmp_path / "course.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    elif "--admit extra:1:10" in command:
        assert "admitted: rta (exact, rm) says schedulable" in out
    elif "--admit extra:1:35" in command:
        assert "admitted: edf_utilization (exact, edf) says schedulable" in out
        assert re.search(r"^rta\s+rm\s+exact\s+unschedulable", out, re.M)
    elif "--rate" in command:
        if "--calibrations 3" in command:
            low_high = re.search(
                r"^costs from the median of 3 calibrations by the rate their plans sustain "
                r"\(([\d,]+)-([\d,]+) readings/s\): calibration run: ",
                out,
                re.M,
            )
            assert low_high, out[:2000]
            low, high = (int(v.replace(",", "")) for v in low_high.groups())
            assert 0 < low <= high
        assert "sustainable up to" in out and "threshold: worst-case response" in out
        assert re.search(r"console: worst-case response [\d.]+ ms, deadline 1000 ms: holds", out)
        assert re.search(r"every deadline holds up to [\d,]+ readings/s", out)
    else:
        assert re.search(r"^edf_demand\s+edf\s+exact\s+schedulable", out, re.M)
        assert "jobs are sliced" in out

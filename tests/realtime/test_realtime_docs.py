"""docs/realtime.md's run-time section: every `squall run` of the ward runs and reports what
the page says (deadline lines per stream; shedding under overload, never of critical work)."""

from __future__ import annotations

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
    return sh_commands(PAGE, ("squall run topologies/health_ward.py",))


def test_the_page_has_the_ward_commands_it_explains():
    assert len(commands()) == 2


@pytest.mark.parametrize("command", commands())
def test_each_ward_command_runs_as_described(command, tmp_path):
    argv = [str(ROOT / a) if a.startswith("topologies/") else a for a in shlex.split(command)]
    exe = Path(sys.executable).parent / "squall"
    proc = subprocess.run(
        [str(exe), *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    lines = {m.group(1): m.group(2) for m in re.finditer(r"^  (\w+\.default)\s+(.*)$", out, re.M)}
    # trend.default shows only once its precision fell (routine readings discarded: the trend
    # counts are estimates then, see health_core.trend_panes)
    trend = lines.pop("trend.default", None)
    assert set(lines) == {"critical.default", "routine.default"}, out[-2000:]
    for line in lines.values():
        assert re.match(r"p99 [\d.]+ ms, misses \d+/\d+ \(", line), line
    episodes = int(re.search(r"^deadlines \((\d+) overload episode", out, re.M).group(1))
    if "rate.per.producer.hz=10000" in command:
        # 40,000 readings/s: overloaded; routine readings shed within (3,4), critical never
        assert episodes >= 1
        assert re.search(r"shed \d+ \(discard \d+", lines["routine.default"])
        assert "shed" not in lines["critical.default"]
        assert "rate policy slowed sources to" in out
        if trend is not None:
            precision = float(re.search(r"precision ([\d.]+)", trend).group(1))
            assert 0 < precision < 1, trend
    else:
        assert trend is None, out[-2000:]
        assert episodes == 0 and "shed" not in out

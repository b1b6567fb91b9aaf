"""`squall run --admit`: the checks around the plan (the plan itself: tests/plan/test_plan_docs.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQUALL = str(Path(sys.executable).parent / "squall")
CALIBRATE = [
    "--calibrate-secs", "1",
    "--calibrate-option", "health.producers.rate.per.producer.hz=0",
    "--calibrate-option", "health.sinks.console=false",
]  # fmt: skip


def squall_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SQUALL, "run", "topologies/health.py", "--quiet", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_admit_needs_a_rate_and_a_deadline():
    proc = squall_run("--seconds", "1", "--admit", "--deadline", "threshold=50")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "squall run: --admit needs the offered --rate (readings/s) and a hard deadline to "
        "check: --deadline COMPONENT=MS, or a hard stream declared in the topology's config "
        "(squall.realtime.<spout>.<stream>.criticality: hard; docs/realtime.md)"
    )
    # health.py declares no deadline: without --deadline there is nothing to check either
    proc = squall_run("--seconds", "1", "--admit", "--rate", "10")
    assert proc.returncode == 2 and "a hard deadline to check" in proc.stderr


def test_a_deadline_on_an_unknown_component_is_named():
    proc = squall_run(
        "--seconds", "1", "--admit", "--rate", "10", "--deadline", "alerts=50", *CALIBRATE
    )
    assert proc.returncode == 2
    assert (
        "--deadline names ['alerts'], not components of the topology; components: ['bmi',"
        in proc.stderr
    )


def test_force_runs_a_refused_run_and_says_why():
    # a 1 microsecond deadline: no reading can be parsed that fast
    proc = squall_run(
        "--seconds", "1", "--admit", "--force", "--rate", "10", "--deadline", "threshold=0.001",
        "-o", "health.sinks.console=false", *CALIBRATE,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "squall run: --force: running although topology plan" in proc.stderr
    assert "threshold worst-case response" in proc.stderr and "> deadline 0.001 ms" in proc.stderr
    assert "threshold" in proc.stdout  # the run happened: its summary table


def test_admit_checks_the_topology_s_declared_hard_deadlines():
    # the ward declares critical readings hard with D = 50 ms: their alerts reach the console
    # and the jsonl sink, so those get the deadline (routine readings are firm: not checked)
    from squall.loading import load_topology, run_conf
    from squall.run_cli import declared_hard_deadlines

    ward = load_topology(str(ROOT / "topologies" / "health_ward.py"))
    conf = run_conf(ward, {}, ROOT / "config.json")
    assert declared_hard_deadlines(ward, conf, None) == {"console": 0.05, "jsonl": 0.05}
    conf = run_conf(
        ward, {"squall.realtime.critical.default.deadline.ms": 80}, ROOT / "config.json"
    )
    assert declared_hard_deadlines(ward, conf, None) == {"console": 0.08, "jsonl": 0.08}
    # refused at a rate no worker sustains, naming the declared deadline's sink
    proc = subprocess.run(
        [SQUALL, "run", "topologies/health_ward.py", "--quiet", "--seconds", "1", "--admit",
         "--rate", "500000", *CALIBRATE],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "squall run: refused: topology plan" in proc.stderr
    assert "deadline 50 ms" in proc.stderr

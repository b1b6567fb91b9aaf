"""`squall run` as a user runs it: a topology file in a sparse-style project, from a shell."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).parent / "userproj"
SQUALL = [sys.executable, "-m", "squall.cli"]


def squall(*args, **kw):
    return subprocess.run(
        [*SQUALL, *args], cwd=PROJECT, capture_output=True, text=True, timeout=120, **kw
    )


def test_run_for_a_time_limit_prints_a_summary_and_exits_0():
    proc = squall("run", "topologies/endless.py", "--seconds", "2")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    emitted, acked = int(lines["source"][1]), int(lines["source"][2])
    # counts consistent with each other, not a rate: the machine's speed is not under test
    assert emitted >= acked > 0
    assert int(lines["sink"][4]) >= acked  # executed: every acked tree went through the sink
    assert "spouts emitted" in proc.stderr  # the progress line


def test_cli_options_override_topology_config():
    proc = squall(
        "run",
        "topologies/endless.py",
        "--seconds",
        "1.5",
        "-o",
        "user.delay_s=0.01",
        "-o",
        "topology.max.spout.pending=4",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    work = next(line.split() for line in proc.stdout.splitlines() if line.startswith("work"))
    assert float(work[5]) >= 10.0  # mean execute ms reflects the 10 ms delay given with -o


def test_kafka_python_info_chatter_is_hidden_but_its_warnings_show():
    proc = squall(
        "run",
        "topologies/endless.py",
        "--seconds",
        "0.5",
        "--quiet",
        "-o",
        "user.chatty_kafka_log=true",
    )
    assert proc.returncode == 0, proc.stderr
    assert "worth seeing: a broker went away" in proc.stderr
    assert "chatty" not in proc.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_cleanly_with_a_summary(workers):
    proc = subprocess.Popen(
        [*SQUALL, "run", "topologies/endless.py", "--workers", workers],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "in flight at stop" in out and "source" in out


def test_a_bad_target_is_a_clear_error():
    proc = squall("run", "topologies/missing.py")
    assert proc.returncode == 2
    assert "topology file 'topologies/missing.py' not found" in proc.stderr
    proc = squall("run", "topologies/endless.py", "-o", "novalue")
    assert proc.returncode == 2 and "expected key=value" in proc.stderr


def test_config_json_options_are_the_lowest_precedence(tmp_path):
    # config.json says delay 20 ms; the Topology's config says 0 and wins over the file
    proc = squall("run", "topologies/endless.py", "--seconds", "1", "--quiet")
    work = next(line.split() for line in proc.stdout.splitlines() if line.startswith("work"))
    assert float(work[5]) < 10.0
    # the file still supplies what neither the topology nor -o sets; -o beats the topology
    from squall.loading import config_file_options

    assert config_file_options(PROJECT / "config.json", None)["topology.message.timeout.secs"] == 7
    proc = squall(
        "run", "topologies/endless.py", "--seconds", "1.5", "--quiet", "-o", "user.delay_s=0.02"
    )
    work = next(line.split() for line in proc.stdout.splitlines() if line.startswith("work"))
    assert float(work[5]) >= 20.0
    proc = squall("run", "topologies/endless.py", "-e", "prod", "--seconds", "1")
    assert proc.returncode == 2 and "no environment 'prod'" in proc.stderr

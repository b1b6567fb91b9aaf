"""`squall run --ui` end to end: live counters while it runs, /metrics agreeing with the run's
summary at its end, in one and two processes; a port in use, the token, bad option mixes."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

from tests.ui.live_run import ROOT, SQUALL, LiveRun, counters_rise, free_port


@pytest.fixture
def live(tmp_path):
    runs = []

    def start(*args):
        run = LiveRun(list(args), tmp_path / str(len(runs)))
        runs.append(run)
        return run

    for d in range(4):
        (tmp_path / str(d)).mkdir()
    yield start
    for run in runs:
        run.close()


def squall(*args):
    return subprocess.run(
        [str(SQUALL), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_live_counters_rise_and_metrics_agree_with_the_final_summary(live, workers):
    run = live(
        "run", "topologies/health.py", "--seconds", "5", "--workers", str(workers),
        "--ui", "--port", str(free_port()), "--ui-linger-secs", "60",
        "-o", "health.sinks.console=false", "--quiet",
    )  # fmt: skip
    first, second = counters_rise(run)
    assert 0 < first < second
    final = run.final_state()
    assert final["workers"] == workers
    summary = run.summary_executed()
    assert set(summary) == {c["name"] for c in final["components"]}
    assert run.executed_by_component() == summary
    assert {c["name"]: c["executed"] for c in final["components"]} == summary
    assert run.metrics()["squall_run_finished"] == {("squall_run_finished", ()): 1.0}
    panels = {p["title"]: p for p in final["panels"]}
    assert panels["Alerts per rule"]["series"]  # trend windows of every worker arrived
    assert panels["Latest alerts"]["records"]
    run.interrupt()  # ends the linger
    assert run.wait() == 0
    assert "Traceback" not in run.stderr()


def test_a_port_in_use_fails_before_the_run_naming_the_port_and_the_option():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = squall("run", "topologies/health.py", "--seconds", "1", "--ui", "--port", str(port))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"squall run: --port {port}: 127.0.0.1:{port} is already in use; choose another port "
        "with --port N (--port 0 picks a free one)\n"
    )
    assert proc.stdout == ""  # nothing ran


@pytest.mark.slow
def test_another_host_needs_the_token_for_the_page_and_metrics(live):
    port = free_port()
    run = live(
        "run", "topologies/health.py", "--seconds", "60", "--ui", "--ui-host", "0.0.0.0",
        "--port", str(port), "--ui-token", "let-me-in", "--quiet", "-o", "health.sinks.console=false",
    )  # fmt: skip
    assert run.url == f"http://127.0.0.1:{port}/?token=let-me-in"
    for path in ("/", "/api/state", "/metrics"):
        assert run.status(path, token=False) == 401
        assert run.status(path) == 200
    assert (
        "squall run: warning: --ui-host 0.0.0.0 serves the run beyond this machine (payloads "
        "too with --ui-show-payloads); every request needs the token (?token=... or "
        "Authorization: Bearer ...), over plain HTTP"
    ) in run.stderr()
    run.interrupt()
    run.final_state()
    run.interrupt()
    assert run.wait() == 0
    assert "Traceback" not in run.stderr()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "9000"], "--port given without --ui; add --ui to serve the view"),
        (
            ["--ui-show-payloads", "--ui-token", "x"],
            "--ui-token, --ui-show-payloads given without --ui; add --ui to serve the view",
        ),
        (["--ui", "--port", "70000"], "--port 70000: a port is 0..65535 (0: any free port)"),
        (["--ui", "--ui-linger-secs", "-1"], "--ui-linger-secs -1.0: must be 0 or more seconds"),
    ],
)
def test_live_view_options_that_make_no_sense_are_named(args, message):
    proc = squall("run", "topologies/health.py", "--seconds", "1", *args)
    assert (proc.returncode, proc.stderr) == (2, f"squall run: {message}\n")


def test_a_generated_token_is_long_and_printed_once_in_the_address(live):
    run = live("run", "topologies/health.py", "--seconds", "0.5", "--ui", "--ui-host", "0.0.0.0",
               "--port", "0", "--ui-linger-secs", "0", "--quiet")  # fmt: skip
    assert run.wait() == 0
    token = re.search(r"\?token=([\w-]+) ", run.stderr()).group(1)
    assert len(token) >= 24 and run.stderr().count(token) == 1

"""docs/ui.md: every `squall run` it shows runs and does what the page says (each on a free
port in place of the page's, so tests never collide with a run of yours)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.doc_commands import sh_commands
from tests.polling import eventually
from tests.ui.live_run import LiveRun, counters_rise, free_port

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "ui.md"


def commands() -> list[str]:
    return sh_commands(PAGE, ("squall run",))


def test_the_page_has_the_commands_it_explains():
    assert len(commands()) == 4


def on_a_free_port(command: str) -> list[str]:
    argv = shlex.split(command)[1:]
    if "--port" in argv:
        argv[argv.index("--port") + 1] = str(free_port())
    else:
        argv += ["--port", str(free_port())]
    return argv


def invalid_inputs(state):
    return next(p for p in state["panels"] if p["title"] == "Latest invalid inputs")


@pytest.mark.slow
@pytest.mark.parametrize("command", commands())
def test_each_command_runs_as_described(command, tmp_path):
    run = LiveRun(on_a_free_port(command), tmp_path)
    try:
        counters_rise(run)
        state = run.state()
        if "--ui-host 0.0.0.0" in command:  # a generated token, printed in the address
            assert re.search(r"\?token=[\w-]{24,}", run.url)
            assert run.status("/metrics", token=False) == 401
            assert "squall run: warning: --ui-host 0.0.0.0" in run.stderr()
        else:
            assert "token" not in run.url
        assert run.metrics()["squall_tuples_executed"]
        if "--ui-show-payloads" in command:
            # ~1 in 20 readings is malformed at 20 readings/s: some within the run's 10 s
            records = eventually(
                lambda: invalid_inputs(run.state())["records"],
                "an invalid input",
                timeout_s=8,
                every_s=0.5,
            )
            assert "raw" in records[0] and invalid_inputs(run.state())["hidden"] == []
        else:
            assert invalid_inputs(state)["hidden"] == ["raw"]
        if "--ui-linger-secs 0" in command:
            assert run.wait() == 0  # stops with the run
        else:
            if "--seconds" not in command:
                run.interrupt()  # the first Ctrl-C ends the run...
            final = run.final_state()  # ...whose final state stays on show
            assert run.executed_by_component() == run.summary_executed()
            assert final["workers"] == (2 if "--workers 2" in command else 1)
            assert "its final state stays at" in run.stderr()
            run.interrupt()  # the second (or the first after --seconds) ends the view
            assert run.wait() == 0
        assert "Traceback" not in run.stderr()
    finally:
        run.close()

"""Issue 14, part 3: `squall storm view`, the live view's page for a topology on the session's
real single-node Storm cluster, fed by the cluster's UI REST API, seen in a real (headless)
chromium.

The oracle is not the REST API the view reads: what the record bolt executed is checked against
the lines it wrote to its output file (each execute writes one before Storm counts it), the
topology's shape against the fixture's Topology class, and the worker hosts against the
Supervisor Storm runs on this machine.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from squall.storm.cluster import StormCluster
from tests.doc_commands import sh_commands
from tests.polling import eventually
from tests.ui.browser import Browser, artifact_path
from tests.ui.live_run import LiveRun, free_port
from tests.ui.page_js import COMPONENT_NAMES_JS, GRAPH_NODES_JS, above, executed_js

from .kit import Sparse, read_jsonl

pytestmark = [pytest.mark.storm, pytest.mark.slow]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "ui.md"
DOC_IMAGE = DOCS.parent / "img" / "ui-storm.png"  # SQUALL_UPDATE_DOC_IMAGES=1 rewrites it

# SquaresTopology: numbers = NumberSpout.spec(par=1); record = RecordBolt.spec(inputs=[numbers],
# par=2) -- shuffle, the default grouping
PARALLELISM = {"numbers": 1, "record": 2}


def _component(state: dict, name: str) -> dict:
    return next((c for c in state["components"] if c["name"] == name), {})


@pytest.mark.browser
def test_the_storm_page_follows_a_submitted_topology_until_it_is_killed(
    sparse: Sparse, storm_cluster: StormCluster, browser: Browser, tmp_path: Path
) -> None:
    output = sparse.project / "out.jsonl"
    view = LiveRun(
        [
            "storm", "view", "--dir", str(storm_cluster.folder), "--topology", "squares",
            "--port", str(free_port()), "--interval", "0.5", "--seconds", "600",
        ],
        tmp_path,
    )  # fmt: skip
    try:
        # before the submit: the page is up and says what it waits for
        waiting = eventually(lambda: view.state()["cluster"], "the view's first state")
        assert "waiting for topology squares" in waiting["problem"]

        sparse(
            "submit", "-e", "local", "-n", "squares",
            "-o", f"fixture.output={output}", "-o", "fixture.count=100000",
            "-o", "fixture.delay_s=0.01",
        )  # fmt: skip
        expected = set(PARALLELISM)
        state = eventually(
            lambda: (
                (s := view.state())["cluster"].get("id")
                and _component(s, "record").get("acked")
                and s
            ),
            "the view to show the record bolt executing",
            timeout_s=120,
            every_s=0.5,
        )
        assert {n["name"] for n in state["graph"]["nodes"]} == expected
        assert {(e["source"], e["target"], e["grouping"]) for e in state["graph"]["edges"]} == {
            ("numbers", "record", "shuffle")
        }
        assert {n["name"]: n["par"] for n in state["graph"]["nodes"]} == PARALLELISM
        [host] = state["cluster"]["hosts"]  # one worker slot on the one Supervisor
        conf = yaml.safe_load((storm_cluster.conf_dir / "storm.yaml").read_text())
        assert host["host"] == conf["storm.local.hostname"]
        assert host["components"] == ["numbers", "record"]
        assert state["cluster"]["status"] == "ACTIVE"
        # what Storm counted, the bolt did: the Python bolt acks a tuple after writing its line
        # (Storm counts a multilang bolt's execute when it hands the tuple over, so executed
        # may run ahead of the file; acked may not)
        record = _component(state, "record")
        assert 0 < record["acked"] <= len(read_jsonl(output))
        executed = record["executed"]
        # unknown to Storm's REST API: shown as unknown, not as 0, and not in /metrics
        assert record["queued"] is None
        families = view.metrics()
        assert "squall_queued_tuples" not in families
        assert sum(families["squall_tuples_executed"].values()) >= executed

        # the page itself, in chromium: the components, the graph, a counter rising
        browser.goto(view.url, timeout_s=30)
        browser.wait_for(f"{COMPONENT_NAMES_JS}.length > 0", timeout_s=30)
        assert set(browser.evaluate(COMPONENT_NAMES_JS)) == expected
        assert set(browser.evaluate(GRAPH_NODES_JS)) == expected
        first = browser.wait_for(above(executed_js("record"), 0), timeout_s=30)
        # Storm's workers report every 5 s (executor.metrics.frequency.secs)
        assert browser.wait_for(above(executed_js("record"), first), timeout_s=30) > first
        hosts_text = browser.evaluate("document.getElementById('hosts').textContent")
        assert "numbers, record" in hosts_text
        shot = browser.screenshot(artifact_path("ui-storm.png"))
        if os.environ.get("SQUALL_UPDATE_DOC_IMAGES") == "1":
            shutil.copyfile(shot, DOC_IMAGE)
        assert browser.console_errors() == []

        sparse("kill", "-e", "local", "-n", "squares", "--wait", "1")
        final = eventually(
            lambda: (s := view.state())["finished"] and s,
            "the view to see the topology gone",
            timeout_s=120,
            every_s=0.5,
        )
        assert "left the cluster" in final["summary"]["ended"]
        assert _component(final, "record")["executed"] >= executed
    finally:
        view.close()  # by its pid


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    if option in argv:
        argv[argv.index(option) + 1] = value
        return argv
    return [*argv, option, value]


def test_the_docs_commands_serve_the_page_of_the_cluster(
    storm_cluster: StormCluster, tmp_path: Path
) -> None:
    """docs/ui.md's `squall storm view` lines, on the session's cluster (its folder in place of
    the default one) and a free port: each serves the page, which says what it waits for."""
    commands = sh_commands(DOCS, ("squall storm view",))
    assert len(commands) == 2
    for i, command in enumerate(commands):
        argv = shlex.split(command)[1:] + ["--dir", str(storm_cluster.folder)]
        argv = with_option(with_option(argv, "--port", str(free_port())), "--seconds", "60")
        folder = tmp_path / str(i)
        folder.mkdir()
        view = LiveRun(argv, folder)
        try:
            cluster = eventually(lambda v=view: v.state()["cluster"], "the page's first state")
            wanted = argv[argv.index("--topology") + 1] if "--topology" in argv else "(any)"
            assert f"waiting for topology {wanted}" in cluster["problem"]
            assert view.status("/metrics") == 200
        finally:
            view.close()

"""Issue 14's browser test: `squall run topologies/health.py --ui` as a user sees it, in a real
(headless) chromium: every component of the topology on the page, a counter rising, the trend
chart drawn, no error in the page's console.

What is asserted is read from the page's DOM, not from /api/state: the JSON being right does not
mean the page renders it. The expected names come from the topology itself (its model and its
``ui_panels``), so a component added to health.py is expected on the page without editing this.

``SQUALL_UPDATE_DOC_IMAGES=1`` also writes the screenshot to docs/img/ui-health.png (the image
docs/ui.md shows); without it the screenshot is only a test artifact.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from squall.engine.model import build_model
from squall.loading import load_topology
from squall.ui import Chart
from tests.ui.browser import Browser, artifact_path
from tests.ui.live_run import ROOT, LiveRun, free_port
from tests.ui.page_js import (
    COMPONENT_NAMES_JS,
    GRAPH_NODES_JS,
    above,
    chart_points_js,
    executed_js,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOPOLOGY = "topologies/health.py"
DOC_IMAGE = ROOT / "docs" / "img" / "ui-health.png"
# generous: the first trend window closes ~12 s into the run (10 s window + lag), on a busy CI
# machine later; the run itself lasts 20 s and the page stays up 30 s more
CHART_TIMEOUT_S = 45.0


def test_the_health_run_renders_live_in_a_real_browser(browser: Browser, tmp_path: Path) -> None:
    topology = load_topology(TOPOLOGY)
    model = build_model(topology, Path(TOPOLOGY).stem)
    expected = set(model.components)
    # a bolt fed from the start of the run: its executed count moves every tick
    watched = next(c.name for c in model.components.values() if not c.is_spout)
    [chart_title] = [p.title for p in topology.ui_panels if isinstance(p, Chart)]

    run = LiveRun(
        [
            "run", TOPOLOGY, "--ui", "--port", str(free_port()), "--seconds", "20",
            "--ui-linger-secs", "30", "-o", "health.sinks.console=false", "--quiet",
        ],
        tmp_path,
    )  # fmt: skip
    try:
        browser.goto(run.url, timeout_s=30)
        # the first SSE state has arrived once the table has its component rows
        browser.wait_for(f"{COMPONENT_NAMES_JS}.length > 0", timeout_s=30)
        assert set(browser.evaluate(COMPONENT_NAMES_JS)) == expected
        assert set(browser.evaluate(GRAPH_NODES_JS)) == expected

        first = browser.wait_for(above(executed_js(watched), 0), timeout_s=30)
        second = browser.wait_for(above(executed_js(watched), first), timeout_s=15)
        assert second > first

        points = browser.wait_for(above(chart_points_js(chart_title), 1), CHART_TIMEOUT_S)
        assert points >= 2

        shot = browser.screenshot(artifact_path("ui-health.png"))
        if os.environ.get("SQUALL_UPDATE_DOC_IMAGES") == "1":
            DOC_IMAGE.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOC_IMAGE)
        assert browser.console_errors() == []
    finally:
        run.close()  # by its pid, also when an assertion above failed

"""JavaScript expressions that read the live view's page (app.js's DOM), for the browser tests
of `squall run --ui` and `squall storm view`."""

from __future__ import annotations

import json

# The page's components table (#components): a header row, then one row per component whose
# first cell is its name and fifth its executed count (app.js's column order).
COMPONENT_NAMES_JS = (
    "[...document.querySelectorAll('#components tr')].slice(1).map((r) => r.cells[0].textContent)"
)
# The graph's boxes: <g class="node ..." id="node-<name>"> inside #graph.
GRAPH_NODES_JS = "[...document.querySelectorAll('#graph g.node')].map((g) => g.id.slice(5))"


def executed_js(component: str) -> str:
    """The executed column of ``component``'s row, as a number (the page formats it 1,234)."""
    name = json.dumps(component)
    return (
        "(() => { const row = [...document.querySelectorAll('#components tr')]"
        f".find((r) => r.cells[0] && r.cells[0].textContent === {name});"
        " return row ? Number(row.cells[4].textContent.replace(/[^0-9]/g, '')) : null; })()"
    )


def chart_points_js(title: str) -> str:
    """Points drawn in the chart panel titled ``title``: its polylines' vertices."""
    prefix = json.dumps(f"{title} (")  # the panel's heading: "<title> (<n> so far)"
    return (
        "(() => { const panel = [...document.querySelectorAll('#panels section.panel')]"
        f".find((s) => s.querySelector('h2').textContent.startsWith({prefix}));"
        " if (!panel) return 0;"
        " return [...panel.querySelectorAll('svg polyline')]"
        ".reduce((n, p) => n + p.getAttribute('points').trim().split(/\\s+/).length, 0); })()"
    )


def above(expression: str, bound: int) -> str:
    """JS: the number ``expression`` if it is above ``bound``, else false (for wait_for)."""
    return f"((n) => n > {bound} && n)({expression})"

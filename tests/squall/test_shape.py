"""The package's shape stays: no import cycle anywhere in squall, no module over 500 lines.

Imports are read from the source (every ``import`` statement: module level, inside functions
and under ``TYPE_CHECKING`` alike), so a cycle hidden in a function-level import fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "squall"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _imported(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The squall modules one module's import statements name."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from a.b import c`` names module a.b.c when it exists, else module a.b
            names = [
                f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix
                for a in node.names
            ]
        else:
            continue
        found.update(n for n in names if n in known and n != module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        name: _imported(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_function_level_and_type_checking_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from squall.engine.worker import Worker\n"
        "def f():\n    from squall.engine import tracking\n    import squall.errors\n"
    )
    known = {"squall.engine.worker", "squall.engine.tracking", "squall.engine", "squall.errors"}
    got = _imported(ast.parse(source), "squall.engine.emit_plans", False, known)
    assert got == {"squall.engine.worker", "squall.engine.tracking", "squall.errors"}


def test_squall_has_no_import_cycle():
    graph = import_graph()
    assert "squall.engine.worker" in graph and graph["squall.engine.worker"]  # read something
    assert cycles(graph) == []


def test_the_engine_imports_nothing_above_it():
    """squall.engine may import itself, squall.errors, squall.settings and the real-time
    building blocks below it (squall.realtime); the public API sits on top."""
    graph = import_graph()
    above = {
        (module, dep)
        for module, deps in graph.items()
        if module.startswith("squall.engine")
        for dep in deps
        if not dep.startswith(("squall.engine", "squall.realtime"))
        and dep not in ("squall.errors", "squall.settings")
    }
    assert above == set()


def test_the_realtime_building_blocks_sit_below_the_engine():
    graph = import_graph()
    assert graph.get("squall.realtime.context")  # read something
    above = {
        (module, dep)
        for module, deps in graph.items()
        if module.startswith("squall.realtime")
        for dep in deps
        if not dep.startswith("squall.realtime") and dep not in ("squall.errors", "squall.settings")
    }
    assert above == set()


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_is_over_500_lines(module):
    lines = len(_modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it (limit {MAX_LINES})"

"""docs/windows.md's example runs (the README's runner collects it too)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "windows.md"


def test_windows_doc_example_runs() -> None:
    blocks = re.findall(
        r"```python\n(# readme-example: windowed-bolt\n.*?)```", DOC.read_text(), re.S
    )
    assert len(blocks) == 1
    scope: dict = {"__name__": "docs_windows"}
    exec(compile(blocks[0], str(DOC), "exec"), scope)
    assert scope["bolt"].emitted[-1].values[3] == ["bob", 3000]

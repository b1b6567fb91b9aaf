"""Every example in the README runs, so the README cannot rot."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(# readme-example: ([\w-]+)\n.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        text += doc.read_text()
    return [(m.group(2), m.group(1)) for m in BLOCK.finditer(text)]


def test_readme_has_examples():
    assert [name for name, _ in examples()][:1] == ["test-kit"]


@pytest.mark.parametrize("name,code", examples(), ids=[n for n, _ in examples()])
def test_example_runs(name, code):
    exec(compile(code, f"README:{name}", "exec"), {"__name__": f"readme_{name}"})


def test_readme_first_screen_names_the_two_commands():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:20])
    assert "make run" in first_screen and "make test" in first_screen


def test_make_run_shows_alerts_and_a_summary():
    proc = subprocess.run(
        ["make", "run", "SECONDS=8", "UI_PORT=0"],  # any free port: the default may be taken
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"live view at http://127\.0\.0\.1:\d+/ ", proc.stderr)
    assert "ALERT" in proc.stdout
    assert re.search(r"^threshold\s+\d+", proc.stdout, re.M)

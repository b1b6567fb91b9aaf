"""The shell commands a docs page shows, for the tests that run them as a reader would."""

from __future__ import annotations

import re
from pathlib import Path


def sh_commands(page: Path, prefixes: tuple[str, ...]) -> list[str]:
    """Lines of the page's ```sh blocks that start with one of ``prefixes``, in page order."""
    blocks = re.findall(r"```sh\n(.*?)```", page.read_text(), re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith(prefixes)]

"""squall: Storm-style topologies in Python.

The same streamparse ``Topology`` a user submits to Storm runs here without a JVM, with
Storm's delivery semantics (anchoring, acking, replay, timeouts, back-pressure).

Public names: ``run_topology``, ``RunResult``, ``WindowedBolt``, ``SquallError``; the test kit
lives in ``squall.testing`` and window specs in ``squall.windows``.
"""

from __future__ import annotations

import importlib
from typing import Any

from squall.errors import SquallError

__all__ = ["SquallError", "run_topology", "RunResult", "WindowedBolt"]
__version__ = "0.1.0"

# imported on first use: `import squall` (and every `squall ...` command) stays fast
_LAZY = {
    "run_topology": "squall.runner",
    "RunResult": "squall.results",
    "WindowedBolt": "squall.windowed_bolt",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'squall' has no attribute {name!r}")

"""squall: Storm-style topologies in Python.

The same streamparse ``Topology`` a user submits to Storm runs here without a JVM, with
Storm's delivery semantics (anchoring, acking, replay, timeouts, back-pressure).

Public names: ``run_topology``, ``RunResult``, ``WindowedBolt``, and the errors ``SquallError``,
``ConfigError``, ``TopologyError``; the test kit (with ``ManualClock``) lives in
``squall.testing``, window specs in ``squall.windows``, the Kafka spout, sink and settings in
``squall.kafka``. The engine behind them is ``squall.engine``.
"""

from __future__ import annotations

import importlib
from typing import Any

from squall.errors import ConfigError, SquallError, TopologyError

__all__ = [
    "ConfigError",
    "SquallError",
    "TopologyError",
    "run_topology",
    "RunResult",
    "WindowedBolt",
]
__version__ = "0.1.0"

# imported on first use: `import squall` (and every `squall ...` command) stays fast
_LAZY = {
    "run_topology": "squall.engine.runner",
    "RunResult": "squall.engine.results",
    "WindowedBolt": "squall.windowed_bolt",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'squall' has no attribute {name!r}")

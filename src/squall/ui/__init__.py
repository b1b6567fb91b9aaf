"""The live view of an embedded run (``squall run --ui``, docs/ui.md).

A topology declares what it wants charted with ``Chart`` and ``Feed`` in its ``ui_panels``
class attribute; the rest (the state, the server, ``/metrics``) is started by ``squall run``.
"""

from squall.ui.declare import Chart, Feed

__all__ = ["Chart", "Feed"]

"""squall: Storm-style topologies in Python.

The same streamparse ``Topology`` a user submits to Storm runs here without a JVM, with
Storm's delivery semantics (anchoring, acking, replay, timeouts, back-pressure).
"""

from squall.errors import SquallError

__all__ = ["SquallError"]
__version__ = "0.1.0"

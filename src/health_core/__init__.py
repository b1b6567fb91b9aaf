"""Health-analytics domain logic: plain typed Python, no Storm imports.

The streamparse components in ``src/spouts`` and ``src/bolts`` are thin wrappers around these
modules, so every rule here is tested without a topology.
"""

"""Real-time building blocks (issue 11): deadlines, scheduling policies, real-time metrics.

- ``deadlines``: what each stream promises (relative deadline, criticality, (m,k), overload
  policies), declared in config and checked at load;
- ``mk_firm``: (m,k)-firm job skipping per key (at most m discards in any k consecutive jobs),
  and the skip parameter s as ``SkipOverDistance``;
- ``scheduling``: one ready queue per worker across its executors, ordered by ``fifo``, ``edf``,
  ``llf``, ``dm`` or ``rm``, with the hopeless-job discard that stops EDF's domino effect;
- ``metrics``: per stream end-to-end latency, deadline misses, lateness, slack, shed counts and
  precision, with a summary line and the Prometheus text exposition.

``scheduling`` and ``metrics`` are pure (the standard library and ``squall.errors``): the engine
can use them without importing anything above it; so is ``mk_firm``, and ``deadlines`` adds
only ``squall.settings``.
"""

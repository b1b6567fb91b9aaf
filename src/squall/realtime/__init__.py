"""Real-time building blocks (issue 11): deadlines, scheduling policies, real-time metrics.

- ``deadlines``: what each stream promises (relative deadline, criticality, (m,k), overload
  policies), declared in config and checked at load;
- ``mk_firm``: (m,k)-firm job skipping per key (at most m discards in any k consecutive jobs),
  and the skip parameter s as ``SkipOverDistance``;
- ``scheduling``: one ready queue per worker across its executors, ordered by ``fifo``, ``edf``,
  ``llf``, ``dm`` or ``rm``, with the hopeless-job discard that stops EDF's domino effect;
- ``metrics``: per stream end-to-end latency, deadline misses, lateness, slack, shed counts and
  precision, with a summary line and the Prometheus text exposition;
- ``standalone``: a spout's self-timed context where no runtime times its trees (under Storm):
  release to ack latency and misses, its own overload state, discard and rate at the spout, a
  summary line per stream in the worker log.

``scheduling`` and ``metrics`` are pure (the standard library and ``squall.errors``): the engine
can use them without importing anything above it; so is ``mk_firm``, and ``deadlines`` adds
only ``squall.settings``, as ``standalone`` does (with the modules here).
"""

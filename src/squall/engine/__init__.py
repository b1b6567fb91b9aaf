"""The embedded runner: a streamparse ``Topology`` run in pure Python with Storm's semantics.

Layers, each importing only those above it in this list (``tests/squall/test_shape.py``
fails on any import cycle):

- ``clock``, ``results``, ``tracking`` (ids, ``Track``, anchoring, the values check), ``model``
  (the topology as components, streams and subscriptions), ``queues``, ``hosting`` (a user's
  component built in-process);
- ``routing`` (groupings), ``acker`` (Storm's XOR acker and the inlined bolt ack),
  ``run_settings`` (the keys a run obeys);
- ``emit_plans`` (compiled emit paths, given a worker through the ``PlanHost`` protocol);
- ``executor`` (one task), ``worker`` (the cooperative loop over a worker's executors),
  ``live`` (samples of a worker at each progress tick, for ``squall run --ui``);
- ``runner`` (``run_topology``: stop and drain), ``multiproc`` (workers in processes).

The public names live one level up: ``squall.run_topology``, ``squall.RunResult``,
``squall.testing``.
"""

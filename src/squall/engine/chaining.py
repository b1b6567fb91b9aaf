"""Operator chaining: a tuple bound for a chained task runs at once, inside its emitter's execute.

Unchained, every emit appends the tuple to the receiving task's inbox and the worker's loop runs
it on a later turn: a queue push, a pop, a turn of the loop and a batch set-up per tuple. A
chained task is handed the tuple as a call instead (``Executor.inline_runner`` installed as its
``fifo_append``, which every emit path delivers through), so a reading crosses parse, BMI, rules
and the sinks as one call chain from the spout's ``next_tuple``. (A spout registers a tree with
the acker before delivering its first tuple, so that a chained task may ack it at once.)

Nothing else changes: routing picks the receiving task as before (a chain is a call, not a
fixed pairing, so any grouping may chain), the tuple is tracked, anchored and acked as before,
an exception fails only its own tuple, tick tuples still come through the task's inbox, and the
spouts' ``max.spout.pending`` still bounds the trees in flight. Flink chains only one-to-one
edges because a chain runs in one thread; squall's worker is one thread already.

A task is chained when all of these hold (``chainable`` says which one failed):

- chaining is on (``squall.chaining``, default true; per topology in its ``config``, or ``-o``),
  and so is ``squall.runner.chaining`` (default true: false turns the runner's chaining off
  and leaves ``squall.chaining`` on for Storm's fused Python bolts, ``squall.storm.fusion``);
- under a scheduler (``squall.scheduler``: ``edf``, ``llf``, ``dm``, ``rm``), it reads no spout: a
  spout's tuple (a reading) is a job, and the scheduler picks which reading runs next across
  the worker; the chain below it is one scheduling unit (issue 11), run to its end once picked
  (its tuples carry the tree's deadline, so EDF would pick them next anyway, ties aside), and a
  hopeless job is shed before its chain starts;
- its component is on no cycle of the topology (a task must never run inside itself);
- every task of its component and of each of its sources lives in this worker: a shuffle across
  processes prefers local tasks by their queue length (load-aware messaging), which a chained
  task, whose queue is always empty, would distort; and a cross-process edge is a queue anyway.
"""

from __future__ import annotations

from typing import Any

from squall.engine.executor import Executor
from squall.engine.model import TopologyModel
from squall.engine.run_settings import RunSettings


def _on_cycle(model: TopologyModel, name: str) -> bool:
    """True when ``name`` can reach itself along subscriptions (source -> consumer)."""
    consumers: dict[str, set[str]] = {}
    for comp in model.components.values():
        for sub in comp.inputs:
            consumers.setdefault(sub.source, set()).add(comp.name)
    seen: set[str] = set()
    todo = list(consumers.get(name, ()))
    while todo:
        current = todo.pop()
        if current == name:
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(consumers.get(current, ()))
    return False


def chainable(
    model: TopologyModel, name: str, local: set[int], settings: RunSettings, scheduler: Any
) -> str | None:
    """Why component ``name``'s tasks in a worker holding ``local`` tasks are not chained
    (None: they are)."""
    if settings.chaining_off_by is not None:
        return f"{settings.chaining_off_by} is false"
    comp = model.components[name]
    if comp.is_spout:
        return "a spout is never delivered to"
    if not comp.inputs:
        return "it has no inputs"
    if scheduler is not None:
        spouts = sorted({s.source for s in comp.inputs if model.components[s.source].is_spout})
        if spouts:
            return (
                f"it reads spout(s) {spouts}: under squall.scheduler {settings.scheduler!r} "
                "each of their tuples is a job the scheduler picks"
            )
    if _on_cycle(model, name):
        return "it is on a cycle of the topology"
    involved = [name, *sorted({s.source for s in comp.inputs})]
    for n in involved:
        remote = [t for t in model.components[n].task_ids if t not in local]
        if remote:
            return f"{n!r} has task(s) {remote} in another worker"
    return None


def chain_executors(
    model: TopologyModel, executors: dict[int, Executor], settings: RunSettings, scheduler: Any
) -> dict[str, str | None]:
    """Mark every task that may be chained (``install_runners`` installs them); returns, per
    bolt of this worker, why it is not chained (None: chained)."""
    local = set(executors)
    reasons: dict[str, str | None] = {}
    for ex in executors.values():
        if ex.is_spout:
            continue
        if ex.name not in reasons:
            reasons[ex.name] = chainable(model, ex.name, local, settings, scheduler)
        if reasons[ex.name] is None:
            ex.chained = True
    return reasons


def install_runners(executors: dict[int, Executor], scheduled: bool) -> None:
    """Once the components are built (``Worker.start``): a chained task's ``fifo_append``
    becomes its inline runner, and so does what the worker's scheduler (if ``scheduled``)
    runs each of its jobs with."""
    for ex in executors.values():
        if ex.is_spout or not (ex.chained or scheduled):
            continue
        runner = ex.inline_runner()
        if ex.chained:
            ex.fifo_append = runner
        if scheduled:
            ex.inbox.run = runner  # type: ignore[attr-defined]  # a ScheduledInbox

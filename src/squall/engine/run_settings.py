"""The Storm and squall settings a run obeys, read once from the merged topology config.

Storm keys keep Storm's meaning and defaults; ``squall.*`` keys tune the embedded runner. Every
key is declared in ``RUN_SCHEMA``; a ``squall.*`` key that no registered schema declares is an
error (``squall.settings.check_known``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.engine.model import ComponentDef
from squall.realtime.scheduling import SCHEDULERS
from squall.settings import (
    Schema,
    Setting,
    boolean,
    check_known,
    choice,
    duration,
    integer,
    number,
    optional,
    register,
)

RUN_SCHEMA = register(
    Schema(
        "the embedded runner",
        None,
        (
            Setting(
                "topology.message.timeout.secs",
                number(0.001),
                30,
                "a tree not fully acked this long after its root entered fails (Storm's key)",
            ),
            Setting(
                "topology.max.spout.pending",
                optional(integer(1)),
                None,
                "trees in flight per spout task before it is not asked for more (Storm's key)",
            ),
            Setting(
                "topology.acker.executors",
                optional(integer(0)),
                None,
                "0 turns acking off: spouts are told ack at once (Storm's key)",
            ),
            Setting(
                "topology.disable.loadaware.messaging",
                boolean,
                False,
                "true: shuffle over every task, never preferring the worker's own (Storm's key)",
            ),
            Setting(
                "squall.queue.capacity",
                integer(1),
                1024,
                "tuples a task's inbox holds before the spouts pause (back-pressure)",
            ),
            Setting(
                "squall.scheduler",
                choice(*sorted(SCHEDULERS)),
                "fifo",
                "which waiting tuple runs next: fifo (per task, in turn), or one queue per worker "
                "ordered by edf, llf, dm or rm (squall.realtime)",
            ),
            Setting(
                "squall.overload.check.secs",
                duration(0.001),
                0.25,
                "how often a worker measures utilization, backlog and misses for its overload state",
            ),
            Setting(
                "squall.overload.enter.utilization",
                number(0.0, 1.0),
                0.9,
                "busy share of the loop that, with a growing backlog, enters overload",
            ),
            Setting(
                "squall.overload.exit.utilization",
                number(0.0, 1.0),
                0.7,
                "overload ends only below this busy share (hysteresis: no flapping)",
            ),
            Setting(
                "squall.overload.force",
                boolean,
                False,
                "hold the worker in overload from the start: every overload policy in force "
                "(to measure the mandatory-only capacity, or to rehearse shedding)",
            ),
            Setting(
                "squall.overload.hold.secs",
                duration(0),
                2.0,
                "overload ends only after this long without misses or a growing backlog",
            ),
            Setting("squall.batch", integer(1), 64, "tuples a task runs per turn of the loop"),
            Setting(
                "squall.chaining",
                boolean,
                True,
                "run a tuple bound for a chained task at once, inside its emitter's execute, "
                "instead of queueing it (README, Operator chaining)",
            ),
            Setting(
                "squall.runner.chaining",
                boolean,
                True,
                "false: the embedded runner queues every tuple while squall.chaining stays on "
                "for Storm's fused Python bolts (README, Operator chaining)",
            ),
            Setting(
                "squall.storm.fusion",
                choice("groups", "chains"),
                "groups",
                "which Python bolts Storm runs in one process: groups (every grouping at one "
                "task each) or chains (lines of plain bolts); the topology's config "
                "(docs/storm.md, Fused Python bolts)",
            ),
            Setting(
                "squall.spout.batch",
                integer(1),
                16,
                "next_tuple calls per spout task per turn (under Storm: per `next` command, "
                "docs/storm.md)",
            ),
            Setting(
                "squall.drain.secs", duration(0), 5.0, "longest a stop waits for in-flight trees"
            ),
            Setting(
                "squall.drain.idle.secs",
                duration(0),
                1.0,
                "a drain ends once nothing moved this long (the trees left are held by a component)",
            ),
            Setting(
                "squall.fail.fast", boolean, False, "stop the run at the first component error"
            ),
            Setting(
                "squall.embedded",
                boolean,
                False,
                "set by the embedded runner and the test kit: tells a component it is not under Storm",
            ),
        ),
        # oldest-root-first is edf's order when no stream declares a deadline
        renamed={"squall.queue.policy": "squall.scheduler"},
    )
)


@dataclass(frozen=True)
class RunSettings:
    """The typed values of ``RUN_SCHEMA`` for one run, and the merged config they came from."""

    conf: dict[str, Any]
    message_timeout_s: float
    max_spout_pending: int | None
    acking: bool
    queue_capacity: int
    scheduler: str
    batch: int
    spout_batch: int
    drain_s: float
    drain_idle_s: float
    fail_fast: bool
    load_aware: bool
    overload_check_s: float = 0.25
    overload_enter_utilization: float = 0.9
    overload_exit_utilization: float = 0.7
    overload_hold_s: float = 2.0
    overload_force: bool = False
    # the key that turned chaining off, for the run's summary (None: chaining is on)
    chaining_off_by: str | None = None

    @property
    def chaining(self) -> bool:
        return self.chaining_off_by is None

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> RunSettings:
        """Check every key (unknown ``squall.*`` keys are errors) and read the run's values."""
        check_known(conf)
        v = RUN_SCHEMA.read(conf)
        return cls(
            conf=dict(conf),
            message_timeout_s=v["topology.message.timeout.secs"],
            max_spout_pending=v["topology.max.spout.pending"],
            acking=v["topology.acker.executors"] != 0,
            queue_capacity=v["squall.queue.capacity"],
            scheduler=v["squall.scheduler"],
            overload_check_s=v["squall.overload.check.secs"],
            overload_enter_utilization=v["squall.overload.enter.utilization"],
            overload_exit_utilization=v["squall.overload.exit.utilization"],
            overload_hold_s=v["squall.overload.hold.secs"],
            overload_force=v["squall.overload.force"],
            batch=v["squall.batch"],
            chaining_off_by=next(
                (k for k in ("squall.chaining", "squall.runner.chaining") if not v[k]), None
            ),
            spout_batch=v["squall.spout.batch"],
            drain_s=v["squall.drain.secs"],
            drain_idle_s=v["squall.drain.idle.secs"],
            fail_fast=v["squall.fail.fast"],
            load_aware=not v["topology.disable.loadaware.messaging"],
        )

    def component_conf(self, comp: ComponentDef) -> dict[str, Any]:
        """A component's conf: its own ``config`` over the topology's, as Storm merges them."""
        merged = dict(self.conf)
        merged.update(comp.config)
        return merged

"""The Storm and squall settings a run obeys, read once from the merged topology config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from squall.errors import ConfigError
from squall.model import ComponentDef
from squall.queues import POLICIES


def _number(conf: dict[str, Any], key: str, default: float | None, minimum: float) -> float | None:
    value = conf.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"setting {key}={value!r}: expected a number >= {minimum}")
    return value


@dataclass(frozen=True)
class RunSettings:
    """Storm keys keep Storm's meaning and defaults; ``squall.*`` keys tune the embedded runner."""

    conf: dict[str, Any]
    message_timeout_s: float
    max_spout_pending: int | None
    acking: bool
    queue_capacity: int
    queue_policy: str
    batch: int
    spout_batch: int
    drain_s: float
    drain_idle_s: float
    fail_fast: bool
    load_aware: bool

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> RunSettings:
        policy = conf.get("squall.queue.policy", "fifo")
        if policy not in POLICIES:
            raise ConfigError(f"setting squall.queue.policy={policy!r}: valid: {sorted(POLICIES)}")
        pending = _number(conf, "topology.max.spout.pending", None, 1)
        ackers = _number(conf, "topology.acker.executors", None, 0)
        return cls(
            conf=conf,
            message_timeout_s=float(_number(conf, "topology.message.timeout.secs", 30, 0.001)),  # type: ignore[arg-type]
            max_spout_pending=None if pending is None else int(pending),
            acking=ackers != 0,
            queue_capacity=int(_number(conf, "squall.queue.capacity", 1024, 1)),  # type: ignore[arg-type]
            queue_policy=policy,
            batch=int(_number(conf, "squall.batch", 64, 1)),  # type: ignore[arg-type]
            spout_batch=int(_number(conf, "squall.spout.batch", 16, 1)),  # type: ignore[arg-type]
            drain_s=float(_number(conf, "squall.drain.secs", 5, 0)),  # type: ignore[arg-type]
            drain_idle_s=float(_number(conf, "squall.drain.idle.secs", 1, 0)),  # type: ignore[arg-type]
            fail_fast=bool(conf.get("squall.fail.fast", False)),
            load_aware=not conf.get("topology.disable.loadaware.messaging", False),
        )

    def component_conf(self, comp: ComponentDef) -> dict[str, Any]:
        """A component's conf: its own ``config`` over the topology's, as Storm merges them."""
        merged = dict(self.conf)
        merged.update(comp.config)
        return merged

"""Under Storm, one ``next`` answered with up to ``squall.spout.batch`` ``next_tuple`` calls.

Storm asks a multilang spout for tuples one ``next`` command at a time and waits for its
``sync``: a JVM <-> Python round trip per call. A spout whose ``next_tuple`` emits one reading
pays that round trip per reading, and under Storm the round trips, not the readings' work, set
the rate (bench/README.md, the Storm rows). The embedded runner calls ``next_tuple`` up to
``squall.spout.batch`` times per turn of its loop; :class:`BatchedSpout` gives the setting the
same meaning under Storm: on ``next`` it calls ``next_tuple`` until a call emits nothing, the
batch is done, or the spout has ``topology.max.spout.pending`` tuples in flight (counted here:
reliable emits in, ``ack``/``fail`` commands out), so Storm's bound on a spout's pending trees
holds as it does unbatched. ``squall.spout.batch: 1`` is stock multilang, one call per ``next``.

Only the Storm side changes: the embedded runner hosts the spout without pystorm's
``_setup_component`` and ``_run`` (it calls ``next_tuple`` itself), so none of this runs there.
"""

from __future__ import annotations

from typing import Any

from streamparse import Spout

from squall.engine.run_settings import RUN_SCHEMA
from squall.errors import ConfigError

BATCH_KEY = "squall.spout.batch"
_BATCH = RUN_SCHEMA.settings[BATCH_KEY]
_PENDING = RUN_SCHEMA.settings["topology.max.spout.pending"]


def storm_spout_batch(storm_conf: dict[str, Any], where: str) -> tuple[int, int | None]:
    """(``squall.spout.batch``, ``topology.max.spout.pending``) from a Storm config, checked as
    the embedded runner checks them; ``where`` names the config in an error."""
    values = []
    for setting in (_BATCH, _PENDING):
        value = storm_conf.get(setting.key)
        values.append(
            setting.default if value is None else setting.reader(value, f"{where}: {setting.key}")
        )
    return values[0], values[1]


class BatchedSpout(Spout):
    """A streamparse Spout that answers Storm's ``next`` with a batch (module docstring)."""

    _batch = 1
    _max_pending: int | None = None
    _emitted = 0
    _in_flight = 0

    def _setup_component(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        super()._setup_component(storm_conf, context)
        component = context.get("componentid", "?") if isinstance(context, dict) else "?"
        try:
            self._batch, self._max_pending = storm_spout_batch(
                storm_conf, f"the Storm config of spout {component!r}"
            )
        except ConfigError as exc:
            # pystorm logs it to the worker log and the spout does not start: a bad batch size
            # must not turn into a silent default
            raise ConfigError(f"{exc} (squall.storm.batched_spout)") from None
        # Counting wraps this instance's emit, not the class's: the embedded runner takes its
        # fast path only for a class that keeps pystorm's emit (and never calls this method).
        emit = super().emit

        def counting_emit(tup: Any, tup_id: Any = None, *args: Any, **kwargs: Any) -> Any:
            self._emitted += 1
            if tup_id is not None:
                self._in_flight += 1
            return emit(tup, tup_id, *args, **kwargs)

        self.emit = counting_emit

    def _next_batch(self) -> None:
        for _ in range(self._batch):
            if self._max_pending is not None and self._in_flight >= self._max_pending:
                return
            before = self._emitted
            self.next_tuple()
            if self._emitted == before:
                return  # nothing more to emit now: let Storm ask again later

    def _run(self) -> None:
        # pystorm's Spout._run with ``next`` batched (pystorm 3.1.4: the same commands)
        cmd = self.read_command()
        command = cmd["command"]
        if command == "next":
            self._next_batch()
        elif command == "ack":
            self._in_flight = max(self._in_flight - 1, 0)
            self.ack(cmd["id"])
        elif command == "fail":
            self._in_flight = max(self._in_flight - 1, 0)
            self.fail(cmd["id"])
        elif command == "activate":
            self.activate()
        elif command == "deactivate":
            self.deactivate()
        else:
            self.logger.error("Received invalid command from Storm: %r", cmd)
        self.send_message({"command": "sync"})

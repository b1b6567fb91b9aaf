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

from collections.abc import Callable
from typing import Any

from streamparse import Spout

from squall.engine.run_settings import RUN_SCHEMA
from squall.errors import ConfigError
from squall.settings import Setting

BATCH_KEY = "squall.spout.batch"
_BATCH = RUN_SCHEMA.settings[BATCH_KEY]
_PENDING = RUN_SCHEMA.settings["topology.max.spout.pending"]


def storm_spout_batch(storm_conf: dict[str, Any], where: str) -> tuple[int, int | None]:
    """(``squall.spout.batch``, ``topology.max.spout.pending``) from a Storm config, checked as
    the embedded runner checks them; ``where`` names the config in an error."""

    def read(setting: Setting) -> Any:
        value = storm_conf.get(setting.key)
        return (
            setting.default if value is None else setting.reader(value, f"{where}: {setting.key}")
        )

    return read(_BATCH), read(_PENDING)


class BatchedSpout(Spout):
    """A streamparse Spout that answers Storm's ``next`` with a batch (module docstring).

    pystorm's own ``_run`` reads the commands; ``_setup_component``, which only pystorm calls,
    wraps this instance's ``next_tuple`` (the batch), ``emit`` (counting) and ``ack``/``fail``
    (making room). The class keeps pystorm's methods: the embedded runner takes its fast emit
    path only for a class whose ``emit`` is pystorm's.
    """

    def _setup_component(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        super()._setup_component(storm_conf, context)
        component = context.get("componentid", "?") if isinstance(context, dict) else "?"
        try:
            batch, max_pending = storm_spout_batch(
                storm_conf, f"the Storm config of spout {component!r}"
            )
        except ConfigError as exc:
            # pystorm logs it to the worker log and the spout does not start: a bad batch size
            # must not turn into a silent default
            raise ConfigError(f"{exc} (squall.storm.batched_spout)") from None
        _batch_next(self, batch, max_pending)


def _batch_next(spout: Any, batch: int, max_pending: int | None) -> None:
    """Wrap ``spout``'s own methods (the class's stay pystorm's; see BatchedSpout)."""
    counts = {"emitted": 0, "in_flight": 0}
    emit, next_tuple, ack, fail = spout.emit, spout.next_tuple, spout.ack, spout.fail

    def counting_emit(tup: Any, tup_id: Any = None, *args: Any, **kwargs: Any) -> Any:
        counts["emitted"] += 1
        if tup_id is not None:
            counts["in_flight"] += 1
        return emit(tup, tup_id, *args, **kwargs)

    def next_batch() -> None:
        for _ in range(batch):
            if max_pending is not None and counts["in_flight"] >= max_pending:
                return
            before = counts["emitted"]
            next_tuple()
            if counts["emitted"] == before:
                return  # nothing more to emit now: let Storm ask again later

    def done(tell: Callable[[Any], None]) -> Callable[[Any], None]:
        def told(tup_id: Any) -> None:
            counts["in_flight"] = max(counts["in_flight"] - 1, 0)
            tell(tup_id)

        return told

    spout.emit = counting_emit
    spout.next_tuple = next_batch
    spout.ack, spout.fail = done(ack), done(fail)

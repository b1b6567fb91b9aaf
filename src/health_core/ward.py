"""The ward section of the health config: topologies/health_ward.py's two classes of readings
and what each class promises.

The ward's deadline fields (``<class>_deadline_ms``, ``_criticality``, ``_mk``, ``_policies``)
are the ``squall.realtime.<class>.default.*`` declarations of the ward's spouts ``critical``
and ``routine`` (:mod:`squall.realtime.deadlines`), and ``scheduler`` is the runner's
``squall.scheduler`` (:data:`WARD_KEYS`). They travel only with
``HealthConfig.to_storm_conf(ward=True)`` (:meth:`WardSettings.to_storm_conf`), which the ward
topology alone uses: the runtime refuses a deadline on a stream a topology does not declare.
``HealthConfig.from_storm_conf`` reads them back from those keys; a key absent or null takes
the default of this module, as every other key does. Override them for a run as those keys:
``-o squall.realtime.routine.default.mk=2,4``, ``-o squall.scheduler=fifo``.

The rest of the section (``critical_share``, the patient counts) travels as ``health.ward.*``
like any other section. The readers here raise ``HealthConfigError`` like the config's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from health_core.config_readers import HealthConfigError, read_value, type_name
from squall.realtime.deadlines import (
    CRITICALITY,
    DEADLINE_MS,
    MK,
    POLICY_LIST,
    REALTIME_SCHEMA,
    DeadlineError,
    Deadlines,
    StreamDeadline,
    conf_key,
)
from squall.realtime.scheduling import SCHEDULERS
from squall.settings import Reader, choice, integer, optional

# The ward's classes of readings; each is also the component id of the ward spout sending it.
READING_CLASSES: tuple[str, ...] = ("critical", "routine")
WARD_STREAM = "default"  # the ward spouts' stream that the deadlines are declared on
# WardSettings field -> the key it travels as, when not health.ward.*: the ward topology's
# deadline declarations and the runner's scheduler (see the module docstring).
WARD_KEYS: dict[str, str] = {
    "scheduler": "squall.scheduler",
    **{
        f"{cls}_{name}": conf_key(cls, WARD_STREAM, field)
        for cls in READING_CLASSES
        for name, field in (
            ("deadline_ms", DEADLINE_MS),
            ("criticality", CRITICALITY),
            ("mk", MK),
            ("policies", POLICY_LIST),
        )
    },
}
MAX_PATIENTS = 1_000_000


@dataclass(frozen=True, slots=True)
class WardSettings:
    """The ward topology: critical and routine readings, and what each class promises.

    The producers' load (``producers.count`` x ``producers.rate_per_producer_hz``) is split by
    class: ``critical_share`` of it comes from the critical spout's own producers, the rest
    from the routine spout's. Patients are ids ``[0, critical_patients)`` (critical) and the
    next ``routine_patients`` ids (routine): a patient belongs to one class. Defaults are
    issue 11's: critical hard, D = 50 ms; routine firm, D = 1 s, at most 3 of any 4 consecutive
    readings of a patient discarded in overload; scheduled earliest deadline first (``edf``),
    the deadline-aware scheduler the ward exists to show (the runner's own default is ``fifo``).
    """

    critical_share: float = 0.2
    critical_patients: int = 20
    routine_patients: int = 200
    scheduler: str = "edf"
    critical_deadline_ms: float = 50.0
    critical_criticality: str = "hard"
    critical_mk: tuple[int, int] | None = None
    critical_policies: tuple[str, ...] = ("late",)
    routine_deadline_ms: float = 1000.0
    routine_criticality: str = "firm"
    routine_mk: tuple[int, int] | None = (3, 4)
    routine_policies: tuple[str, ...] = ("discard",)

    def patients(self, reading_class: str) -> tuple[int, int]:
        """The lowest and highest patient id of ``reading_class``."""
        if reading_class == "critical":
            return 0, self.critical_patients - 1
        first = self.critical_patients
        return first, first + self.routine_patients - 1

    def share(self, reading_class: str) -> float:
        """The share of the producers' load that ``reading_class`` readings make."""
        return self.critical_share if reading_class == "critical" else 1.0 - self.critical_share

    def deadline(self, reading_class: str) -> StreamDeadline:
        """The declaration of ``reading_class``'s spout stream (checked when built)."""
        mk: tuple[int, int] | None = getattr(self, f"{reading_class}_mk")
        return StreamDeadline(
            reading_class,
            WARD_STREAM,
            getattr(self, f"{reading_class}_deadline_ms") / 1000,
            getattr(self, f"{reading_class}_criticality"),
            None if mk is None else mk[0],
            None if mk is None else mk[1],
            frozenset(getattr(self, f"{reading_class}_policies")),
        )

    def deadlines(self) -> Deadlines:
        """Both classes' declarations, as the runtime reads them."""
        return Deadlines(tuple(self.deadline(cls) for cls in READING_CLASSES))

    def to_storm_conf(self) -> dict[str, Any]:
        """The ward topology's own keys: both classes' ``squall.realtime.<class>.default.*``
        declarations and ``squall.scheduler``."""
        return {**self.deadlines().to_conf(), WARD_KEYS["scheduler"]: self.scheduler}


def read_share(value: Any, where: str) -> float:
    """``critical_share``: a number strictly between 0 and 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and 0 < value < 1)
    ):
        raise HealthConfigError(
            f"{where} must be a number in (0, 1), the share of the readings that are critical "
            f"(0 or 1 would leave a class without readings); got {value!r} ({type_name(value)})"
        )
    return float(value)


def _realtime(name: str) -> Reader:
    """squall.realtime's own reader of a stream's field ``name``: the same checks and words."""
    return REALTIME_SCHEMA.settings[conf_key("<component>", "<stream>", name)].reader


def _read_policies(value: Any, where: str) -> tuple[str, ...]:
    # sorted, not filtered: an unknown policy is refused with the stream (check_ward)
    policies: frozenset[str] = _realtime(POLICY_LIST)(value, where)
    return tuple(sorted(policies))


# WardSettings field -> its reader: config.yaml and the Storm config are read with the same ones
WARD_READERS: dict[str, Reader] = {
    "critical_share": read_share,
    "critical_patients": integer(1, MAX_PATIENTS),
    "routine_patients": integer(1, MAX_PATIENTS),
    "scheduler": choice(*SCHEDULERS),
    **{
        f"{cls}_{name}": reader
        for cls in READING_CLASSES
        for name, reader in (
            ("deadline_ms", _realtime(DEADLINE_MS)),
            ("criticality", _realtime(CRITICALITY)),
            ("mk", optional(_realtime(MK))),
            ("policies", _read_policies),
        )
    },
}


def read_scheduler(conf: Mapping[str, Any], where: str = "Storm config:") -> str:
    """``ward.scheduler`` from the runner's own ``squall.scheduler`` key (the runner declares
    it, so the health schema does not); absent or null, the default, as for every other key."""
    key = WARD_KEYS["scheduler"]
    value = conf.get(key)
    if value is None:
        return WardSettings().scheduler
    scheduler: str = read_value(WARD_READERS["scheduler"], value, f"{where} {key}")
    return scheduler


def check_ward(ward: WardSettings, source: str, key: Callable[[str, str], str]) -> None:
    """Each class's declaration as a whole (firm needs (m,k), hard is never discarded, ...);
    ``key(section, field)`` names a setting as ``source`` spells it."""
    for cls in READING_CLASSES:
        try:
            ward.deadline(cls)
        except DeadlineError as exc:
            message = str(exc)
            for name, storm in WARD_KEYS.items():  # name each key as ``source`` spells it
                message = message.replace(storm, key("ward", name))
            raise HealthConfigError(f"{source}: ward, {cls} readings: {message}") from None
    last = ward.critical_patients + ward.routine_patients - 1
    if last > MAX_PATIENTS:
        raise HealthConfigError(
            f"{source}: {key('ward', 'critical_patients')} ({ward.critical_patients}) + "
            f"{key('ward', 'routine_patients')} ({ward.routine_patients}) patients: ids up to "
            f"{last}; valid: at most {MAX_PATIENTS} patient ids in all"
        )

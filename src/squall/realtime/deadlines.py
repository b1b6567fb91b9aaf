"""Stream deadlines: what a topology promises each stream, declared in its config, checked at load.

A stream declares a relative deadline D and one of the course's criticalities:

- ``hard``: a miss is a failure; every tuple is processed, late or not, and never shed (alerts);
- ``firm``: a late result is worthless; at most m of any k consecutive jobs of a key may be
  discarded, the (m,k)-firm bound (:mod:`squall.realtime.mk_firm`; trend updates);
- ``soft``: a late result is still useful; lateness is counted (invalid records).

and the overload policies applied to it, in overload only: ``late`` (deadline loss: keep going,
count misses), ``imprecise`` (the mandatory part runs, the optional part is dropped),
``discard`` (skip jobs within (m,k)), ``rate`` (the source lowers its rate; Kafka keeps the
rest as lag, nothing is lost).

Keys, in Storm's flat dotted style (component and stream ids are one word each, without dots):

==================================================  ========================================
``squall.realtime.<component>.<stream>.deadline.ms``  D in milliseconds, a number > 0; required
``squall.realtime.<component>.<stream>.criticality``  ``hard``, ``firm`` or ``soft``; required
``squall.realtime.<component>.<stream>.mk``           ``"M,K"`` or ``[M, K]``: at most M of any K
                                                      consecutive jobs per key discarded,
                                                      0 <= M <= K, K >= 1; firm streams only,
                                                      and required there
``squall.realtime.<component>.<stream>.policies``     ``"late,discard"`` or a list: a subset of
                                                      late, imprecise, discard, rate; ``late``
                                                      when absent
==================================================  ========================================

A null value counts as absent, so ``-o`` can take back a stream's declaration key by key.
``mk`` is one key, not ``.m`` and ``.k``: the two are one bound, and one key cannot be
overridden without the other.

A tuple tree answers to the deadline of its root's source (:meth:`Deadlines.for_root`): an alert
is late by its reading's deadline, not by a deadline of the alert stream. Which of a
topology's streams exist is the caller's to say (``declared``), so this module stays apart
from the engine's model of a topology.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from squall.errors import ConfigError
from squall.settings import Reader, Schema, Setting, choice, number, register

PREFIX = "squall.realtime."
CRITICALITIES = ("hard", "firm", "soft")
POLICIES = ("late", "imprecise", "discard", "rate")
# Deadline loss is what a runner does with no policy at all: say so rather than leave it empty.
DEFAULT_POLICIES = frozenset({"late"})

# the fields after squall.realtime.<component>.<stream>.
DEADLINE_MS = "deadline.ms"
CRITICALITY = "criticality"
MK = "mk"
POLICY_LIST = "policies"

_MK_MEANING = "at most M of any K consecutive jobs discarded"
_MK_VALID = "valid: 0 <= m <= k and k >= 1 (at most m of any k consecutive jobs discarded)"
_POLICIES_VALID = ", ".join(POLICIES)


class DeadlineError(ConfigError):
    """A stream's deadline declaration is invalid: a value, a missing key, or an undeclared stream."""


def conf_key(component: str, stream: str, name: str) -> str:
    """The key of one field (``deadline.ms``, ``criticality``, ``mk``, ``policies``) of a stream."""
    return f"{PREFIX}{component}.{stream}.{name}"


_MK_TEXT = re.compile(r"^\s*(-?\d+)\s*,\s*(-?\d+)\s*$")


def _read_mk(value: Any, where: str) -> tuple[int, int]:
    # Only the shape here: the range (m <= k, ...) is checked with the stream, so that a
    # StreamDeadline built in code is held to it too.
    if isinstance(value, str) and (match := _MK_TEXT.match(value)):
        return int(match.group(1)), int(match.group(2))
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return value[0], value[1]
    raise ConfigError(
        f"{where} must be 'M,K' or [M, K], two integers such as '3,4' ({_MK_MEANING}); "
        f"got {value!r} ({type(value).__name__})"
    )


def _read_policies(value: Any, where: str) -> frozenset[str]:
    # A comma-separated string is what `-o key=late,discard` gives; YAML may give a list.
    items: list[Any]
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [None]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise ConfigError(
            f"{where} must be policies separated by commas (or a list), none empty, from "
            f"{_POLICIES_VALID}; got {value!r} ({type(value).__name__})"
        )
    return frozenset(items)


def _family(name: str) -> str:
    return conf_key("<component>", "<stream>", name)


REALTIME_SCHEMA = register(
    Schema(
        "the real-time deadlines",
        PREFIX,
        (
            Setting(
                _family(DEADLINE_MS),
                number(0, low_open=True),
                help="relative deadline D of the stream's jobs, in milliseconds",
            ),
            Setting(
                _family(CRITICALITY),
                choice(*CRITICALITIES),
                help="hard: never shed; firm: late is worthless, (m,k) discards; soft: late counts",
            ),
            Setting(_family(MK), _read_mk, help=f"firm streams: 'M,K', {_MK_MEANING} per key"),
            Setting(
                _family(POLICY_LIST),
                _read_policies,
                help=f"overload policies, a subset of {_POLICIES_VALID}",
            ),
        ),
        error=DeadlineError,
    )
)


def _checked(reader: Reader, value: Any, where: str) -> None:
    try:
        reader(value, where)
    except ConfigError as exc:
        raise DeadlineError(str(exc)) from None


@dataclass(frozen=True)
class StreamDeadline:
    """What one stream promises: D (``deadline_s``), criticality, (m,k) for firm, policies.

    Checked when built, from config or in code alike; errors name the stream's config keys.
    """

    component: str
    stream: str
    deadline_s: float
    criticality: str
    m: int | None = None
    k: int | None = None
    policies: frozenset[str] = DEFAULT_POLICIES

    def __post_init__(self) -> None:
        # a set or a list given in code becomes the hashable, immutable form
        object.__setattr__(self, "policies", frozenset(self.policies))
        _check(self)

    def key(self, name: str) -> str:
        """This stream's config key for field ``name``."""
        return conf_key(self.component, self.stream, name)

    @property
    def mk(self) -> tuple[int, int] | None:
        """(m, k) of a firm stream; None otherwise."""
        return None if self.m is None or self.k is None else (self.m, self.k)

    def to_conf(self) -> dict[str, Any]:
        """This declaration as config keys, read back by :meth:`Deadlines.from_conf` unchanged."""
        # rounded to the nanosecond so that ms -> s -> ms gives back the value written
        ms = round(self.deadline_s * 1000, 6)
        conf: dict[str, Any] = {
            self.key(DEADLINE_MS): int(ms) if ms.is_integer() else ms,
            self.key(CRITICALITY): self.criticality,
            self.key(POLICY_LIST): ",".join(p for p in POLICIES if p in self.policies),
        }
        if self.mk is not None:
            conf[self.key(MK)] = f"{self.mk[0]},{self.mk[1]}"
        return conf


def _check(d: StreamDeadline) -> None:
    def where(name: str) -> str:
        return f"setting {d.key(name)}"

    for what, word in (("component", d.component), ("stream", d.stream)):
        if not isinstance(word, str) or not word or "." in word:
            raise DeadlineError(
                f"deadline of {d.component!r}/{d.stream!r}: the {what} id must be a non-empty "
                f"string without dots (one word of {PREFIX}<component>.<stream>.*); got {word!r}"
            )
    seconds = d.deadline_s
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise DeadlineError(
            f"deadline of {d.component}.{d.stream}: deadline_s must be a number "
            f"of seconds > 0; got {seconds!r} ({type(seconds).__name__})"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        # the same words as the key's reader, in the key's unit
        raise DeadlineError(f"{where(DEADLINE_MS)} must be a number > 0; got {seconds * 1000!r}")
    _checked(choice(*CRITICALITIES), d.criticality, where(CRITICALITY))

    unknown = sorted(d.policies - set(POLICIES))
    if unknown:
        raise DeadlineError(
            f"{where(POLICY_LIST)} names unknown policy {unknown[0]!r}; valid: {_POLICIES_VALID}"
        )
    if not d.policies:
        raise DeadlineError(
            f"{where(POLICY_LIST)} must name at least one policy of {_POLICIES_VALID}; got none"
        )

    if (d.m is None) != (d.k is None):
        raise DeadlineError(f"{where(MK)} needs both m and k; got m = {d.m}, k = {d.k}")
    if d.mk is not None:
        m, k = d.mk
        if k < 1:
            raise DeadlineError(f"{where(MK)} has k = {k} < 1; {_MK_VALID}")
        if m < 0:
            raise DeadlineError(f"{where(MK)} has m = {m} < 0; {_MK_VALID}")
        if m > k:
            raise DeadlineError(f"{where(MK)} has m = {m} > k = {k}; {_MK_VALID}")
        if d.criticality != "firm":
            raise DeadlineError(
                f"{where(MK)} is set on a {d.criticality} stream; (m, k) bounds the discards "
                f"of a firm stream only: remove it, or make {d.key(CRITICALITY)} firm"
            )
    elif d.criticality == "firm":
        raise DeadlineError(
            f"{where(CRITICALITY)} is firm, which needs (m, k): set {d.key(MK)} to 'M,K' "
            f"({_MK_MEANING}, 0 <= M <= K, K >= 1), e.g. '3,4'"
        )

    # `imprecise` is allowed on hard streams: the mandatory part (the threshold check) always
    # runs, only the optional refinement is dropped; `rate` too: it delays the source and
    # leaves lag behind, it loses nothing. Only `discard` drops jobs.
    if "discard" in d.policies and d.criticality == "hard":
        raise DeadlineError(
            f"{where(POLICY_LIST)} gives 'discard' to a hard stream; hard streams are never "
            f"shed: valid for hard are late, imprecise (its mandatory part always runs) and rate"
        )
    if "discard" in d.policies and d.criticality == "soft":
        raise DeadlineError(
            f"{where(POLICY_LIST)} gives 'discard' to a soft stream; discard skips jobs within "
            f"(m, k), which only firm streams declare: valid for soft are late, imprecise and rate"
        )


@dataclass(frozen=True)
class Deadlines:
    """Every stream deadline of one topology, looked up by (component, stream)."""

    streams: tuple[StreamDeadline, ...] = ()
    _by_stream: Mapping[tuple[str, str], StreamDeadline] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.streams, key=lambda d: (d.component, d.stream)))
        by_stream: dict[tuple[str, str], StreamDeadline] = {}
        for d in ordered:
            if (d.component, d.stream) in by_stream:
                raise DeadlineError(
                    f"stream {d.component}.{d.stream} is given two deadlines; declare it once"
                )
            by_stream[d.component, d.stream] = d
        object.__setattr__(self, "streams", ordered)  # one order, so equal sets compare equal
        object.__setattr__(self, "_by_stream", MappingProxyType(by_stream))

    @classmethod
    def from_conf(
        cls, conf: Mapping[str, Any], *, declared: Collection[tuple[str, str]]
    ) -> Deadlines:
        """Every ``squall.realtime.*`` declaration of a flat Storm config, checked.

        ``conf`` is the merged config: which source wins (topology config, config.yaml,
        ``-o``) is decided by whoever merges it. ``declared`` holds the topology's
        (component, stream) pairs; a deadline on any other stream is an error. Checks, first
        failure raised: unknown keys, undeclared streams, each value, then each stream whole.
        """
        REALTIME_SCHEMA.check_keys(conf)
        _check_declared([k for k, v in conf.items() if _is_ours(k) and v is not None], declared)
        fields_of: dict[tuple[str, str], dict[str, Any]] = {}
        for key, value in REALTIME_SCHEMA.read(conf).items():
            component, stream, name = key[len(PREFIX) :].split(".", 2)
            fields_of.setdefault((component, stream), {})[name] = value
        return cls(tuple(_stream(c, s, f) for (c, s), f in sorted(fields_of.items())))

    def to_conf(self) -> dict[str, Any]:
        """Every declaration as config keys; :meth:`from_conf` reads them back unchanged."""
        return {key: value for d in self.streams for key, value in d.to_conf().items()}

    def get(self, component: str, stream: str = "default") -> StreamDeadline | None:
        """The deadline declared on ``component``'s ``stream``; None: best effort."""
        return self._by_stream.get((component, stream))

    def for_root(self, spout_component: str, stream: str = "default") -> StreamDeadline | None:
        """The deadline of a tuple tree whose root ``spout_component`` emitted on ``stream``.

        Every tuple of the tree answers to it, whatever stream it travels on downstream: a
        reading's deadline runs from its release until its alert is written. None: best effort.
        """
        return self._by_stream.get((spout_component, stream))

    def __iter__(self) -> Iterator[StreamDeadline]:
        return iter(self.streams)

    def __len__(self) -> int:
        return len(self.streams)


def _is_ours(key: Any) -> bool:
    return isinstance(key, str) and any(p.fullmatch(key) for p in REALTIME_SCHEMA.patterns.values())


def _check_declared(keys: list[str], declared: Collection[tuple[str, str]]) -> None:
    # Before the values: a misspelt component makes every other complaint about it noise.
    known = set(declared)
    names = sorted(f"{c}.{s}" for c, s in known)
    for key in sorted(keys):
        component, stream, _ = key[len(PREFIX) :].split(".", 2)
        if (component, stream) in known:
            continue
        close = difflib.get_close_matches(f"{component}.{stream}", names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DeadlineError(
            f"setting {key} names stream {component}.{stream}, which the topology does not "
            f"declare; {hint}declared streams: {', '.join(names) or 'none'}"
        )


def _stream(component: str, stream: str, fields: dict[str, Any]) -> StreamDeadline:
    for required in (DEADLINE_MS, CRITICALITY):
        if required not in fields:
            given = conf_key(component, stream, min(fields))
            raise DeadlineError(
                f"setting {given} is given but {conf_key(component, stream, required)} is not: "
                f"a stream's deadline needs {DEADLINE_MS} (milliseconds > 0) and {CRITICALITY} "
                f"(hard, firm or soft)"
            )
    mk: tuple[int, int] | None = fields.get(MK)
    return StreamDeadline(
        component,
        stream,
        fields[DEADLINE_MS] / 1000,
        fields[CRITICALITY],
        None if mk is None else mk[0],
        None if mk is None else mk[1],
        fields.get(POLICY_LIST, DEFAULT_POLICIES),
    )

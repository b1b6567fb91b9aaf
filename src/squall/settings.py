"""Typed settings: one reader per kind of value, and the schema of keys each area reads.

Every key squall or an app reads from a Storm config is declared in a :class:`Schema` (its
key, reader and default), so that

- a value is checked once, by a reader that names the key, the bad value and what is valid;
- a key nobody reads is an error, not a silent fall-back to a default: every ``squall.*`` key
  (and every key under an app's registered prefix, such as ``health.*``) must belong to a
  registered schema (:func:`check_known`); a typo gets the closest valid key suggested;
- an old spelling is an error naming the new one.

Keys follow Storm's dotted style: lowercase words separated by dots, with Storm's unit words
(``topology.message.timeout.secs``, ``squall.kafka.spout.session.timeout.ms``). A key with
``<name>`` parts declares a family of keys, one dotted word per part
(``squall.realtime.<component>.<stream>.mk``), for settings that carry a topology's own ids.

Schemas register themselves when their module is imported: the keys known to a run are those
of the components its topology imports — a key no component of the run reads is unknown.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from squall.errors import ConfigError

Reader = Callable[[Any, str], Any]
"""``reader(value, where)`` returns the typed value or raises ConfigError naming ``where``."""

SQUALL_PREFIX = "squall."


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _got(value: Any) -> str:
    return f"{value!r} ({_type_name(value)})"


def integer(low: int | None = None, high: int | None = None) -> Reader:
    """An int (not a bool) within [low, high]; either bound may be open."""
    bound = _bound(low, high, low_open=False)

    def read(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer{bound}; got {_got(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{where} must be an integer{bound}; got {value}")
        return value

    return read


def number(
    low: float | None = None, high: float | None = None, *, low_open: bool = False
) -> Reader:
    """A finite int or float (not a bool) within the bounds, returned as a float."""
    bound = _bound(low, high, low_open)

    def read(value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number{bound}; got {_got(value)}")
        if not _within(value, low, high, low_open):
            raise ConfigError(f"{where} must be a number{bound}; got {value!r}")
        return float(value)

    return read


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|m|h)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(low: float = 0.0, high: float | None = None, *, low_open: bool = False) -> Reader:
    """Seconds: a number, or a string with a unit (``"250ms"``, ``"2s"``, ``"1.5m"``, ``"1h"``)."""
    bound = _bound(low, high, low_open, unit=" s")

    def read(value: Any, where: str) -> float:
        seconds: float
        if isinstance(value, str):
            match = _DURATION.match(value)
            if match is None:
                raise ConfigError(
                    f"{where} must be a duration{bound}: seconds, or a number with a unit "
                    f"ms, s, m or h such as '250ms'; got {value!r}"
                )
            seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a duration in seconds{bound}; got {_got(value)}")
        else:
            seconds = float(value)
        if not _within(seconds, low, high, low_open):
            raise ConfigError(f"{where} must be a duration{bound}; got {value!r}")
        return seconds

    return read


def choice(*valid: str) -> Reader:
    """One of ``valid`` (strings)."""

    def read(value: Any, where: str) -> str:
        if value not in valid:
            raise ConfigError(
                f"{where} must be one of {', '.join(map(repr, valid))}; got {_got(value)}"
            )
        return str(value)

    return read


def boolean(value: Any, where: str) -> bool:
    """True or false (a YAML/JSON boolean, not a string or a number)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false; got {_got(value)}")
    return value


def text(value: Any, where: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string; got {_got(value)}")
    return value


def optional(reader: Reader) -> Reader:
    """``reader``, or None (null) for a setting whose absence means something."""

    def read(value: Any, where: str) -> Any:
        return None if value is None else reader(value, where)

    return read


def _bound(low: float | None, high: float | None, low_open: bool, unit: str = "") -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low:g}{unit}"
    if low is None:
        return f" <= {high:g}{unit}"
    return f" in {'(' if low_open else '['}{low:g}, {high:g}]{unit}"


def _within(value: float, low: float | None, high: float | None, low_open: bool) -> bool:
    if not math.isfinite(value):
        return False
    if low is not None and (value < low or (low_open and value == low)):
        return False
    return high is None or value <= high


_PLACEHOLDER = re.compile(r"<[a-z_]+>")


def key_pattern(key: str) -> re.Pattern[str] | None:
    """The keys ``key`` declares, as a regex, when it has ``<name>`` parts; None otherwise.

    Each ``<name>`` stands for one dotted word: ``squall.realtime.<component>.<stream>.mk``
    declares ``squall.realtime.threshold.default.mk``. Such keys name a topology's components
    and streams, which no schema can list in advance.
    """
    parts = _PLACEHOLDER.split(key)
    if len(parts) == 1:
        return None
    return re.compile("[^.]+".join(map(re.escape, parts)))


@dataclass(frozen=True)
class Setting:
    """One key: its reader, its default and a line of help.

    The default is returned when the key is absent or null. A key with ``<name>`` parts
    (:func:`key_pattern`) declares every key it matches; it has no default.
    """

    key: str
    reader: Reader
    default: Any = None
    help: str = ""
    # Where the setting is fixed, when it shapes the topology as its class is defined (a
    # parallelism): an ``-o`` override reaches only the components' conf, not the shape, so
    # :func:`check_overrides` refuses one that differs. Empty: an ordinary setting.
    fixed_by: str = ""


class Schema:
    """The keys one area reads. Under ``prefix`` (when given) no other key is valid.

    ``renamed`` maps old spellings to the new keys; ``error`` is the ConfigError subclass
    the area raises. A setting whose key has ``<name>`` parts declares a family of keys.
    """

    def __init__(
        self,
        owner: str,
        prefix: str | None,
        settings: Iterable[Setting],
        renamed: Mapping[str, str] | None = None,
        error: type[ConfigError] = ConfigError,
    ) -> None:
        self.owner = owner
        self.prefix = prefix
        self.settings = {s.key: s for s in settings}
        self.patterns = {k: p for k in self.settings if (p := key_pattern(k)) is not None}
        self.renamed = dict(renamed or {})
        self.error = error
        for key, new in self.renamed.items():
            if new not in self.settings:
                raise ValueError(f"{owner}: renamed key {key!r} points at unknown key {new!r}")

    def read(self, conf: Mapping[str, Any], where: str = "setting") -> dict[str, Any]:
        """Every setting's value from ``conf`` (its default when absent or null), checked.

        A key family reads each key of ``conf`` it matches (none when absent or null). Unknown
        keys under this schema's prefix and old spellings are errors.
        """
        self.check_keys(conf)
        out: dict[str, Any] = {}
        for key, setting in self.settings.items():
            pattern = self.patterns.get(key)
            if pattern is not None:
                for k, v in conf.items():
                    if isinstance(k, str) and pattern.fullmatch(k) and v is not None:
                        out[k] = self._read(setting, v, f"{where} {k}")
                continue
            value = conf.get(key)
            out[key] = (
                setting.default if value is None else self._read(setting, value, f"{where} {key}")
            )
        return out

    def _read(self, setting: Setting, value: Any, where: str) -> Any:
        try:
            return setting.reader(value, where)
        except ConfigError as exc:
            raise self.error(str(exc)) from None

    def declares(self, key: str) -> bool:
        """Whether ``key`` is one of this schema's keys or in one of its key families."""
        return key in self.settings or any(p.fullmatch(key) for p in self.patterns.values())

    def check_keys(self, conf: Mapping[str, Any]) -> None:
        """Raise for a key under this schema's prefix that it does not declare."""
        for key in conf:
            if key in self.renamed or (
                self.prefix
                and isinstance(key, str)
                and key.startswith(self.prefix)
                and not self.declares(key)
            ):
                raise self.error(
                    unknown_key_message(
                        key, self.settings, self.renamed, f"not a key of {self.owner}"
                    )
                )


def unknown_key_message(
    key: str, valid: Iterable[str], renamed: Mapping[str, str], why: str
) -> str:
    """Why ``key`` is refused.

    Either an old spelling (naming the new key), or unknown (``why``), with the closest valid
    key and the valid ones. A key family is suggested with ``key``'s own words in its
    ``<name>`` parts (``squall.realtime.trend.default.mk`` for ``...trend.default.mks``).
    """
    if key in renamed:
        return f"setting {key!r} is the old spelling of {renamed[key]!r}; use {renamed[key]!r}"
    valid = sorted(valid)
    close = difflib.get_close_matches(key, [_filled(v, key) for v in valid], n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown setting {key!r}: {why}; {hint}valid: {', '.join(valid)}"


def _filled(template: str, key: str) -> str:
    """``template`` with each ``<name>`` part replaced by ``key``'s word at the same place."""
    words = key.split(".")
    return ".".join(
        words[i] if i < len(words) and _PLACEHOLDER.fullmatch(part) else part
        for i, part in enumerate(template.split("."))
    )


_SCHEMAS: dict[str, Schema] = {}
_ROOTS: set[str] = {SQUALL_PREFIX}


def register(schema: Schema, root: str | None = None) -> Schema:
    """Make ``schema``'s keys known to :func:`check_known`.

    ``root`` (e.g. ``"health."``) closes an app's namespace: every key under it must then be
    declared by some schema.
    """
    _SCHEMAS[schema.owner] = schema
    if root is not None:
        _ROOTS.add(root)
    return schema


def check_known(conf: Mapping[str, Any]) -> None:
    """Raise ConfigError for a key no registered schema declares.

    Only keys under a registered root (``squall.``, an app's) are checked; the message names
    the closest valid key.
    """
    declared = {key for schema in _SCHEMAS.values() for key in schema.settings}
    renamed = {old: new for schema in _SCHEMAS.values() for old, new in schema.renamed.items()}
    for key in conf:
        if not isinstance(key, str) or key in declared:
            continue
        if any(schema.declares(key) for schema in _SCHEMAS.values()):
            continue  # a key of a family (``<name>`` parts)
        root = next((r for r in _ROOTS if key.startswith(r)), None)
        if root is None:
            continue  # Storm's own keys and other namespaces are not ours to police
        owners = [s for s in _SCHEMAS.values() if s.prefix and key.startswith(s.prefix)]
        if owners:
            owner = max(owners, key=lambda s: len(s.prefix or ""))
            raise owner.error(
                unknown_key_message(key, owner.settings, renamed, f"not a key of {owner.owner}")
            )
        valid = [k for k in declared if k.startswith(root)]
        raise ConfigError(
            unknown_key_message(key, valid, renamed, "no component of this run reads it")
        )


def check_overrides(options: Mapping[str, Any], defined: Mapping[str, Any]) -> None:
    """Refuse an override of a setting that shapes the topology (``Setting.fixed_by``).

    An ``-o`` option that differs from what the topology was defined with (``defined``: its
    own config) raises the schema's ConfigError: applied, it would change the components'
    conf and not the shape, so the run would silently not be what was asked.
    """
    for key, value in options.items():
        for schema in _SCHEMAS.values():
            setting = schema.settings.get(key)
            if setting is None or not setting.fixed_by:
                continue
            if key in defined and str(defined[key]) == str(value):
                continue  # the same as defined: harmless
            raise schema.error(
                f"-o {key}={value}: {key} shapes the topology when it is defined "
                f"({setting.fixed_by}; {defined.get(key)!r} for this topology), and an "
                "override cannot change the shape; set it there instead"
            )

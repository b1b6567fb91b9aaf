"""The health topology's settings: config.yaml -> one frozen, validated ``HealthConfig``.

Precedence, lowest to highest:

1. the defaults written in this module (each dataclass field);
2. the file named by ``$SQUALL_HEALTH_CONFIG``, else ``config.yaml`` at the project root,
   read once by the topology file on the machine that starts or submits the topology;
3. ``HealthTopology.config``: the Storm config built from 2 by ``HealthConfig.to_storm_conf()``
   as flat ``health.*`` keys;
4. command-line overrides of those keys, e.g. ``squall run ... -o health.producers.count=8`` or
   ``sparse run/submit -o health.producers.count=8`` (streamparse: CLI > topology > config.json).

Components never read config.yaml: under ``sparse submit`` only ``src/`` reaches the workers.
They rebuild the object from the Storm config they are given with
``HealthConfig.from_storm_conf(conf)``, which validates again, so a bad ``-o`` override fails
as clearly as a bad file.

One setting, two spellings. config.yaml nests snake_case keys by section, as a YAML file does.
The Storm config is flat and follows Storm's dotted style (``topology.max.spout.pending``):
config.yaml's ``<section>.<field>`` is ``health.<section>.<field>`` with each ``_`` of the field
written ``.`` and a trailing ``_s`` (seconds) written ``.secs`` (:func:`storm_key`)::

    config.yaml                       Storm config key (-o)
    producers.count                   health.producers.count
    producers.rate_per_producer_hz    health.producers.rate.per.producer.hz
    windows.window_s                  health.windows.window.secs
    kafka.bootstrap_servers           health.kafka.bootstrap.servers
    sinks.jsonl_path                  health.sinks.jsonl.path
    rules                             health.rules
    storm.max_spout_pending           topology.max.spout.pending      (Storm's own keys)
    storm.message_timeout_s           topology.message.timeout.secs
    ward.critical_share               health.ward.critical.share
    ward.routine_deadline_ms          squall.realtime.routine.default.deadline.ms   (see below)
    ward.scheduler                    squall.scheduler                              (see below)

The ``ward`` section describes topologies/health_ward.py: its two classes of readings and
what each class promises. Its deadline fields (``<class>_deadline_ms``, ``_criticality``,
``_mk``, ``_policies``) are the ``squall.realtime.<class>.default.*`` declarations of the ward's
spouts ``critical`` and ``routine`` (:mod:`squall.realtime.deadlines`), and ``scheduler`` is the
runner's ``squall.scheduler``: they travel only with ``to_storm_conf(ward=True)``, which the
ward topology alone uses (the runtime refuses a deadline on a stream a topology does not
declare), and ``from_storm_conf`` reads them back from those keys. Override them for a run as
those keys: ``-o squall.realtime.routine.default.mk=2,4``.

``HEALTH_SCHEMA`` declares every Storm key and is registered for the ``health.`` root, so the
embedded runner refuses ``-o health.producers.cuont=8`` before any tuple runs, naming
``health.producers.count``. The old flat spellings (``health.producers.rate_per_producer_hz``,
``health.storm.max_spout_pending``) are errors naming the new key.

Every error names the key as the user spelled it, the bad value and what is valid; unknown
keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from health_core.rules import Rule, RuleError, parse_rules
from squall.errors import ConfigError
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
from squall.settings import (
    Reader,
    Schema,
    Setting,
    boolean,
    choice,
    duration,
    integer,
    number,
    optional,
    register,
    text,
)

ENV_CONFIG_PATH = "SQUALL_HEALTH_CONFIG"
STORM_PREFIX = "health."
# StormSettings field -> the Storm config key it travels as.
STORM_KEYS: dict[str, str] = {
    "max_spout_pending": "topology.max.spout.pending",
    "message_timeout_s": "topology.message.timeout.secs",
}
# TrendBolt's allowed disorder plus a tick, for the hold-time estimate below.
TREND_HOLD_MARGIN_S = 2.0
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


class HealthConfigError(ConfigError):
    """config.yaml (or a ``health.*`` Storm config key) is invalid."""


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: tuple[str, ...] = ("localhost:9092",)
    readings_topic: str = "health.readings"
    alerts_topic: str = "health.alerts"
    invalid_topic: str = "health.invalid"
    trends_topic: str = "health.trends"
    group_id: str = "squall-health"


@dataclass(frozen=True, slots=True)
class ProducerSettings:
    """The synthetic spout: the course's N producers, simulated in-process."""

    count: int = 4
    rate_per_producer_hz: float = 5.0  # 0 = as fast as the spout is asked
    seed: int = 42
    malformed_fraction: float = 0.05
    self_describing_fraction: float = 0.5
    max_readings_per_producer: int | None = None  # None = unbounded
    max_replays: int = 3  # per tuple id, then it is reported as given up
    # The class of the readings (None: unclassed, as in health.py); the ward topology sets it
    # per spout (``health.producers.reading.class``), and the spout's component id must match.
    reading_class: str | None = None


@dataclass(frozen=True, slots=True)
class WindowSettings:
    window_s: float = 10.0
    slide_s: float = 2.0
    # TrendBolt's approximate mode (the ``imprecise`` overload policy): keep 1 alert in r per
    # rule; the error bound this gives is in ``health_core.trend`` (TrendSampler).
    approximate_every: int = 4


@dataclass(frozen=True, slots=True)
class Parallelism:
    parse: int = 2
    bmi: int = 1
    threshold: int = 1
    trend: int = 1
    sinks: int = 1


@dataclass(frozen=True, slots=True)
class SinkSettings:
    console: bool = True
    jsonl_path: str | None = None  # None = no file sink
    kafka: bool = False


@dataclass(frozen=True, slots=True)
class ParseSettings:
    max_payload_bytes: int = 64 * 1024
    invalid_preview_chars: int = 1024


@dataclass(frozen=True, slots=True)
class StormSettings:
    max_spout_pending: int = 1000
    message_timeout_s: int = 30


@dataclass(frozen=True, slots=True)
class WardSettings:
    """The ward topology: critical and routine readings, and what each class promises.

    The producers' load (``producers.count`` x ``producers.rate_per_producer_hz``) is split by
    class: ``critical_share`` of it comes from the critical spout's own producers, the rest
    from the routine spout's. Patients are ids ``[0, critical_patients)`` (critical) and the
    next ``routine_patients`` ids (routine): a patient belongs to one class. Defaults are
    issue 11's: critical hard, D = 50 ms; routine firm, D = 1 s, at most 3 of any 4 consecutive
    readings of a patient discarded in overload.
    """

    critical_share: float = 0.2
    critical_patients: int = 20
    routine_patients: int = 200
    scheduler: str | None = None  # None: the runner's default
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


DEFAULT_RULES: tuple[str, ...] = ("weight_kg > 80", "bmi > 35")
_DEFAULT_RULES = parse_rules(list(DEFAULT_RULES))


@dataclass(frozen=True, slots=True)
class HealthConfig:
    kafka: KafkaSettings = KafkaSettings()
    producers: ProducerSettings = ProducerSettings()
    rules: tuple[Rule, ...] = _DEFAULT_RULES
    windows: WindowSettings = WindowSettings()
    parallelism: Parallelism = Parallelism()
    sinks: SinkSettings = SinkSettings()
    parse: ParseSettings = ParseSettings()
    storm: StormSettings = StormSettings()
    ward: WardSettings = WardSettings()

    # -- building -------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, raw: object, source: str = "config") -> HealthConfig:
        """Validate a nested mapping (the parsed YAML); ``source`` (a file name) prefixes
        error messages."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise HealthConfigError(
                f"{source}: the top level must be a mapping of sections "
                f"({', '.join(_SECTIONS)}); got {type(raw).__name__}"
            )
        _no_unknown(raw, _SECTIONS, source, "top level")
        built: dict[str, Any] = {}
        for name, settings_cls in _SECTIONS.items():
            if name != "rules":
                built[name] = _build_section(name, settings_cls, raw.get(name), source)
        if "rules" in raw:
            built["rules"] = _read(_rules, raw["rules"], f"{source}: rules")
        config = cls(**built)
        _check_cross_field(config, source, yaml_key)
        return config

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> HealthConfig:
        """Read and validate a YAML file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise HealthConfigError(f"cannot read health config {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise HealthConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise HealthConfigError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_mapping(raw, source=str(path))

    @classmethod
    def from_storm_conf(cls, conf: Mapping[str, Any]) -> HealthConfig:
        """Rebuild from the ``health.*`` keys of a Storm config (what components receive).

        The Storm settings are read from Storm's own keys, so ``-o topology.max.spout.pending=N``
        counts here too; a key absent or null (Storm's defaults.yaml leaves max.spout.pending
        null) takes the default of this module.
        """
        values = HEALTH_SCHEMA.read(conf, where="Storm config:")
        # the runner's own key (it declares it): read here only to rebuild the ward section
        scheduler = storm_key("ward", "scheduler")
        values[scheduler] = _read(
            _READERS["ward"]["scheduler"], conf.get(scheduler), f"Storm config: {scheduler}"
        )
        built: dict[str, Any] = {
            name: settings_cls(
                **{f.name: values[storm_key(name, f.name)] for f in fields(settings_cls)}
            )
            for name, settings_cls in _SECTIONS.items()
            if name != "rules"
        }
        config = cls(rules=values[storm_key("rules")], **built)
        _check_cross_field(config, "Storm config", storm_key)
        return config

    # -- exporting ------------------------------------------------------------------------

    def to_mapping(self) -> dict[str, Any]:
        """The nested plain-data form (as config.yaml would spell it)."""
        out: dict[str, Any] = {}
        for name in _SECTIONS:
            value = getattr(self, name)
            if name == "rules":
                out[name] = [rule.name for rule in value]
            else:
                out[name] = {
                    f.name: list(v) if isinstance(v := getattr(value, f.name), tuple) else v
                    for f in fields(value)
                }
        return out

    def to_storm_conf(self, ward: bool = False) -> dict[str, Any]:
        """Flat, JSON-serialisable Storm config: ``health.*`` keys plus the Storm settings
        under Storm's own keys (see :func:`storm_key`).

        ``ward=True`` (the ward topology only) adds the ward's deadline declarations as
        ``squall.realtime.<class>.default.*`` keys and, when set, ``squall.scheduler``.
        """
        conf: dict[str, Any] = {}
        for name, value in self.to_mapping().items():
            if name == "rules":
                conf[storm_key("rules")] = value
                continue
            for field_name, item in value.items():
                # null settings are left out (their default is null): a null value in a
                # Storm config is not safe everywhere on the JVM side.
                if item is not None and not (name == "ward" and field_name in WARD_KEYS):
                    conf[storm_key(name, field_name)] = item
        if ward:
            conf.update(self.ward.deadlines().to_conf())
            if self.ward.scheduler is not None:
                conf[storm_key("ward", "scheduler")] = self.ward.scheduler
        return conf


_SECTIONS: dict[str, type] = {
    "kafka": KafkaSettings,
    "producers": ProducerSettings,
    "rules": tuple,
    "windows": WindowSettings,
    "parallelism": Parallelism,
    "sinks": SinkSettings,
    "parse": ParseSettings,
    "storm": StormSettings,
    "ward": WardSettings,
}


def storm_key(section: str, name: str = "") -> str:
    """The Storm config key of config.yaml's ``<section>.<name>``.

    ``("windows", "window_s")`` -> ``health.windows.window.secs``; ``("rules",)`` ->
    ``health.rules``; the ``storm`` section's settings are Storm's own keys, the ``ward``
    section's deadlines and scheduler squall's (:data:`WARD_KEYS`).
    """
    if section == "rules":
        return STORM_PREFIX + "rules"
    if section == "storm":
        return STORM_KEYS[name]
    if section == "ward" and name in WARD_KEYS:
        return WARD_KEYS[name]
    if name.endswith("_s"):
        name = name[: -len("_s")] + "_secs"
    return f"{STORM_PREFIX}{section}.{name.replace('_', '.')}"


def yaml_key(section: str, name: str = "") -> str:
    """How config.yaml spells a setting in a message: ``windows.window_s``, ``rules``."""
    return section if section == "rules" else f"{section}.{name}"


def default_config_path(project_file: str | os.PathLike[str] | None = None) -> Path:
    """``$SQUALL_HEALTH_CONFIG`` if set, else ``project_file``, else the project's config.yaml.

    Topology files pass their own project's ``config.yaml``, which stays right however the
    ``health`` package was installed.
    """
    env = os.environ.get(ENV_CONFIG_PATH)
    if env:
        return Path(env)
    if project_file is not None:
        return Path(project_file)
    # src/health_core/config.py -> project root (in a source checkout or an editable install).
    return Path(__file__).resolve().parents[2] / "config.yaml"


def load_config(project_file: str | os.PathLike[str] | None = None) -> HealthConfig:
    """Load ``default_config_path(project_file)`` (run where the topology is started or
    submitted, never in a worker)."""
    return HealthConfig.load(default_config_path(project_file))


# -- validation -------------------------------------------------------------------------


def _no_unknown(raw: Mapping[Any, Any], valid: Mapping[str, Any], source: str, where: str) -> None:
    unknown = [key for key in raw if key not in valid]
    if unknown:
        raise HealthConfigError(
            f"{source}: unknown key {unknown[0]!r} in {where}; valid keys are {', '.join(valid)}"
        )


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _read(reader: Reader, value: Any, where: str) -> Any:
    """``reader(value, where)``, its ConfigError raised as a HealthConfigError."""
    try:
        return reader(value, where)
    except ConfigError as exc:
        raise HealthConfigError(str(exc)) from None


def _servers(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise HealthConfigError(
            f"{where} must be a non-empty list of 'host:port' strings; got {value!r}"
        )
    out = []
    for index, item in enumerate(value):
        host, sep, port = item.rpartition(":") if isinstance(item, str) else ("", "", "")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise HealthConfigError(
                f"{where}[{index}] must be 'host:port' with a port in 1-65535; got {item!r}"
            )
        out.append(item)
    return tuple(out)


def _rules(value: Any, where: str) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise HealthConfigError(
            f"{where} must be a list of rule strings such as 'weight_kg > 80'; "
            f"got {_type_name(value)}"
        )
    try:
        return parse_rules(value)
    except RuleError as exc:
        # parse_rules names the rule "rules[i]"; name it under the key as the user spelled it
        raise HealthConfigError(f"{where}{str(exc).removeprefix('rules')}") from None


def _share(value: Any, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and 0 < value < 1)
    ):
        raise HealthConfigError(
            f"{where} must be a number in (0, 1), the share of the readings that are critical "
            f"(0 or 1 would leave a class without readings); got {value!r} ({_type_name(value)})"
        )
    return float(value)


def _realtime(name: str) -> Reader:
    """squall.realtime's own reader of a stream's field ``name``: the same checks and words."""
    return REALTIME_SCHEMA.settings[conf_key("<component>", "<stream>", name)].reader


def _policies(value: Any, where: str) -> tuple[str, ...]:
    # sorted, not filtered: an unknown policy is refused with the stream (_check_ward)
    policies: frozenset[str] = _realtime(POLICY_LIST)(value, where)
    return tuple(sorted(policies))


MAX_PATIENTS = 1_000_000

# section -> field -> reader: config.yaml and the Storm config are read with the same ones
_READERS: dict[str, dict[str, Reader]] = {
    "kafka": {
        "bootstrap_servers": _servers,
        "readings_topic": text,
        "alerts_topic": text,
        "invalid_topic": text,
        "trends_topic": text,
        "group_id": text,
    },
    "producers": {
        "count": integer(1, 1000),
        "rate_per_producer_hz": number(0),
        "seed": integer(0),
        "malformed_fraction": number(0, 1),
        "self_describing_fraction": number(0, 1),
        "max_readings_per_producer": optional(integer(0)),
        "max_replays": integer(0),
        "reading_class": optional(choice(*READING_CLASSES)),
    },
    "windows": {
        "window_s": duration(0, low_open=True),
        "slide_s": duration(0, low_open=True),
        "approximate_every": integer(1),
    },
    "parallelism": {
        name: integer(1, 64) for name in ("parse", "bmi", "threshold", "trend", "sinks")
    },
    "sinks": {
        "console": boolean,
        "jsonl_path": optional(text),
        "kafka": boolean,
    },
    "parse": {
        "max_payload_bytes": integer(16),
        "invalid_preview_chars": integer(16),
    },
    "storm": {
        "max_spout_pending": integer(1),
        "message_timeout_s": integer(1),
    },
    "ward": {
        "critical_share": _share,
        "critical_patients": integer(1, MAX_PATIENTS),
        "routine_patients": integer(1, MAX_PATIENTS),
        "scheduler": optional(choice(*SCHEDULERS)),
        **{
            f"{cls}_{name}": reader
            for cls in READING_CLASSES
            for name, reader in (
                ("deadline_ms", _realtime(DEADLINE_MS)),
                ("criticality", _realtime(CRITICALITY)),
                ("mk", optional(_realtime(MK))),
                ("policies", _policies),
            )
        },
    },
}

# the runner declares squall.scheduler: declared here too, the runner would accept it unread
_RUNNER_OWNED = {("ward", "scheduler")}
_FIELDS = [
    (section, f)
    for section, settings_cls in _SECTIONS.items()
    if section != "rules"
    for f in fields(settings_cls)
    if (section, f.name) not in _RUNNER_OWNED
]

HEALTH_SCHEMA = register(
    Schema(
        "the health topology",
        STORM_PREFIX,
        [
            Setting(storm_key("rules"), _rules, _DEFAULT_RULES, "rules that raise an alert"),
            *(
                Setting(
                    storm_key(section, f.name),
                    _READERS[section][f.name],
                    f.default,
                    f"config.yaml {yaml_key(section, f.name)}",
                )
                for section, f in _FIELDS
            ),
        ],
        # the flat keys before they followed Storm's style: health.<section>.<field> verbatim
        renamed={
            old: new
            for section, f in _FIELDS
            if (old := f"{STORM_PREFIX}{section}.{f.name}") != (new := storm_key(section, f.name))
        },
        error=HealthConfigError,
    ),
    root=STORM_PREFIX,
)


def _build_section(section: str, settings_cls: type, raw: Any, source: str) -> Any:
    readers = _READERS[section]
    if raw is None:
        return settings_cls()
    if not isinstance(raw, Mapping):
        raise HealthConfigError(
            f"{source}: {section} must be a mapping with keys {', '.join(readers)}; "
            f"got {_type_name(raw)}"
        )
    _no_unknown(raw, readers, source, f"section {section!r}")
    values = {
        key: _read(readers[key], value, f"{source}: {yaml_key(section, key)}")
        for key, value in raw.items()
    }
    return settings_cls(**values)


def _check_cross_field(config: HealthConfig, source: str, key: Callable[[str, str], str]) -> None:
    """Checks across settings; ``key(section, field)`` names a setting as ``source`` spells it."""
    windows, producers, storm = config.windows, config.producers, config.storm
    if windows.slide_s > windows.window_s:
        raise HealthConfigError(
            f"{source}: {key('windows', 'slide_s')} ({windows.slide_s}) must not exceed "
            f"{key('windows', 'window_s')} ({windows.window_s}); a slide longer than the window "
            f"skips data"
        )
    # A reading that raises an alert stays un-acked while its alert sits in TrendBolt's
    # windows (window + slide + lag). If the synthetic spout produces more readings in that
    # time than max.spout.pending lets out, it stalls until the held ones time out.
    if producers.rate_per_producer_hz > 0:
        hold_s = windows.window_s + windows.slide_s + TREND_HOLD_MARGIN_S
        held = math.ceil(producers.count * producers.rate_per_producer_hz * hold_s)
        if held > storm.max_spout_pending:
            pending = key("storm", "max_spout_pending")
            raise HealthConfigError(
                f"{source}: {key('producers', 'count')} ({producers.count}) x "
                f"{key('producers', 'rate_per_producer_hz')} ({producers.rate_per_producer_hz}) x "
                f"{hold_s:g} s (window + slide + {TREND_HOLD_MARGIN_S:g} s) = {held} readings can be "
                f"waiting on trend windows, more than {pending} = {storm.max_spout_pending}: "
                f"the spout would stall. Raise {pending} to at least {held} or lower the rate"
            )
    _check_ward(config.ward, source, key)


def _check_ward(ward: WardSettings, source: str, key: Callable[[str, str], str]) -> None:
    """Each class's declaration as a whole (firm needs (m,k), hard is never discarded, ...)."""
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

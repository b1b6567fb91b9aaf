"""The health topology's settings: config.yaml -> one frozen, validated ``HealthConfig``.

Precedence, lowest to highest:

1. the defaults written in this module (each dataclass field);
2. the file named by ``$SQUALL_HEALTH_CONFIG``, else ``config.yaml`` at the project root,
   read once by the topology file on the machine that starts or submits the topology;
3. ``HealthTopology.config``: the Storm config built from 2 by ``HealthConfig.to_storm_conf()``
   as flat ``health.*`` keys;
4. command-line overrides of those keys, e.g. ``squall run ... -o health.producers.count=8`` or
   ``sparse run/submit -o health.producers.count=8`` (streamparse: CLI > topology > config.json).
   Not the ``parallelism`` section: it shapes the topology when its file is read (``par=``),
   so ``squall run`` refuses an override of it (``Setting.fixed_by``).

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

The ``ward`` section (:mod:`health_core.ward`) describes topologies/health_ward.py. Its
deadline fields and ``scheduler`` are squall's own ``squall.realtime.<class>.default.*`` and
``squall.scheduler`` keys, which travel only with ``to_storm_conf(ward=True)``.

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

# ``X as X`` re-exports: importable from here, as before the ward and the readers moved out
from health_core.config_readers import HealthConfigError as HealthConfigError
from health_core.config_readers import no_unknown, read_rules, read_servers, read_value, type_name
from health_core.rules import Rule, parse_rules
from health_core.ward import READING_CLASSES as READING_CLASSES
from health_core.ward import WARD_KEYS, WARD_READERS, check_ward, read_scheduler
from health_core.ward import WardSettings as WardSettings
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


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: tuple[str, ...] = ("localhost:9092",)
    readings_topic: str = "health.readings"
    # the ward's critical readings (topologies/health_ward_kafka.py): a topic of their own
    critical_readings_topic: str = "health.readings.critical"
    alerts_topic: str = "health.alerts"
    invalid_topic: str = "health.invalid"
    trends_topic: str = "health.trends"
    group_id: str = "squall-health"
    # The trend windows' checkpoints (a compacted topic, made so if missing), which make them
    # survive a crash (docs/windows.md, "Trend windows across a crash"); None: not checkpointed
    trends_changelog_topic: str | None = None
    # How often (at most) a trend task writes its checkpoint, on its next tick after this long
    trends_checkpoint_interval_s: float = 1.0
    # How long Kafka keeps each topic's records (retention.ms), set on the topics by
    # `squall kafka start --retention-from config.yaml` (squall.kafka.retention): health data
    # no longer than it is needed
    readings_retention_hours: int = 168
    critical_readings_retention_hours: int = 168
    alerts_retention_hours: int = 720
    invalid_retention_hours: int = 168
    trends_retention_hours: int = 720


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
    parse: int = 1
    bmi: int = 1
    threshold: int = 1
    trend: int = 1
    sinks: int = 1


@dataclass(frozen=True, slots=True)
class SinkSettings:
    console: bool = True
    # The console shows reading ids, rules and reasons; True: the readings' values and the
    # invalid payloads too (health data: logs and terminals are seen by more people)
    console_payloads: bool = False
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
        no_unknown(raw, _SECTIONS, source, "top level")
        built: dict[str, Any] = {}
        for name, settings_cls in _SECTIONS.items():
            if name != "rules":
                built[name] = _build_section(name, settings_cls, raw.get(name), source)
        if "rules" in raw:
            built["rules"] = read_value(read_rules, raw["rules"], f"{source}: rules")
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
        values[storm_key("ward", "scheduler")] = read_scheduler(conf, where="Storm config:")
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
        ``squall.realtime.<class>.default.*`` keys and its ``squall.scheduler``
        (:meth:`WardSettings.to_storm_conf`). Without it those ward settings are left out, and
        ``from_storm_conf`` gives them their defaults.
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
            conf.update(self.ward.to_storm_conf())
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


# section -> field -> reader: config.yaml and the Storm config are read with the same ones
_READERS: dict[str, dict[str, Reader]] = {
    "kafka": {
        "bootstrap_servers": read_servers,
        "readings_topic": text,
        "critical_readings_topic": text,
        "alerts_topic": text,
        "invalid_topic": text,
        "trends_topic": text,
        "group_id": text,
        "trends_changelog_topic": optional(text),
        "trends_checkpoint_interval_s": duration(0),
        "readings_retention_hours": integer(1, 87600),
        "critical_readings_retention_hours": integer(1, 87600),
        "alerts_retention_hours": integer(1, 87600),
        "invalid_retention_hours": integer(1, 87600),
        "trends_retention_hours": integer(1, 87600),
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
        "console_payloads": boolean,
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
    "ward": WARD_READERS,
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
            Setting(storm_key("rules"), read_rules, _DEFAULT_RULES, "rules that raise an alert"),
            *(
                Setting(
                    storm_key(section, f.name),
                    _READERS[section][f.name],
                    f.default,
                    f"config.yaml {yaml_key(section, f.name)}",
                    # the topology files read it when they define their specs (par=)
                    fixed_by=(
                        f"{yaml_key(section, f.name)} in config.yaml, or in the file "
                        f"${ENV_CONFIG_PATH} names"
                        if section == "parallelism"
                        else ""
                    ),
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
            f"got {type_name(raw)}"
        )
    no_unknown(raw, readers, source, f"section {section!r}")
    values = {
        key: read_value(readers[key], value, f"{source}: {yaml_key(section, key)}")
        for key, value in raw.items()
    }
    return settings_cls(**values)


def check_readings_held(config: HealthConfig, source: str = "Storm config") -> None:
    """Refuse a rate at which readings held by anchored trend windows would stall the spout.

    A reading that raises an alert stays un-acked while its alert sits in TrendBolt's windows
    (window + slide + lag): if the synthetic spout produces more readings in that time than
    max.spout.pending lets out, it stalls until the held ones time out. Only TrendBolt (which
    anchors its results to the window's alerts) holds readings, so it calls this when it
    starts; PaneTrendBolt, behind an unanchored feed, holds none (the ward, Kafka).
    """
    key = storm_key if source == "Storm config" else yaml_key
    windows, producers, storm = config.windows, config.producers, config.storm
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


def _check_cross_field(config: HealthConfig, source: str, key: Callable[[str, str], str]) -> None:
    """Checks across settings; ``key(section, field)`` names a setting as ``source`` spells it."""
    windows = config.windows
    if windows.slide_s > windows.window_s:
        raise HealthConfigError(
            f"{source}: {key('windows', 'slide_s')} ({windows.slide_s}) must not exceed "
            f"{key('windows', 'window_s')} ({windows.window_s}); a slide longer than the window "
            f"skips data"
        )
    check_ward(config.ward, source, key)

"""The health topology's settings: config.yaml -> one frozen, validated ``HealthConfig``.

Precedence, lowest to highest:

1. the defaults written in this module (each dataclass field);
2. the file named by ``$SQUALL_HEALTH_CONFIG``, else ``config.yaml`` at the project root,
   read once by the topology file on the machine that starts or submits the topology;
3. ``HealthTopology.config``: the Storm config built from 2 by ``HealthConfig.to_storm_conf()``
   as flat ``health.<section>.<key>`` keys;
4. command-line overrides of those keys, e.g. ``squall run ... -o health.producers.count=8`` or
   ``sparse run/submit -o health.producers.count=8`` (streamparse: CLI > topology > config.json).

Components never read config.yaml: under ``sparse submit`` only ``src/`` reaches the workers.
They rebuild the object from the Storm config they are given with
``HealthConfig.from_storm_conf(conf)``, which validates again, so a bad ``-o`` override fails
as clearly as a bad file.

Every error names the key, the bad value and what is valid; unknown keys are errors (a typo
must not silently fall back to a default).
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

ENV_CONFIG_PATH = "SQUALL_HEALTH_CONFIG"
STORM_PREFIX = "health."
# StormSettings field -> the Storm config key it becomes.
STORM_KEYS: dict[str, str] = {
    "max_spout_pending": "topology.max.spout.pending",
    "message_timeout_s": "topology.message.timeout.secs",
}
# TrendBolt's allowed disorder plus a tick, for the hold-time estimate below.
TREND_HOLD_MARGIN_S = 2.0


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


@dataclass(frozen=True, slots=True)
class WindowSettings:
    window_s: float = 10.0
    slide_s: float = 2.0


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


DEFAULT_RULES: tuple[str, ...] = ("weight_kg > 80", "bmi > 35")


@dataclass(frozen=True, slots=True)
class HealthConfig:
    kafka: KafkaSettings = KafkaSettings()
    producers: ProducerSettings = ProducerSettings()
    rules: tuple[Rule, ...] = parse_rules(list(DEFAULT_RULES))
    windows: WindowSettings = WindowSettings()
    parallelism: Parallelism = Parallelism()
    sinks: SinkSettings = SinkSettings()
    parse: ParseSettings = ParseSettings()
    storm: StormSettings = StormSettings()

    # -- building -------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, raw: object, source: str = "config", key_prefix: str = "") -> HealthConfig:
        """Validate a nested mapping (the parsed YAML).

        ``source`` (a file name) prefixes error messages and ``key_prefix`` the key names in
        them, so an error names the key as the user spelled it.
        """
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
            if name == "rules":
                continue
            where = f"{source}: {key_prefix}{name}"
            built[name] = _build_section(settings_cls, raw.get(name), where)
        if "rules" in raw:
            built["rules"] = _build_rules(raw["rules"], source, key_prefix)
        config = cls(**built)
        _check_cross_field(config, source, key_prefix)
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
        """Rebuild from the ``health.*`` keys of a Storm config (what components receive)."""
        nested: dict[str, Any] = {}
        for key, value in conf.items():
            if not isinstance(key, str) or not key.startswith(STORM_PREFIX):
                continue
            path = key[len(STORM_PREFIX) :].split(".")
            if len(path) == 1 and path[0] == "rules":
                nested["rules"] = value
            elif len(path) == 2:
                nested.setdefault(path[0], {})
                if not isinstance(nested[path[0]], dict):
                    raise HealthConfigError(f"Storm config: {key!r} clashes with another key")
                nested[path[0]][path[1]] = value
            else:
                raise HealthConfigError(
                    f"Storm config: unknown key {key!r}; health keys are 'health.rules' and "
                    f"'health.<section>.<setting>' with section one of {', '.join(_SECTIONS)}"
                )
        # The Storm settings travel as Storm's own keys, so `-o topology.max.spout.pending=N`
        # is seen here too; Storm's defaults.yaml leaves max.spout.pending null.
        storm = {
            name: conf[key]
            for name, key in STORM_KEYS.items()
            if conf.get(key) is not None
        }
        if storm:
            nested["storm"] = {**storm, **nested.get("storm", {})}
        return cls.from_mapping(nested, source="Storm config", key_prefix=STORM_PREFIX)

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

    def to_storm_conf(self) -> dict[str, Any]:
        """Flat, JSON-serialisable Storm config: ``health.*`` keys plus the Storm settings."""
        conf: dict[str, Any] = {}
        for name, value in self.to_mapping().items():
            if name == "storm":
                continue  # as Storm's own keys, below
            if name == "rules":
                conf[STORM_PREFIX + "rules"] = value
            else:
                for key, item in value.items():
                    # null settings are left out (their default is null): a null value in a
                    # Storm config is not safe everywhere on the JVM side.
                    if item is not None:
                        conf[f"{STORM_PREFIX}{name}.{key}"] = item
        for name, key in STORM_KEYS.items():
            conf[key] = getattr(self.storm, name)
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
}


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


# -- validation helpers -----------------------------------------------------------------

Check = Callable[[Any, str], Any]


def _no_unknown(raw: Mapping[Any, Any], valid: Mapping[str, Any], source: str, where: str) -> None:
    unknown = [key for key in raw if key not in valid]
    if unknown:
        raise HealthConfigError(
            f"{source}: unknown key {unknown[0]!r} in {where}; valid keys are {', '.join(valid)}"
        )


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _int(low: int, high: int | None = None) -> Check:
    def check(value: Any, where: str) -> int:
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        if isinstance(value, bool) or not isinstance(value, int):
            raise HealthConfigError(
                f"{where} must be an integer {bound}; got {value!r} ({_type_name(value)})"
            )
        if value < low or (high is not None and value > high):
            raise HealthConfigError(f"{where} must be an integer {bound}; got {value}")
        return value

    return check


def _float(low: float, high: float | None = None, low_open: bool = False) -> Check:
    def check(value: Any, where: str) -> float:
        left = "(" if low_open else "["
        bound = f"in {left}{low}, {'inf)' if high is None else f'{high}]'}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HealthConfigError(
                f"{where} must be a number {bound}; got {value!r} ({_type_name(value)})"
            )
        if (
            not math.isfinite(value)
            or value < low
            or (low_open and value == low)
            or (high is not None and value > high)
        ):
            raise HealthConfigError(f"{where} must be a number {bound}; got {value!r}")
        return float(value)

    return check


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise HealthConfigError(
            f"{where} must be true or false; got {value!r} ({_type_name(value)})"
        )
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HealthConfigError(
            f"{where} must be a non-empty string; got {value!r} ({_type_name(value)})"
        )
    return value


def _optional(check: Check) -> Check:
    def optional(value: Any, where: str) -> Any:
        return None if value is None else check(value, where)

    return optional


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


_CHECKS: dict[type, dict[str, Check]] = {
    KafkaSettings: {
        "bootstrap_servers": _servers,
        "readings_topic": _text,
        "alerts_topic": _text,
        "invalid_topic": _text,
        "trends_topic": _text,
        "group_id": _text,
    },
    ProducerSettings: {
        "count": _int(1, 1000),
        "rate_per_producer_hz": _float(0.0),
        "seed": _int(0),
        "malformed_fraction": _float(0.0, 1.0),
        "self_describing_fraction": _float(0.0, 1.0),
        "max_readings_per_producer": _optional(_int(0)),
        "max_replays": _int(0),
    },
    WindowSettings: {
        "window_s": _float(0.0, low_open=True),
        "slide_s": _float(0.0, low_open=True),
    },
    Parallelism: {name: _int(1, 64) for name in ("parse", "bmi", "threshold", "trend", "sinks")},
    SinkSettings: {
        "console": _bool,
        "jsonl_path": _optional(_text),
        "kafka": _bool,
    },
    ParseSettings: {
        "max_payload_bytes": _int(16),
        "invalid_preview_chars": _int(16),
    },
    StormSettings: {
        "max_spout_pending": _int(1),
        "message_timeout_s": _int(1),
    },
}


def _build_section(settings_cls: type, raw: Any, where: str) -> Any:
    checks = _CHECKS[settings_cls]
    if raw is None:
        return settings_cls()
    if not isinstance(raw, Mapping):
        raise HealthConfigError(
            f"{where} must be a mapping with keys {', '.join(checks)}; got {_type_name(raw)}"
        )
    _no_unknown(raw, checks, where.split(": ")[0], f"section {where.split(': ', 1)[1]!r}")
    values = {key: checks[key](value, f"{where}.{key}") for key, value in raw.items()}
    return settings_cls(**values)


def _build_rules(raw: Any, source: str, key_prefix: str) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        raise HealthConfigError(
            f"{source}: {key_prefix}rules must be a list of rule strings such as 'weight_kg > 80'; "
            f"got {_type_name(raw)}"
        )
    try:
        return parse_rules(raw)
    except RuleError as exc:
        raise HealthConfigError(f"{source}: {key_prefix}{exc}") from None


def _check_cross_field(config: HealthConfig, source: str, key_prefix: str = "") -> None:
    windows, producers, storm = config.windows, config.producers, config.storm
    if windows.slide_s > windows.window_s:
        raise HealthConfigError(
            f"{source}: {key_prefix}windows.slide_s ({windows.slide_s}) must not exceed "
            f"{key_prefix}windows.window_s ({windows.window_s}); a slide longer than the window "
            f"skips data"
        )
    # A reading that raises an alert stays un-acked while its alert sits in TrendBolt's
    # windows (window + slide + lag). If the synthetic spout produces more readings in that
    # time than max.spout.pending lets out, it stalls until the held ones time out.
    if producers.rate_per_producer_hz > 0:
        hold_s = windows.window_s + windows.slide_s + TREND_HOLD_MARGIN_S
        held = math.ceil(producers.count * producers.rate_per_producer_hz * hold_s)
        if held > storm.max_spout_pending:
            raise HealthConfigError(
                f"{source}: {key_prefix}producers.count ({producers.count}) x "
                f"{key_prefix}producers.rate_per_producer_hz ({producers.rate_per_producer_hz}) x "
                f"{hold_s:g} s (window + slide + {TREND_HOLD_MARGIN_S:g} s) = {held} readings can be "
                f"waiting on trend windows, more than storm.max_spout_pending "
                f"(topology.max.spout.pending) = {storm.max_spout_pending}: the spout would stall. "
                f"Raise max_spout_pending to at least {held} or lower the rate"
            )

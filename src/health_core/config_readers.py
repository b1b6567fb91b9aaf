"""Readers of the health config's values, shared by config.yaml and the Storm config.

``health_core.config`` reads each setting with one of these (or one of ``squall.settings``'),
whichever of the two spellings it came in, so both fail alike. Every error is a
``HealthConfigError`` naming the key as the user spelled it, the bad value and what is valid.
This module imports nothing else of the config, so ``health_core.ward`` and
``health_core.config`` can both build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from health_core.rules import Rule, RuleError, parse_rules
from squall.errors import ConfigError
from squall.settings import Reader


class HealthConfigError(ConfigError):
    """config.yaml (or a ``health.*`` Storm config key) is invalid."""


def no_unknown(raw: Mapping[Any, Any], valid: Mapping[str, Any], source: str, where: str) -> None:
    """Refuse the first key of ``raw`` that ``valid`` does not have, listing the valid ones."""
    unknown = [key for key in raw if key not in valid]
    if unknown:
        raise HealthConfigError(
            f"{source}: unknown key {unknown[0]!r} in {where}; valid keys are {', '.join(valid)}"
        )


def type_name(value: Any) -> str:
    """A value's type as YAML would call it: ``null`` for None."""
    return "null" if value is None else type(value).__name__


def read_value(reader: Reader, value: Any, where: str) -> Any:
    """``reader(value, where)``, its ConfigError raised as a HealthConfigError."""
    try:
        return reader(value, where)
    except ConfigError as exc:
        raise HealthConfigError(str(exc)) from None


def read_servers(value: Any, where: str) -> tuple[str, ...]:
    """Kafka's bootstrap servers: a non-empty list of ``'host:port'`` strings, or one string
    of them separated by commas (Kafka's own ``bootstrap.servers`` form, as ``-o`` gives it)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not value:
        raise HealthConfigError(
            f"{where} must be a non-empty list of 'host:port' strings; got {value!r}"
        )
    out = []
    for index, item in enumerate(value):
        host, sep, port = item.rpartition(":") if isinstance(item, str) else ("", "", "")
        if not (sep and host and "," not in host and port.isdigit() and 0 < int(port) < 65536):
            raise HealthConfigError(
                f"{where}[{index}] must be 'host:port' with a port in 1-65535; got {item!r}"
            )
        out.append(item)
    return tuple(out)


def read_rules(value: Any, where: str) -> tuple[Rule, ...]:
    """A list of rule strings such as ``'weight_kg > 80'``, parsed."""
    if not isinstance(value, list):
        raise HealthConfigError(
            f"{where} must be a list of rule strings such as 'weight_kg > 80'; "
            f"got {type_name(value)}"
        )
    try:
        return parse_rules(value)
    except RuleError as exc:
        # parse_rules names the rule "rules[i]"; name it under the key as the user spelled it
        raise HealthConfigError(f"{where}{str(exc).removeprefix('rules')}") from None

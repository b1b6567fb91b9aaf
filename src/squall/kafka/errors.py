"""Errors of the Kafka area (subclasses of the one squall base exception)."""

from squall.errors import ConfigError, ServiceError


class KafkaRuntimeError(ServiceError):
    """The broker cannot be provisioned, started, reached or stopped."""


class KafkaConfigError(ConfigError):
    """A Kafka setting of a spout, sink or producer is missing or invalid."""

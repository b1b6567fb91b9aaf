"""Errors of the Kafka area (subclasses of the one squall base exception)."""

from squall.errors import SquallError


class KafkaRuntimeError(SquallError):
    """The broker cannot be provisioned, started, reached or stopped."""


class KafkaConfigError(SquallError):
    """A Kafka setting of a spout, sink or producer is missing or invalid."""

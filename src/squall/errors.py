"""One base exception; each area raises its own subclass."""


class SquallError(Exception):
    """Base class of every error squall raises on purpose."""


class TopologyError(SquallError):
    """A topology cannot be loaded or wired (bad file, class, stream or grouping)."""


class ConfigError(SquallError):
    """A setting is missing, of the wrong type, or out of range."""


class ServiceError(SquallError):
    """A local service cannot be found, reached or started: the project checkout, Java, a port.

    The Kafka and Storm runtimes raise their own subclasses (``KafkaRuntimeError``,
    ``StormRuntimeError``); ``squall.services`` raises this one.
    """

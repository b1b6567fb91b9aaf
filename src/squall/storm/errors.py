"""Errors of the Storm area."""

from squall.errors import ServiceError


class StormRuntimeError(ServiceError):
    """The Storm runtime is missing, cannot be provisioned, or a daemon misbehaves."""

"""Errors of the Storm area."""

from squall.errors import SquallError


class StormRuntimeError(SquallError):
    """The Storm runtime is missing, cannot be provisioned, or a daemon misbehaves."""

"""Log records as one line each, so a library's trouble never reaches the user as a traceback.

kafka-python 3 logs some of its own failures with ``log.exception`` — e.g. its network thread
reading a socket another thread closed while a consumer shuts down ("Error receiving network
data closing socket" followed by ``AttributeError: 'NoneType' object has no attribute 'recv'``).
The client recovers, but the default formatter prints the whole traceback on stderr. Here the
exception becomes the end of the same line: its type and message, which is what a user can act
on. Set ``SQUALL_LOG_TRACEBACKS=1`` to get full tracebacks back when debugging.
"""

from __future__ import annotations

import logging
import os
from typing import Any

LINE_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class OneLineFormatter(logging.Formatter):
    """A formatter that renders a record's exception as ``(Type: message)`` on its line."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        if os.environ.get("SQUALL_LOG_TRACEBACKS") == "1":
            return super().formatException(ei)
        return f"({describe(ei[1])})"

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if os.environ.get("SQUALL_LOG_TRACEBACKS") == "1":
            return text
        # the exception goes on the same line; a stack (stack_info) is left out likewise
        return " ".join(part.strip() for part in text.splitlines() if part.strip())


def describe(exc: object) -> str:
    """``Type: message`` of an exception, or its type alone when it has no message."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def log_one_line_per_record(level: int = logging.INFO) -> None:
    """``logging.basicConfig(level=level)`` with one line per record: like it, nothing is
    added when the root logger already has a handler (an embedding application's, pytest's)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(LINE_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)

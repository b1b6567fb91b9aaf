"""Waiting for a broker that is not there yet (or any more), for the spout and the sink.

Under Storm a component that raises in ``initialize`` takes its worker down; the Supervisor
starts it again, it raises again: a crash loop whose only trace is ``NoOutputException: Pipe
to subprocess seems to be broken`` in ``sparse stats``. Instead a Kafka component that cannot
reach its broker says so once, in one line naming the address, and tries again after 1, 2, 4
... up to 30 s, each attempt bounded by ``BOOTSTRAP_TIMEOUT_MS`` (kafka-python's own default
blocks the worker for 30 s per attempt).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

# how long one attempt to reach the broker may block the component (kafka-python: 30 s)
BOOTSTRAP_TIMEOUT_MS = 2_000
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0


class Reconnect:
    """When to try again, and what to log: one warning per outage, one line when it ends."""

    def __init__(
        self,
        what: str,
        servers: Sequence[str],
        logger: Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.servers, self.logger, self.clock = what, list(servers), logger, clock
        self.failures = 0
        self.next_at = 0.0
        self._wait_s = FIRST_RETRY_S

    def due(self) -> bool:
        return self.clock() >= self.next_at

    def failed(self, reason: object) -> None:
        self.failures += 1
        if self.failures == 1:
            self.logger.warning(
                "%s cannot reach Kafka at %s (%s); retrying every %.0f s at most until it "
                "answers -- is the broker running there?",
                self.what,
                ",".join(self.servers),
                reason,
                MAX_RETRY_S,
            )
        self.next_at = self.clock() + self._wait_s
        self._wait_s = min(MAX_RETRY_S, self._wait_s * 2)

    def succeeded(self) -> None:
        if self.failures:
            self.logger.warning(
                "%s reached Kafka at %s after %d failed attempt(s)",
                self.what,
                ",".join(self.servers),
                self.failures,
            )
        self.failures, self._wait_s = 0, FIRST_RETRY_S

"""A bolt that writes its input tuples to a Kafka topic and acks each only once the broker has it.

``process`` sends and returns; the tuple is acked when its send future completes (checked on
every later ``process`` and on every tick, so wire the sink with
``config={"topology.tick.tuple.freq.secs": 1}``). A send the broker rejects, or that times out,
*fails* the tuple, so the spout replays it: at-least-once into the topic. When more than
``squall.kafka.sink.max.pending`` sends are unresolved the bolt waits for the broker (bounded by
``squall.kafka.sink.flush.timeout.secs``) before taking more: back-pressure instead of unbounded
memory. Both keys are declared in ``squall.kafka.settings``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from streamparse import Bolt

from squall.kafka.clients import new_producer
from squall.kafka.errors import KafkaConfigError
from squall.kafka.reconnect import BOOTSTRAP_TIMEOUT_MS
from squall.kafka.security import ClientSecurity, KafkaRefused, SecureReconnect, refusal
from squall.kafka.settings import (
    SINK_FLUSH_TIMEOUT,
    SINK_MAX_PENDING,
    SINK_SCHEMA,
    kafka_client,
)


def name_values(values: Sequence[Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """A tuple's values as a dict by its stream's fields (``value0``... when unknown)."""
    if fields is not None and len(fields) == len(values):
        return dict(zip(fields, values, strict=True))
    return {f"value{i}": value for i, value in enumerate(values)}


class KafkaSinkBolt(Bolt):
    """Base: subclasses give the topic, the bootstrap servers and (optionally) the record form."""

    outputs: list[Any] = []
    auto_ack = False  # acked when the broker acknowledges the write, not when process returns

    def sink_topic(self, conf: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def bootstrap_servers(self, conf: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def to_record(self, tup: Any, record: dict[str, Any]) -> tuple[bytes | None, bytes]:
        """(key, value) of the Kafka record for a tuple; default: no key, the record as JSON."""
        return None, json.dumps(record, separators=(",", ":"), default=str).encode()

    # ----------------------------------------------------------------------------------------

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self.conf = storm_conf
        self.topic = self.sink_topic(storm_conf)
        settings = SINK_SCHEMA.read(storm_conf)
        self.max_pending: int = settings[SINK_MAX_PENDING]
        self.flush_timeout_s: float = settings[SINK_FLUSH_TIMEOUT]
        self.client = kafka_client(storm_conf)  # squall.kafka.client: the library underneath
        self.fields_by_source: dict[str, dict[str, list[str]]] = (
            context.get("source->stream->fields") or {} if isinstance(context, dict) else {}
        )
        self.pending: deque[tuple[Any, Any]] = deque()  # (tuple, send future), in send order
        self.written = 0
        self.write_failures = 0
        self.producer: Any = None  # None until the broker answers (squall.kafka.reconnect)
        servers = self.bootstrap_servers(storm_conf)
        # squall.kafka.security.*: TLS and SCRAM when set; a refusal is logged, then retried
        self.security = ClientSecurity.from_conf(storm_conf)
        self.reconnect = SecureReconnect(
            f"sink {type(self).__name__}", servers, self.logger, self.security
        )
        self._connect()

    def _connect(self) -> bool:
        """Make the producer; False (logged, retried later with backoff) while the broker does
        not answer. A missing topic raises: configuration, not a wait."""
        from kafka.errors import KafkaError

        try:
            # the password is read now, on this host, and again at each reconnect
            security_kwargs = self.security.kafka_kwargs()
            self.reconnect.check()  # a refusal named before kafka-python clients retry it
        except (KafkaConfigError, KafkaRefused) as exc:  # e.g. no password file (yet) here
            self.reconnect.failed(exc)
            return False
        try:
            # confluent: each send and each future's is_done polls the producer, so the
            # delivery reports that ack the tuples run in this loop (squall.kafka.clients)
            self.producer = new_producer(
                self.client,
                bootstrap_servers=self.bootstrap_servers(self.conf),
                acks="all",
                linger_ms=5,
                batch_size=64 * 1024,
                client_id=f"squall-sink-{self.topic}",
                max_block_ms=15_000,  # bounds the start-up topic check when the broker is away
                bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                **security_kwargs,
            )
        except KafkaError as exc:
            self.reconnect.failed(exc)
            return False
        try:
            self._check_topic()
        except KafkaRefused as exc:
            self.producer = None
            self.reconnect.failed(exc)
            return False
        self.reconnect.succeeded()
        return True

    def _check_topic(self) -> None:
        """Fail at start, naming the topic, rather than block every send on a missing one.

        (kafka-python waits ``max_block_ms`` for metadata on each send to an unknown topic,
        which would freeze the whole worker; the project's broker never auto-creates topics.)
        """
        from kafka.errors import KafkaError

        try:
            partitions = self.producer.partitions_for(self.topic)
        except KafkaError as exc:
            partitions = None
            detail = f" ({type(exc).__name__})"
            servers = ",".join(self.bootstrap_servers(self.conf))
            line = refusal(exc, self.security, servers) if self.security.secured else None
            if line is not None:  # no ACL for the topic: logged and retried, not a crash
                self.producer.close(timeout=1)
                raise KafkaRefused(f"topic {self.topic!r}: {line}") from None
        else:
            detail = ""
        if not partitions:
            self.producer.close(timeout=1)
            raise KafkaConfigError(
                f"sink {type(self).__name__}: topic {self.topic!r} does not exist on "
                f"{self.bootstrap_servers(self.conf)}{detail}; create it first, e.g. "
                f"`squall kafka start --topics {self.topic}`"
            )

    def record(self, tup: Any) -> dict[str, Any]:
        values = list(tup.values)
        fields = self.fields_by_source.get(tup.component, {}).get(tup.stream)
        if fields is None and hasattr(tup.values, "_fields"):
            fields = list(tup.values._fields)
        return name_values(values, fields)

    def process(self, tup: Any) -> None:
        if self.producer is None and not (self.reconnect.due() and self._connect()):
            self.fail(tup)  # not written: its tree replays from the spout once Kafka answers
            return
        key, value = self.to_record(tup, self.record(tup))
        self.pending.append((tup, self.producer.send(self.topic, value=value, key=key)))
        self._resolve(scan_all=False)
        if len(self.pending) >= self.max_pending:
            self.producer.flush(timeout=self.flush_timeout_s)
            self._resolve(scan_all=True)

    def process_tick(self, tup: Any) -> None:
        if self.producer is not None:
            self._resolve(scan_all=True)

    def squall_poll(self) -> bool:
        """Called by the embedded runner once per turn of its loop: ack the writes the broker
        has answered since, without waiting for the next tuple or tick (an alert is done when
        the broker has it: its deadline should not wait a second for a tick). Storm has no such
        call; there the ticks do it. True if a tuple was settled."""
        if self.producer is None:
            return False
        before = len(self.pending)
        self._resolve(scan_all=False)
        return len(self.pending) != before

    def _resolve(self, scan_all: bool) -> None:
        """Ack the tuples whose writes the broker acknowledged; fail the ones it refused.

        Per tuple only the head of the queue is looked at (writes complete mostly in order);
        ticks and back-pressure scan everything.
        """
        if scan_all:
            still: deque[tuple[Any, Any]] = deque()
            for tup, future in self.pending:
                if future.is_done:
                    self._settle(tup, future)
                else:
                    still.append((tup, future))
            self.pending = still
            return
        while self.pending and self.pending[0][1].is_done:
            self._settle(*self.pending.popleft())

    def _settle(self, tup: Any, future: Any) -> None:
        if future.succeeded():
            self.written += 1
            self.ack(tup)
        else:
            self.write_failures += 1
            self.logger.warning(
                "write to %s failed (%s); failing the tuple for a replay",
                self.topic,
                future.exception,
            )
            self.fail(tup)

    def close(self) -> None:
        """Give in-flight writes a last chance, then settle every tuple either way."""
        if self.producer is None:
            return  # never connected: every tuple was failed as it came
        try:
            self.producer.flush(timeout=self.flush_timeout_s)
        finally:
            self._resolve(scan_all=True)
            self.producer.close(timeout=5)

"""What the confluent-kafka backend (``squall.kafka.confluent``) shares: kafka-python client
arguments translated to librdkafka settings, librdkafka errors as kafka-python's error classes,
and kafka-python's future and record forms, which the spout, the sinks and ``squall produce``
are written against (``squall.kafka.clients``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

# librdkafka's own log lines (connection refused while a broker restarts...) go to Python
# logging under this name, at DEBUG, not to stderr: librdkafka logs one error per reconnect
# attempt (dozens a second while a broker is away), and squall's one-line warnings
# (squall.kafka.reconnect, commit and write failures) are the signal on both backends.
LIBRDKAFKA_LOG = logging.getLogger("squall.kafka.librdkafka")


class _DebugLog:
    """What librdkafka calls as its logger: every line at DEBUG, its level in the text."""

    def log(self, level: int, msg: str, *args: Any) -> None:
        if LIBRDKAFKA_LOG.isEnabledFor(logging.DEBUG):
            LIBRDKAFKA_LOG.debug("[%s] " + msg, logging.getLevelName(level), *args)


class Record(NamedTuple):
    """One fetched record, with the attributes of kafka-python's ``ConsumerRecord`` used."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None  # ms since the epoch; None when the record has none


# kafka-python argument -> librdkafka property, where the meaning is the same
_SAME: dict[str, str] = {
    "client_id": "client.id",
    "security_protocol": "security.protocol",
    "ssl_cafile": "ssl.ca.location",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "group_id": "group.id",
    "auto_offset_reset": "auto.offset.reset",
    "fetch_max_wait_ms": "fetch.wait.max.ms",
    "max_poll_interval_ms": "max.poll.interval.ms",
    "session_timeout_ms": "session.timeout.ms",
    "heartbeat_interval_ms": "heartbeat.interval.ms",
    "acks": "acks",
    "linger_ms": "linger.ms",
    "batch_size": "batch.size",
    "delivery_timeout_ms": "message.timeout.ms",
}
# kept by the adapter itself, not given to librdkafka
_OWN = {"bootstrap_timeout_ms", "max_block_ms", "max_poll_records"}
# kafka-python's default for how long a client may wait for its first broker answer
DEFAULT_CONNECT_MS = 2_000


def librdkafka_config(kwargs: Mapping[str, Any], role: str) -> dict[str, Any]:
    """librdkafka properties for kafka-python ``KafkaConsumer``/``KafkaProducer`` arguments.

    ``role`` is ``"consumer"`` or ``"producer"``. An argument with no translation is a
    TypeError: a caller using a new kafka-python option must say what it means here too.
    """
    servers = kwargs.get("bootstrap_servers")
    if servers is None:
        raise TypeError("bootstrap_servers is required")
    conf: dict[str, Any] = {
        "bootstrap.servers": servers if isinstance(servers, str) else ",".join(servers),
        "log.connection.close": False,
    }
    for name, value in kwargs.items():
        if name in ("bootstrap_servers", *_OWN):
            continue
        if name == "enable_auto_commit":
            if value:
                raise TypeError("enable_auto_commit=True: squall commits only acked offsets")
        elif name == "ssl_check_hostname":
            conf["ssl.endpoint.identification.algorithm"] = "https" if value else "none"
        elif name == "retries":
            pass  # librdkafka retries until message.timeout.ms (delivery_timeout_ms) is over
        elif name in _SAME:
            conf[_SAME[name]] = value
        else:
            raise TypeError(f"no librdkafka translation for the kafka-python argument {name!r}")
    if role == "consumer":
        # Only the spout decides what is done: no automatic commit and no automatic offset
        # store (librdkafka would otherwise mark a record consumed as soon as poll returns it).
        conf["enable.auto.commit"] = False
        conf["enable.auto.offset.store"] = False
    else:
        # kafka-python 3 is idempotent by default with acks=all; librdkafka is not: no
        # duplicates from the producer's own retries on either backend.
        conf["enable.idempotence"] = True
        conf.setdefault("acks", "all")
        conf.setdefault("message.timeout.ms", 120_000)  # kafka-python's delivery_timeout_ms
        # Java's (and kafka-python's) key hash: a patient's readings go to the same partition
        # whichever backend wrote them (librdkafka's default, consistent_random, is CRC32)
        conf["partitioner"] = "murmur2_random"
    conf["logger"] = _DebugLog()
    conf["error_cb"] = _log_error
    return conf


def _log_error(err: Any) -> None:
    # Broker away, all brokers down...: librdkafka retries by itself; squall reports outages
    # through its own reconnect line, so these stay at debug.
    LIBRDKAFKA_LOG.debug("librdkafka: %s", err)


def kafka_error(exc: Any) -> Exception:
    """kafka-python's error class for a librdkafka error (a ``KafkaError`` of confluent_kafka,
    or a ``KafkaException`` carrying one): the callers catch kafka-python's classes."""
    from kafka import errors

    args = getattr(exc, "args", ())
    err = args[0] if args and hasattr(args[0], "code") else exc
    code = err.code() if hasattr(err, "code") else -1
    text = err.str() if hasattr(err, "str") else str(err)
    cls: type[Exception] = errors.KafkaError
    if code == -185:  # librdkafka _TIMED_OUT
        cls = errors.KafkaTimeoutError
    elif code >= 0:  # a Kafka protocol error code: the same numbers as kafka-python's classes
        cls = errors.for_code(code)
    return cls(text)


class Future:
    """kafka-python's future, as the callers use it: ``is_done``, ``succeeded()``,
    ``failed()``, ``exception``, ``value``, ``add_callback``, ``add_errback``.

    ``serve`` is called while it is not done when ``is_done`` is asked: librdkafka answers
    only inside a poll of its client.
    """

    def __init__(self, serve: Callable[[], Any] | None = None) -> None:
        self._serve = serve
        self._done = False
        self.value: Any = None
        self.exception: Exception | None = None
        self._callbacks: list[Callable[[Any], Any]] = []
        self._errbacks: list[Callable[[Exception], Any]] = []

    @property
    def is_done(self) -> bool:
        if not self._done and self._serve is not None:
            self._serve()
        return self._done

    def succeeded(self) -> bool:
        return self._done and self.exception is None

    def failed(self) -> bool:
        return self._done and self.exception is not None

    def success(self, value: Any) -> None:
        self.value, self._done = value, True
        for fn in self._callbacks:
            fn(value)

    def failure(self, exc: Exception) -> None:
        self.exception, self._done = exc, True
        for fn in self._errbacks:
            fn(exc)

    def add_callback(self, fn: Callable[[Any], Any]) -> Future:
        if self.succeeded():
            fn(self.value)
        else:
            self._callbacks.append(fn)
        return self

    def add_errback(self, fn: Callable[[Exception], Any]) -> Future:
        if self.failed():
            assert self.exception is not None
            fn(self.exception)
        else:
            self._errbacks.append(fn)
        return self


def unreachable(conf: Mapping[str, Any], exc: Any) -> Exception:
    from kafka.errors import KafkaTimeoutError

    # kafka-python 3's words and class for the same situation
    error: Exception = KafkaTimeoutError(
        f"Unable to bootstrap from {conf['bootstrap.servers']} ({exc})"
    )
    return error

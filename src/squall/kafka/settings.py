"""The Storm config keys of the Kafka spout and sink, declared once (imports no kafka-python).

Importing this module registers both schemas with ``squall.settings``, so a run whose topology
uses the spout or the sink knows their keys; a typo or an old spelling is an error naming the
valid key. Keys are in Storm's dotted style; a ``.secs`` key takes seconds or a duration string
(``"250ms"``, ``"2s"``).

Spout (``squall.kafka.spout.``; default in parentheses):

- ``max.attempts`` (5): failures of a tuple before it goes to the dead-letter topic;
- ``max.in.flight`` (2000): tuples emitted and not yet acked, per task;
- ``commit.interval.secs`` (1.0): how often the acked offsets are committed;
- ``poll.max.records`` (500): records one poll may return;
- ``auto.offset.reset`` (earliest; or latest): where a group with no commit starts;
- ``idle.poll.ms`` (100): how long a poll may wait when nothing is in flight;
- ``session.timeout.ms`` (10000, at least 6000): how soon a killed member's partitions move;
- ``commit.timeout.ms`` (2000): longest a commit may hold the worker;
- ``stuck.join.secs`` (20): replace a consumer whose group join has not completed this long;
- ``start`` (committed): where each partition starts, or a backfill (``squall.kafka.start``).

Sink (``squall.kafka.sink.``): ``max.pending`` (5000): unresolved sends before the sink waits
for the broker; ``flush.timeout.secs`` (10): longest that wait, and the last flush at close.

Security of both (``squall.kafka.security.``; ``squall.kafka.security`` turns them into client
arguments, docs/security.md): ``protocol`` (PLAINTEXT; or SASL_SSL), ``ca.file`` (the PEM of
the CA that signed the broker), ``sasl.mechanism`` (SCRAM-SHA-512), ``username``, and where the
password is on each host: ``password.file`` or ``password.env``. ``password`` itself is refused:
Nimbus shows a topology's conf to anyone who asks.

Client library of all three (``squall.kafka.client``): ``kafka-python`` (the default) or
``confluent`` (confluent-kafka on librdkafka, the ``squall[confluent]`` extra; see
``squall.kafka.clients``).

The snake_case spellings squall used before (``squall.kafka.spout.max_attempts``...) are
refused with a message naming the new key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.errors import ConfigError
from squall.kafka.errors import KafkaConfigError
from squall.kafka.start import StartAt, start_at
from squall.settings import (
    Reader,
    Schema,
    Setting,
    choice,
    duration,
    integer,
    optional,
    register,
    text,
)

SPOUT_PREFIX = "squall.kafka.spout."
SINK_PREFIX = "squall.kafka.sink."
SECURITY_PREFIX = "squall.kafka.security."
CLIENT_KEY = "squall.kafka.client"


def _spout(name: str, reader: Reader, default: Any, about: str) -> Setting:
    return Setting(SPOUT_PREFIX + name, reader, default, about)


# KafkaSpoutSettings field -> its setting. The field names keep the units of the Python API
# (``_s`` seconds, ``_ms`` milliseconds); the keys spell them as Storm does.
SPOUT_SETTINGS: dict[str, Setting] = {
    "max_attempts": _spout("max.attempts", integer(1), 5, "failures before the dead-letter topic"),
    "max_in_flight": _spout("max.in.flight", integer(1), 2000, "unacked tuples per task"),
    "commit_interval_s": _spout("commit.interval.secs", duration(0), 1.0, "commit period"),
    "poll_max_records": _spout("poll.max.records", integer(1), 500, "records per poll"),
    "auto_offset_reset": _spout(
        "auto.offset.reset", choice("earliest", "latest"), "earliest", "start with no commit"
    ),
    "idle_poll_ms": _spout(
        "idle.poll.ms",
        integer(0),
        100,
        "poll wait while the group join is not complete and nothing is in flight",
    ),
    # Kafka's default is 500 ms, for throughput: with it a record arriving while a fetch waits
    # on an idle partition showed 200 ms tails (p99 199 vs 22 ms at 10 ms here, 40 records/s),
    # past a 50 ms deadline; a short wait costs only more (empty) fetches while idle
    "fetch_max_wait_ms": _spout(
        "fetch.max.wait.ms", integer(0), 10, "longest a fetch waits at the broker for records"
    ),
    # the broker's group.min.session.timeout.ms defaults to 6 s
    "session_timeout_ms": _spout("session.timeout.ms", integer(6000), 10_000, "group session"),
    "commit_timeout_ms": _spout("commit.timeout.ms", integer(1), 2000, "longest commit wait"),
    "stuck_join_s": _spout(
        "stuck.join.secs", duration(0, low_open=True), 20.0, "replace a consumer stuck joining"
    ),
    "start": _spout("start", start_at, StartAt("committed"), "where partitions start (a backfill)"),
}

SPOUT_SCHEMA = register(
    Schema(
        "the Kafka spout",
        SPOUT_PREFIX,
        SPOUT_SETTINGS.values(),
        # before the keys followed Storm's style they were the field names: max_attempts, ...
        renamed={
            SPOUT_PREFIX + name: setting.key
            for name, setting in SPOUT_SETTINGS.items()
            if SPOUT_PREFIX + name != setting.key
        },
        error=KafkaConfigError,
    )
)

SINK_MAX_PENDING = SINK_PREFIX + "max.pending"
SINK_FLUSH_TIMEOUT = SINK_PREFIX + "flush.timeout.secs"

SINK_SCHEMA = register(
    Schema(
        "the Kafka sink",
        SINK_PREFIX,
        (
            Setting(SINK_MAX_PENDING, integer(1), 5000, "unresolved sends before waiting"),
            Setting(SINK_FLUSH_TIMEOUT, duration(0.1), 10.0, "longest wait for the broker"),
        ),
        renamed={
            SINK_PREFIX + "max_pending": SINK_MAX_PENDING,
            SINK_PREFIX + "flush_timeout_s": SINK_FLUSH_TIMEOUT,
        },
        error=KafkaConfigError,
    )
)


def _env_name(value: Any, where: str) -> str:
    name = text(value, where)
    if not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise ConfigError(
            f"{where} must name an environment variable (letters, digits, _), not hold the "
            "password itself; got a value that is not such a name"
        )
    return name


def _never(value: Any, where: str) -> Any:
    # the value is not repeated: it is the secret
    raise ConfigError(
        f"{where} must not be set: a topology's conf is shown by Nimbus to anyone who asks, "
        f"so the password never goes in it; put it in a file on each host and give "
        f"{SECURITY_PREFIX}password.file, or in an environment variable and give "
        f"{SECURITY_PREFIX}password.env"
    )


SECURITY_SCHEMA = register(
    Schema(
        "the Kafka client security",
        SECURITY_PREFIX,
        (
            Setting(
                SECURITY_PREFIX + "protocol",
                choice("PLAINTEXT", "SASL_SSL"),
                "PLAINTEXT",
                "PLAINTEXT, or SASL_SSL: TLS and SCRAM",
            ),
            Setting(SECURITY_PREFIX + "ca.file", optional(text), None, "CA certificate (PEM)"),
            Setting(
                SECURITY_PREFIX + "sasl.mechanism",
                choice("SCRAM-SHA-512", "SCRAM-SHA-256"),
                "SCRAM-SHA-512",
                "SASL mechanism",
            ),
            Setting(SECURITY_PREFIX + "username", optional(text), None, "SCRAM user"),
            Setting(SECURITY_PREFIX + "password.file", optional(text), None, "file holding it"),
            Setting(SECURITY_PREFIX + "password.env", optional(_env_name), None, "env var"),
            Setting(SECURITY_PREFIX + "password", _never, None, "refused: never in a conf"),
        ),
        error=KafkaConfigError,
    )
)


CLIENT_SCHEMA = register(
    Schema(
        "the Kafka client library",
        CLIENT_KEY,  # as a prefix: squall.kafka.client.<anything> is a typo of this key
        (
            Setting(
                CLIENT_KEY,
                choice("kafka-python", "confluent"),
                "kafka-python",
                "kafka-python, or confluent (confluent-kafka on librdkafka)",
            ),
        ),
        error=KafkaConfigError,
    )
)


def kafka_client(conf: Mapping[str, Any], where: str = "setting") -> str:
    """``squall.kafka.client`` of a Storm config: ``"kafka-python"`` or ``"confluent"``.

    A bad value names the key and the valid ones; ``confluent`` where confluent-kafka is not
    installed says how to install it (at start, not at the first record).
    """
    client: str = CLIENT_SCHEMA.read(conf, where)[CLIENT_KEY]
    require_client(client, f"{where} {CLIENT_KEY}")
    return client


def require_client(client: str, where: str) -> None:
    """Raise KafkaConfigError if ``client`` is ``confluent`` and confluent-kafka is missing."""
    from squall.kafka.clients import INSTALL_CONFLUENT, confluent_available

    if client == "confluent" and not confluent_available():
        raise KafkaConfigError(
            f"{where} is 'confluent' but confluent-kafka is not installed here; "
            f"`{INSTALL_CONFLUENT}` installs it (or use the default, 'kafka-python')"
        )


def _default(name: str) -> Any:
    return SPOUT_SETTINGS[name].default


@dataclass(frozen=True)
class KafkaSpoutSettings:
    """What one ``ReliableKafkaSpout`` task reads: where from, and its tuning.

    The first four fields come from the subclass (an app's own keys); the tuning from the
    ``squall.kafka.spout.*`` keys through :meth:`tuning`. Values are checked by the readers of
    ``SPOUT_SETTINGS`` whichever way they arrive, and stored typed (``"250ms"`` -> 0.25).
    """

    bootstrap_servers: tuple[str, ...]
    topics: tuple[str, ...]
    group_id: str
    dead_letter_topic: str
    max_attempts: int = _default("max_attempts")
    max_in_flight: int = _default("max_in_flight")
    commit_interval_s: float = _default("commit_interval_s")
    poll_max_records: int = _default("poll_max_records")
    auto_offset_reset: str = _default("auto_offset_reset")
    idle_poll_ms: int = _default("idle_poll_ms")
    commit_timeout_ms: int = _default("commit_timeout_ms")
    stuck_join_s: float = _default("stuck_join_s")
    session_timeout_ms: int = _default("session_timeout_ms")
    fetch_max_wait_ms: int = _default("fetch_max_wait_ms")
    start: StartAt = _default("start")

    def __post_init__(self) -> None:
        if not self.bootstrap_servers or not all(
            isinstance(s, str) and ":" in s for s in self.bootstrap_servers
        ):
            raise KafkaConfigError(
                f"bootstrap_servers must be a list of 'host:port' strings, got {self.bootstrap_servers!r}"
            )
        if not self.topics or not all(isinstance(t, str) and t for t in self.topics):
            raise KafkaConfigError(f"topics must be non-empty topic names, got {self.topics!r}")
        # Values read from a Storm config were checked under their keys already (tuning);
        # these checks name the field, as a caller building the settings in Python spells it.
        for name, setting in SPOUT_SETTINGS.items():
            try:
                value = setting.reader(getattr(self, name), f"KafkaSpoutSettings.{name}")
            except ConfigError as exc:
                raise KafkaConfigError(f"{exc} (the key {setting.key})") from None
            object.__setattr__(self, name, value)

    @staticmethod
    def tuning(conf: Mapping[str, Any]) -> dict[str, Any]:
        """The ``squall.kafka.spout.*`` settings of a Storm config, typed, by field name.

        An unknown key under the prefix, an old spelling or a bad value is a KafkaConfigError
        naming the key.
        """
        values = SPOUT_SCHEMA.read(conf)
        return {name: values[setting.key] for name, setting in SPOUT_SETTINGS.items()}

"""How a Kafka client of squall authenticates: settings in, kafka-python keyword arguments out.

One typed value, :class:`ClientSecurity`, made from the ``squall.kafka.security.*`` keys of a
Storm config (:meth:`ClientSecurity.from_conf`, the spout and the sinks) or from the flags of
``squall produce`` / ``squall kafka read`` (:meth:`ClientSecurity.from_flags`), and turned into
kafka-python's ``security_protocol``, ``ssl_cafile``, ``sasl_mechanism``,
``sasl_plain_username`` and ``sasl_plain_password`` by :meth:`ClientSecurity.kafka_kwargs`.

The password itself is never a setting: only the path of a file holding it
(``password.file``, read on the host where the client runs) or the name of an environment
variable (``password.env``). A Storm topology's conf is shown by Nimbus to anyone who asks, so
nothing in it may be a secret. The password is read when a client is built, and no message of
this module contains it.

:func:`refusal` turns what kafka-python raises when the broker refuses a client (wrong
password, no TLS, an untrusted certificate, a missing ACL) into one line naming what to fix;
:func:`check_access` asks the broker once, before a CLI command starts its clients.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squall.kafka.errors import KafkaConfigError, KafkaRuntimeError
from squall.kafka.reconnect import MAX_RETRY_S, Reconnect
from squall.kafka.settings import SECURITY_PREFIX, SECURITY_SCHEMA

PLAINTEXT = "PLAINTEXT"
SASL_SSL = "SASL_SSL"
PROTOCOLS: tuple[str, ...] = (PLAINTEXT, SASL_SSL)
MECHANISMS: tuple[str, ...] = ("SCRAM-SHA-512", "SCRAM-SHA-256")
DOCS = "docs/security.md"

# field -> (Storm config key, CLI flag): errors name the one the user wrote
_NAMES: dict[str, tuple[str, str]] = {
    "protocol": (SECURITY_PREFIX + "protocol", "--security-protocol"),
    "ca_file": (SECURITY_PREFIX + "ca.file", "--ca-file"),
    "sasl_mechanism": (SECURITY_PREFIX + "sasl.mechanism", "--sasl-mechanism"),
    "username": (SECURITY_PREFIX + "username", "--username"),
    "password_file": (SECURITY_PREFIX + "password.file", "--password-file"),
    "password_env": (SECURITY_PREFIX + "password.env", "--password-env"),
}


@dataclass(frozen=True)
class ClientSecurity:
    """A client's security settings (never the password: where to find it).

    ``PLAINTEXT`` (the default) takes no other field; ``SASL_SSL`` needs ``ca_file`` (the CA
    that signed the broker's certificate, PEM), ``username`` and one of ``password_file`` or
    ``password_env``. ``cli`` says whether errors name CLI flags or Storm config keys.
    """

    protocol: str = PLAINTEXT
    ca_file: str | None = None
    sasl_mechanism: str = MECHANISMS[0]
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    cli: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise KafkaConfigError(
                f"{self.name('protocol')} {self.protocol!r} is not one of {list(PROTOCOLS)}"
            )
        if self.sasl_mechanism not in MECHANISMS:
            raise KafkaConfigError(
                f"{self.name('sasl_mechanism')} {self.sasl_mechanism!r} is not one of "
                f"{list(MECHANISMS)}"
            )
        given = [
            f for f in ("ca_file", "username", "password_file", "password_env") if getattr(self, f)
        ]
        if self.protocol == PLAINTEXT:
            if given:
                raise KafkaConfigError(
                    f"{self.name(given[0])} is set but {self.name('protocol')} is PLAINTEXT "
                    f"(no TLS, no authentication): set {self.name('protocol')} {SASL_SSL}, or "
                    f"leave out {', '.join(self.name(f) for f in given)}"
                )
            return
        missing = [f for f in ("ca_file", "username") if not getattr(self, f)]
        if missing:
            raise KafkaConfigError(
                f"{self.name('protocol')} {SASL_SSL} needs {self.name(missing[0])} "
                f"({'the CA certificate that signed the broker' if missing[0] == 'ca_file' else 'the SCRAM user'}); "
                f"see {DOCS}"
            )
        if bool(self.password_file) == bool(self.password_env):
            raise KafkaConfigError(
                f"{self.name('protocol')} {SASL_SSL} needs exactly one of "
                f"{self.name('password_file')} (a file holding the password, on each host) or "
                f"{self.name('password_env')} (the name of an environment variable holding it); "
                f"got {'both' if self.password_file else 'neither'}"
            )

    # ------------------------------------------------------------------------------ sources

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> ClientSecurity:
        """The ``squall.kafka.security.*`` keys of a Storm config (PLAINTEXT when absent)."""
        values = SECURITY_SCHEMA.read(conf)
        return cls(**{f: values[key] for f, (key, _) in _NAMES.items() if values[key] is not None})

    @classmethod
    def from_flags(
        cls,
        protocol: str | None,
        ca_file: str | None,
        sasl_mechanism: str | None,
        username: str | None,
        password_file: str | None,
        password_env: str | None,
    ) -> ClientSecurity:
        """The CLI flags; SASL_SSL is implied when any credential flag is given."""
        creds = (ca_file, username, password_file, password_env)
        chosen = protocol or (SASL_SSL if any(creds) else PLAINTEXT)
        return cls(
            protocol=chosen.upper(),
            ca_file=ca_file,
            sasl_mechanism=(sasl_mechanism or MECHANISMS[0]).upper(),
            username=username,
            password_file=password_file,
            password_env=password_env,
            cli=True,
        )

    # ------------------------------------------------------------------------------ use

    @property
    def secured(self) -> bool:
        return self.protocol != PLAINTEXT

    def name(self, field_name: str) -> str:
        key, flag = _NAMES[field_name]
        return flag if self.cli else key

    def password(self) -> str:
        """The password, read now from its file or environment variable (never logged)."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if not value:
                raise KafkaConfigError(
                    f"{self.name('password_env')} {self.password_env!r}: the environment "
                    f"variable {'is empty' if value == '' else 'is not set'} in this process "
                    f"(pid {os.getpid()}); export it where the client runs (each host's "
                    "Storm supervisor for a topology)"
                )
            return value
        path = Path(self.password_file or "")
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise KafkaConfigError(
                f"{self.name('password_file')} {str(path)!r} cannot be read on this host "
                f"({exc.strerror or exc}); it must hold the password of user "
                f"{self.username!r}, readable by this process only (chmod 600)"
            ) from None
        if not value:
            raise KafkaConfigError(
                f"{self.name('password_file')} {str(path)!r} is empty; it must hold the "
                f"password of user {self.username!r}"
            )
        return value

    def kafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for KafkaProducer / KafkaConsumer / KafkaAdminClient."""
        if not self.secured:
            return {"security_protocol": PLAINTEXT}
        ca_file = Path(self.ca_file or "")
        if not ca_file.is_file():
            raise KafkaConfigError(
                f"{self.name('ca_file')} {str(ca_file)!r} is not a file on this host; give "
                "the PEM certificate of the CA that signed the broker's certificate"
            )
        return {
            "security_protocol": SASL_SSL,
            "ssl_cafile": str(ca_file),
            "ssl_check_hostname": True,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password(),
        }

    def describe(self) -> str:
        """Who connects how, for messages (no secret in it)."""
        if not self.secured:
            return "PLAINTEXT (no TLS, no authentication)"
        where = (
            f"{self.name('password_file')} {self.password_file}"
            if self.password_file
            else f"{self.name('password_env')} {self.password_env}"
        )
        return (
            f"{SASL_SSL} as user {self.username!r} ({self.sasl_mechanism}, password from {where})"
        )


PLAIN = ClientSecurity()


class KafkaRefused(KafkaRuntimeError):
    """The broker answers but refuses this client (credentials, certificate, ACL, protocol)."""


# ---------------------------------------------------------------------------------- refusals


def refusal(exc: BaseException, security: ClientSecurity, bootstrap: str) -> str | None:
    """One line naming what to fix when ``exc`` is the broker refusing this client; None when
    it is something else (the broker away, a missing topic...)."""
    from kafka import errors as kerr

    text = str(exc)
    if isinstance(exc, kerr.SaslAuthenticationFailedError) or "Authentication failed" in text:
        return (
            f"Kafka at {bootstrap} refused the password of user {security.username!r} "
            f"({security.sasl_mechanism}): check {_password_source(security)} and the user "
            "(the secured broker's passwords are in its secrets folder, `squall kafka "
            "secrets`)"
        )
    if isinstance(exc, kerr.AuthorizationError):
        what = type(exc).__name__.removesuffix("AuthorizationFailedError").lower() or "resource"
        return (
            f"Kafka at {bootstrap} refused user {security.username!r}: no ACL allows it on "
            f"this {what} ({type(exc).__name__}: {exc}); grant it (`squall kafka start "
            f"--secure` grants the roles of {DOCS}) or use the principal that has it"
        )
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return _untrusted(bootstrap, security, text)
    return None


def _password_source(security: ClientSecurity) -> str:
    if security.password_file:
        return f"{security.name('password_file')} {security.password_file}"
    return f"{security.name('password_env')} {security.password_env}"


# OpenSSL's verify codes (x509_vfy.h) for a certificate the CA did sign but that is not good
# here: the fix is a new certificate, not another CA
_NOT_YET_VALID, _EXPIRED, _HOSTNAME_MISMATCH, _IP_MISMATCH = 9, 10, 62, 64
_REISSUE = (
    "issue the broker a new certificate (the project's secured broker makes its own at "
    "set-up: remove the instance and start it again, docs/security.md)"
)


def _untrusted(bootstrap: str, security: ClientSecurity, detail: str, code: int = 0) -> str:
    detail = detail.strip()[:160]
    if code in (_EXPIRED, _NOT_YET_VALID) or "expired" in detail or "not yet valid" in detail:
        when = "has expired" if code == _EXPIRED or "expired" in detail else "is not valid yet"
        return (
            f"the certificate of Kafka at {bootstrap} {when} ({detail}): {_REISSUE}; if the "
            "broker's is current, check this host's clock"
        )
    if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH) or "mismatch" in detail:
        return (
            f"the certificate of Kafka at {bootstrap} is for another host ({detail}): connect "
            f"to the address the certificate names, or {_REISSUE}"
        )
    return (
        f"the certificate of Kafka at {bootstrap} is not trusted by "
        f"{security.name('ca_file')} {security.ca_file} ({detail}): give the CA "
        "that signed it (the secured broker's is ca.pem in `squall kafka secrets`)"
    )


def check_access(bootstrap: str, security: ClientSecurity, timeout_s: float = 5.0) -> None:
    """Ask the first broker of ``bootstrap`` once, the way ``security`` connects: raise one
    KafkaRefused line if it speaks another protocol, its certificate is not trusted, or
    it refuses the user. (kafka-python itself only logs these and retries until a timeout.)"""
    address = bootstrap.split(",")[0].strip()
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not security.secured:
        if _speaks_tls(host, int(port), timeout_s):
            raise KafkaRefused(
                f"Kafka at {address} is a TLS listener (SASL_SSL) and does not take an "
                f"unauthenticated PLAINTEXT client: give {security.name('protocol')} "
                f"SASL_SSL with {security.name('ca_file')}, {security.name('username')} and "
                f"{security.name('password_file')} (see {DOCS})"
            )
        return
    password = security.kafka_kwargs()["sasl_plain_password"]  # a bad file is named first
    context = ssl.create_default_context(cafile=security.ca_file)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as raw:
        try:
            sock = context.wrap_socket(raw, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            raise KafkaRefused(
                _untrusted(address, security, exc.verify_message, exc.verify_code)
            ) from None
        except ssl.SSLError as exc:  # a plaintext listener closes on a ClientHello
            raise KafkaRefused(
                f"Kafka at {address} does not speak TLS ({type(exc).__name__}: {exc}): it is "
                f"probably a PLAINTEXT listener; use the secured broker's address, or drop "
                f"{security.name('protocol')} {SASL_SSL}"
            ) from None
        with sock:
            _login(sock, address, security, password)


def _login(sock: ssl.SSLSocket, address: str, security: ClientSecurity, password: str) -> None:
    """A SASL handshake and SCRAM exchange, as kafka-python does it, reading every answer.

    The broker closes the connection on bad credentials without a reason a client can see
    (kafka-python only logs "socket disconnected" and retries until its timeout), so a
    refusal is recognised here by where the exchange stops.
    """
    from kafka.net.sasl.scram import ScramClient

    user = security.username or ""
    refused = (
        f"Kafka at {address} refused user {user!r} ({security.sasl_mechanism}): wrong password "
        f"or no such user; check {_password_source(security)} and "
        f"{security.name('username')} (the secured broker's users and passwords: `squall "
        "kafka secrets`)"
    )
    mechanism = security.sasl_mechanism.encode()
    try:
        body = _call(sock, 17, 1, 1, _str(mechanism))  # SaslHandshake v1
        if struct.unpack(">h", body[:2])[0] != 0:
            raise KafkaRefused(
                f"Kafka at {address} does not take {security.name('sasl_mechanism')} "
                f"{security.sasl_mechanism}: the secured broker uses SCRAM-SHA-512"
            )
        scram = ScramClient(user, password, security.sasl_mechanism)
        answer = _authenticate(sock, 2, scram.first_message())
        scram.process_server_first_message(answer)
        answer = _authenticate(sock, 3, scram.final_message())
        scram.process_server_final_message(answer)
    except (ConnectionError, ssl.SSLError, ValueError, KeyError, struct.error):
        raise KafkaRefused(refused) from None


def _authenticate(sock: ssl.SSLSocket, correlation: int, token: bytes) -> bytes:
    body = _call(sock, 36, 0, correlation, struct.pack(">i", len(token)) + token)
    error, length = struct.unpack(">hh", body[:4])
    if error != 0:
        raise ConnectionError(error)
    rest = body[4 + max(length, 0) :]
    size = struct.unpack(">i", rest[:4])[0]
    return rest[4 : 4 + size]


def _str(data: bytes) -> bytes:
    return struct.pack(">h", len(data)) + data


def _call(sock: socket.socket, api_key: int, version: int, correlation: int, body: bytes) -> bytes:
    """One request (header v1, client id ``squall-check``), its response body."""
    message = struct.pack(">hhi", api_key, version, correlation) + _str(b"squall-check") + body
    sock.sendall(struct.pack(">i", len(message)) + message)
    size = struct.unpack(">i", _exactly(sock, 4))[0]
    return _exactly(sock, size)[4:]  # the correlation id dropped


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed by the broker")
        data += chunk
    return data


def _speaks_tls(host: str, port: int, timeout_s: float) -> bool:
    """True when the listener answers a plaintext Kafka ApiVersions request with a TLS alert
    record (content type 21, version 3.x), as Kafka's TLS listener does, instead of a Kafka
    response. Anything else (no listener, a closed connection, a broker still starting) is
    not called TLS: the client's own errors report it."""
    message = struct.pack(">hhi", 18, 0, 1) + _str(b"squall-check")  # ApiVersions v0
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(message)) + message)
            first = sock.recv(2)
    except OSError:
        return False
    return first == b"\x15\x03"


class SecureReconnect(Reconnect):
    """:class:`Reconnect` for a component whose broker may refuse it: a refusal is logged as
    one line naming what to fix (once per distinct refusal, not per attempt), and retried with
    the same backoff -- a crash would only make Storm restart the worker into the same
    refusal, and the fix (a password file, an ACL) usually comes while it waits. Never a
    fall-back to PLAINTEXT."""

    def __init__(
        self, what: str, servers: list[str] | tuple[str, ...], logger: Any, security: ClientSecurity
    ) -> None:
        super().__init__(what, servers, logger)
        self.security = security
        self._said: str | None = None

    def failed(self, reason: object) -> None:
        line = self._refusal(reason)
        if line is None:
            super().failed(reason)
            return
        self.failures += 1
        if line != self._said:
            self._said = line
            self.logger.error(
                "%s refused by Kafka: %s; trying again every %.0f s at most",
                self.what,
                line,
                MAX_RETRY_S,
            )
        self.next_at = self.clock() + self._wait_s
        self._wait_s = min(MAX_RETRY_S, self._wait_s * 2)

    def succeeded(self) -> None:
        self._said = None
        super().succeeded()

    def check(self) -> None:
        """Ask the first broker once, before kafka-python clients are built: a refusal raises
        KafkaRefused here, instead of clients that log a disconnect per retry for seconds.
        An address that does not answer passes (the clients' own wait reports it)."""
        if self.servers:
            try:
                check_access(self.servers[0], self.security, timeout_s=2.0)
            except (OSError, ValueError):
                pass

    def _refusal(self, reason: object) -> str | None:
        if isinstance(reason, (KafkaRefused, KafkaConfigError)):
            return str(reason)
        address = self.servers[0] if self.servers else ""
        if isinstance(reason, BaseException):
            line = refusal(reason, self.security, address)
            if line is not None:
                return line
        try:  # kafka-python says only "Unable to bootstrap": ask the broker why
            check_access(address, self.security, timeout_s=2.0)
        except (KafkaRefused, KafkaConfigError) as exc:
            return str(exc)
        except (OSError, ValueError):
            return None
        return None


def check_consumer_access(
    consumer: Any, security: ClientSecurity, topics: Sequence[str], group: str, missing: list[str]
) -> None:
    """Under ACLs, refuse (KafkaRefused, the consumer closed) a consumer whose user sees none of
    ``missing`` or may not use ``group``, asked once here (an OffsetFetch) rather than found by
    the first poll, which would raise in the worker loop."""
    from kafka import TopicPartition
    from kafka.errors import AuthorizationError

    if missing:
        consumer.close(autocommit=False)
        raise KafkaRefused(
            f"user {security.username!r} sees no topic {missing[0]!r}: it does not exist, or "
            "no ACL lets the user READ it; create it, or grant the ACL (docs/security.md)"
        )
    try:
        consumer.committed(TopicPartition(topics[0], 0))
    except AuthorizationError as exc:
        consumer.close(autocommit=False)
        raise KafkaRefused(
            f"user {security.username!r} may not use consumer group {group!r} "
            f"({type(exc).__name__}); grant it READ on the group, or set the group the ACLs "
            "name (docs/security.md)"
        ) from None

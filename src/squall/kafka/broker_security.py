"""The secured single broker (``squall kafka start --secure``): TLS, SCRAM users and ACLs.

Made once, when the instance is formatted, into ``<instance>/secrets/`` (mode 700, under the
git-ignored ``.runtime/``; never committed):

- ``ca.pem`` / ``ca.key``: a CA of this instance's own, made with openssl; clients trust
  ``ca.pem`` (``squall.kafka.security.ca.file``);
- ``broker.p12``: the broker's key and certificate (signed by that CA, valid for 127.0.0.1 and
  localhost), its store password in ``keystore.password``;
- ``<user>.password`` for the SCRAM-SHA-512 users ``admin`` (super user: squall's own admin
  calls, creating topics and ACLs), ``producer`` and ``topology``: random passwords, mode 600.

The users are created by the storage format (``--add-scram``) from salted passwords, so no
password is ever on a command line. The client listener is ``SASL_SSL`` on 127.0.0.1; the
KRaft controller listener is ``SSL`` with client certificates required, trusting this CA only:
the node presents its own certificate there (as a server, and as a client of the other
controllers), and the principal of a controller connection is that certificate's subject
(``User:CN=127.0.0.1``), which is a super user -- nothing without a certificate signed by this
CA reaches the controller. :func:`grant` gives the roles their ACLs (StandardAuthorizer,
``allow.everyone.if.no.acl.found=false``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from squall.kafka.errors import KafkaRuntimeError
from squall.kafka.security import SASL_SSL, ClientSecurity

USERS: tuple[str, ...] = ("admin", "producer", "topology")
ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
CERT_DAYS = 825
LISTENER = "SASL_SSL"
CONTROLLER = "CONTROLLER"  # the KRaft listener (controller.listener.names): SSL, mutual TLS
LOCAL_SANS = ("IP:127.0.0.1", "DNS:localhost")  # the single broker's certificate


@dataclass(frozen=True)
class AccessPlan:
    """Which topics and groups the ``producer`` and ``topology`` users get (prefixes).

    The producer may WRITE (and DESCRIBE) topics starting with one of ``readings``; the
    topology may READ them with groups starting with ``group``, WRITE topics starting with one
    of ``outputs``, and create, READ and WRITE its ``changelog`` topic (the trend windows'
    checkpoints, config.yaml's ``kafka.trends_changelog_topic``). Defaults: config.yaml's
    ``kafka`` names.
    """

    readings: tuple[str, ...] = ("health.readings",)
    outputs: tuple[str, ...] = ("health.alerts", "health.invalid", "health.trends")
    group: str = "squall-health"
    changelog: str = "health.trends.changelog"

    def __post_init__(self) -> None:
        for what, names in (("readings", self.readings), ("outputs", self.outputs)):
            if not names or not all(n.strip() for n in names):
                raise KafkaRuntimeError(
                    f"--acl-{what}: give topic name prefixes, comma-separated; got {names!r}"
                )
        if not self.group.strip():
            raise KafkaRuntimeError("--acl-group: give the topology's consumer group prefix")
        if not self.changelog.strip():
            raise KafkaRuntimeError("--acl-changelog: give the topology's changelog topic")


class BrokerSecrets:
    """The ``secrets/`` folder of one broker instance."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "secrets"

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.dir / "broker.p12"

    def password_file(self, user: str) -> Path:
        return self.dir / f"{user}.password"

    def exists(self) -> bool:
        return self.keystore.is_file() and all(self.password_file(u).is_file() for u in USERS)

    def client(self, user: str) -> ClientSecurity:
        """How ``user`` connects to this broker."""
        return ClientSecurity(
            protocol=SASL_SSL,
            ca_file=str(self.ca_file),
            sasl_mechanism=MECHANISM,
            username=user,
            password_file=str(self.password_file(user)),
        )

    def _read(self, name: str) -> str:
        return (self.dir / name).read_text().strip()

    def create(self, sans: Sequence[str] = LOCAL_SANS) -> None:
        """Passwords, a CA and the broker's certificate (openssl); replaces what is there."""
        self.create_authority()
        self.issue("broker", sans)

    def create_authority(self) -> None:
        """The users' passwords, the keystores' password and the CA (no broker certificate):
        a cluster makes these once and :meth:`issue` s one certificate per broker."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for user in USERS:
            _write_secret(self.password_file(user), secrets.token_urlsafe(24))
        _write_secret(self.dir / "keystore.password", secrets.token_urlsafe(24))
        d = str(self.dir)
        self._openssl(
            # the CA: its own key, a self-signed certificate for signing only
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/ca.key",
             "-out", f"{d}/ca.pem", "-days", str(CERT_DAYS), "-subj",
             f"/CN=squall kafka CA {self.dir.parent.name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        )  # fmt: skip
        os.chmod(self.dir / "ca.key", 0o600)

    def keystore_of(self, name: str) -> Path:
        return self.dir / f"{name}.p12"

    def issue(self, name: str, sans: Sequence[str]) -> Path:
        """``<name>.p12``: a key and a certificate signed by the CA, valid for ``sans``
        (``IP:<address>`` / ``DNS:<name>``: what clients connect to, checked by their TLS)."""
        bad = [san for san in sans if not san.startswith(("IP:", "DNS:")) or san.endswith(":")]
        if not sans or bad:
            raise KafkaRuntimeError(
                f"certificate {name!r}: give subject alternative names as IP:<address> or "
                f"DNS:<name>; got {list(sans)!r}"
            )
        ext = self.dir / f"{name}.ext"
        ext.write_text(
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
            f"subjectAltName={','.join(sans)}\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid,issuer\n"
        )
        d, cn = str(self.dir), sans[0].split(":", 1)[1]
        self._openssl(
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/{name}.key",
             "-out", f"{d}/{name}.csr", "-subj", f"/CN={cn}"],
            ["x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey",
             f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/{name}.pem", "-days",
             str(CERT_DAYS), "-extfile", str(ext)],
            # the store password comes from the environment, not the command line
            ["pkcs12", "-export", "-in", f"{d}/{name}.pem", "-inkey", f"{d}/{name}.key",
             "-certfile", f"{d}/ca.pem", "-name", name, "-out", str(self.keystore_of(name)),
             "-passout", "env:SQUALL_KEYSTORE_PASSWORD"],
        )  # fmt: skip
        for suffix in (".key", ".p12"):
            os.chmod(self.dir / f"{name}{suffix}", 0o600)
        (self.dir / f"{name}.csr").unlink()
        return self.keystore_of(name)

    def principal_of(self, name: str) -> str:
        """``User:<subject>`` of ``<name>.pem``, as Kafka names a TLS client with that
        certificate (its subject in RFC 2253 form, e.g. ``User:CN=127.0.0.1``)."""
        proc = subprocess.run(
            ["openssl", "x509", "-in", str(self.dir / f"{name}.pem"), "-noout", "-subject",
             "-nameopt", "RFC2253"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        subject = proc.stdout.strip().removeprefix("subject=").strip()
        if proc.returncode != 0 or not subject:
            raise KafkaRuntimeError(
                f"reading the subject of {self.dir / f'{name}.pem'} failed: "
                f"{proc.stderr.strip()[-500:]}"
            )
        return f"User:{subject}"

    def controller_properties(self, keystore: Path) -> dict[str, str]:
        """The KRaft controller listener: ``SSL`` with ``keystore``'s certificate, client
        certificates required and trusted only when this CA signed them. A node uses the same
        settings as a client of the controllers (its broker side and the Raft peers)."""
        prefix = f"listener.name.{CONTROLLER.lower()}.ssl"
        return {
            f"{prefix}.keystore.type": "PKCS12",
            f"{prefix}.keystore.location": str(keystore),
            f"{prefix}.keystore.password": self._read("keystore.password"),
            f"{prefix}.truststore.type": "PEM",
            f"{prefix}.truststore.location": str(self.ca_file),
            f"{prefix}.client.auth": "required",
            f"{prefix}.endpoint.identification.algorithm": "https",
        }

    def _openssl(self, *steps: list[str]) -> None:
        env = {**os.environ, "SQUALL_KEYSTORE_PASSWORD": self._read("keystore.password")}
        for args in steps:
            proc = subprocess.run(
                ["openssl", *args], capture_output=True, text=True, env=env, check=False
            )
            if proc.returncode != 0:
                raise KafkaRuntimeError(
                    f"making the broker's TLS material in {self.dir} failed: `openssl "
                    f"{args[0]}` exited {proc.returncode}: {proc.stderr.strip()[-500:]}"
                )

    def scram_arguments(self) -> list[str]:
        """``--add-scram`` arguments of the storage format: salted, never the passwords."""
        args = []
        for user in USERS:
            salt = secrets.token_bytes(24)
            salted = hashlib.pbkdf2_hmac(
                "sha512", self._read(f"{user}.password").encode(), salt, SCRAM_ITERATIONS
            )
            b64 = base64.b64encode
            args += [
                "--add-scram",
                f'{MECHANISM}=[name={user},salt="{b64(salt).decode()}",'
                f'saltedpassword="{b64(salted).decode()}",iterations={SCRAM_ITERATIONS}]',
            ]
        return args

    def server_properties(self, port: int, controller_port: int) -> dict[str, str]:
        """What the secured broker sets over the plaintext one's properties."""
        return {
            "listeners": f"{LISTENER}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": (
                f"{LISTENER}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
            ),
            **self.security_properties(self.keystore, ["broker"]),
        }

    def security_properties(self, keystore: Path, nodes: Sequence[str]) -> dict[str, str]:
        """Everything of a secured broker but its listeners' addresses: the ``SASL_SSL``
        listener (clients and, as ``admin``, the brokers among themselves) with ``keystore``'s
        certificate, SCRAM, the authorizer; the controller listener ``SSL`` with client
        certificates (:meth:`controller_properties`). The super users are ``admin`` and the
        certificates of ``nodes`` (names given to :meth:`issue`: every node of the quorum)."""
        admin_password = self._read(f"{ADMIN}.password")
        node_principals = [self.principal_of(node) for node in nodes]
        return {
            "inter.broker.listener.name": LISTENER,
            "listener.security.protocol.map": f"{CONTROLLER}:SSL,{LISTENER}:SASL_SSL",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            f"listener.name.{LISTENER.lower()}.{MECHANISM.lower()}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{ADMIN}" password="{admin_password}";'
            ),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(keystore),
            "ssl.keystore.password": self._read("keystore.password"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "ssl.client.auth": "none",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            # the nodes' certificates: their requests on the controller listener (registration,
            # heartbeats, Raft) before any ACL exists
            "super.users": ";".join([f"User:{ADMIN}", *node_principals]),
            **self.controller_properties(keystore),
        }


def _write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")


def acl_bindings(plan: AccessPlan) -> list[tuple[str, str, str, str, str]]:
    """(user, resource type, pattern type, name, operation) of every ACL the plan grants."""
    rows: list[tuple[str, str, str, str, str]] = []
    for prefix in plan.readings:
        rows += [("producer", "TOPIC", "PREFIXED", prefix, op) for op in ("WRITE", "DESCRIBE")]
        rows += [("topology", "TOPIC", "PREFIXED", prefix, op) for op in ("READ", "DESCRIBE")]
    for prefix in plan.outputs:
        rows += [("topology", "TOPIC", "PREFIXED", prefix, op) for op in ("WRITE", "DESCRIBE")]
    rows += [("topology", "GROUP", "PREFIXED", plan.group, "READ")]
    rows += [
        ("topology", "TOPIC", "LITERAL", plan.changelog, op)
        for op in ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")
    ]
    return rows


ROLES: tuple[str, ...] = ("producer", "topology")  # the users whose ACLs a plan decides


def grant(
    bootstrap: str, admin: ClientSecurity, plan: AccessPlan
) -> list[tuple[str, str, str, str, str]]:
    """Make the ACLs of the ``producer`` and ``topology`` users exactly the plan's: create
    those missing, and delete those an earlier plan granted and this one does not (so a
    narrower ``--acl-*`` really narrows, rather than adding to what was there). Other
    principals' ACLs are left alone. Returns the bindings deleted, as ``acl_bindings`` rows."""
    from kafka import KafkaAdminClient
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourcePatternFilter,
        ResourceType,
    )
    from kafka.errors import NoError

    wanted = acl_bindings(plan)
    acls = [
        ACL(
            principal=f"User:{user}",
            host="*",
            operation=ACLOperation[op],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                ResourceType[rtype], name, ACLResourcePatternType[ptype]
            ),
        )
        for user, rtype, ptype, name, op in wanted
    ]
    client = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="squall-admin", **admin.kafka_kwargs()
    )
    removed: list[tuple[str, str, str, str, str]] = []
    try:
        result = client.create_acls(acls)
        if result["failed"]:
            raise KafkaRuntimeError(
                f"creating ACLs on {bootstrap} failed: {[str(e) for e in result['failed']][:3]}"
            )
        keep = set(wanted)
        stale = []
        for user in ROLES:
            everything = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
            found, _ = client.describe_acls(
                ACLFilter(f"User:{user}", None, ACLOperation.ANY, ACLPermissionType.ANY, everything)
            )
            for acl in found:
                pattern = acl.resource_pattern
                row = (
                    user,
                    pattern.resource_type.name,
                    pattern.pattern_type.name,
                    pattern.resource_name,
                    acl.operation.name,
                )
                allowed = acl.permission_type == ACLPermissionType.ALLOW and acl.host == "*"
                if row not in keep or not allowed:
                    stale.append(acl)
                    removed.append(row)
        if stale:
            for _, _, error in client.delete_acls(stale):
                if error is not NoError:
                    raise KafkaRuntimeError(
                        f"deleting ACLs no longer in the plan on {bootstrap} failed: {error}"
                    )
    finally:
        client.close()
    return removed


def describe_plan(plan: AccessPlan) -> Iterable[str]:
    """The grants in words, one line per user (printed by ``squall kafka start --secure``)."""
    yield (f"producer: WRITE topics {_prefixes(plan.readings)}")
    yield (
        f"topology: READ topics {_prefixes(plan.readings)} in groups {plan.group}*, "
        f"WRITE topics {_prefixes(plan.outputs)}, create/READ/WRITE {plan.changelog}"
    )
    yield "admin: super user (squall's own admin calls)"


def _prefixes(names: Iterable[str]) -> str:
    return ", ".join(f"{n}*" for n in names)

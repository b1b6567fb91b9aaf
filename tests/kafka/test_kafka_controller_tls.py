"""Issue 17, item 1 (the last plaintext door): the secured single broker's KRaft controller
listener is SSL with client certificates required, trusting the instance's own CA only.

A secured broker of this module's own (``squall kafka start --secure``, instance
``secctl-<pid>``, free ports; removed at the end, whatever happens) still serves its SASL_SSL
client listener as before. At its controller port, Kafka's own Admin client (the call
``kafka-metadata-quorum --bootstrap-controller ... describe --status`` makes, run by
``QuorumProbe.java`` on the provisioned classpath) is refused in plaintext, over TLS without a
certificate and with a certificate another CA signed; with the node's own keystore it gets the
quorum's status, so the probe can tell the difference.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from squall.kafka.admin import ensure_topics
from squall.kafka.broker import Broker, BrokerState
from squall.kafka.provision import lib_dir
from squall.services import java_command
from tests.kafka.kit import remove_orphans

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SQUALL = [sys.executable, "-m", "squall.cli"]
PROBE = Path(__file__).with_name("QuorumProbe.java")


@dataclass
class Secured:
    broker: Broker
    state: BrokerState
    start_output: str

    @property
    def controller(self) -> str:
        return f"127.0.0.1:{self.state.controller_port}"

    def keystore_password(self) -> str:
        return (self.broker.secrets.dir / "keystore.password").read_text().strip()


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    remove_orphans("secctl-")
    instance = f"secctl-{os.getpid()}"
    broker = Broker(instance)
    broker.remove()
    try:
        proc = subprocess.run(
            [*SQUALL, "kafka", "start", "--secure", "--instance", instance],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        state = broker.state()
        assert state is not None and state.secure
        yield Secured(broker, state, proc.stdout)
    finally:
        broker.remove()


def probe(secured: Secured, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Ask the controller for the quorum's status (``describe --status``) as the client
    ``config`` describes (none: plaintext)."""
    argv = [java_command(), "-Xmx128m", "-cp", str(lib_dir(ROOT) / "*"), str(PROBE)]
    argv += [secured.controller, *([str(config)] if config else [])]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def client_config(path: Path, truststore: Path, keystore: Path | None, password: str) -> Path:
    lines = ["security.protocol=SSL", "ssl.truststore.type=PEM"]
    lines.append(f"ssl.truststore.location={truststore}")
    if keystore is not None:
        lines += ["ssl.keystore.type=PKCS12", f"ssl.keystore.location={keystore}"]
        lines.append(f"ssl.keystore.password={password}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def foreign_keystore(tmp: Path, password: str) -> Path:
    """A key and certificate for 127.0.0.1 signed by a CA of its own (not the broker's)."""
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "2", "-subj", "/CN=not the squall CA",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr",
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "node.pem", "-days", "2", "-extfile", "node.ext"],
        ["pkcs12", "-export", "-in", "node.pem", "-inkey", "node.key", "-certfile", "ca.pem",
         "-name", "node", "-out", "node.p12", "-passout", "env:FOREIGN_PASSWORD"],
    ]  # fmt: skip
    (tmp / "node.ext").write_text(
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=IP:127.0.0.1\n"
    )
    env = {**os.environ, "FOREIGN_PASSWORD": password}
    for args in steps:
        subprocess.run(["openssl", *args], cwd=tmp, env=env, check=True, capture_output=True)
    return tmp / "node.p12"


def test_the_secured_client_listener_serves_as_before(secured: Secured) -> None:
    out = secured.start_output
    assert f"started: {secured.state.bootstrap}" in out, out
    assert "secured: SASL_SSL (TLS + SCRAM-SHA-512)" in out, out
    assert f"controller listener SSL (client certificates) on {secured.controller}" in out, out
    admin = secured.broker.security("admin").kafka_kwargs()
    topic = f"secctl.{uuid.uuid4().hex[:8]}"
    ensure_topics(secured.state.bootstrap, {topic: 1}, secured.broker.security("admin"))
    producer = KafkaProducer(bootstrap_servers=secured.state.bootstrap, acks="all", **admin)
    try:
        producer.send(topic, b"through the secured listener").get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=secured.state.bootstrap, enable_auto_commit=False, **admin
    )
    try:
        part = TopicPartition(topic, 0)
        consumer.assign([part])
        consumer.seek_to_beginning(part)
        values = [r.value for batch in consumer.poll(timeout_ms=15000).values() for r in batch]
    finally:
        consumer.close()
    assert values == [b"through the secured listener"]


def test_the_controller_listener_is_ssl_with_client_certificates(secured: Secured) -> None:
    listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True, check=True)
    port = secured.state.controller_port  # bound to 127.0.0.1 only (Java: as [::ffff:...])
    assert re.search(rf"\s(?:\[::ffff:)?127\.0\.0\.1\]?:{port}\s", listening.stdout), (
        listening.stdout
    )
    log = (secured.broker.logs_dir / "server.log").read_text(errors="replace")
    assert "listener.security.protocol.map = CONTROLLER:SSL,SASL_SSL:SASL_SSL" in log
    assert re.search(
        rf"listenerName='CONTROLLER', securityProtocol=SSL, host='127\.0\.0\.1', "
        rf"port={secured.state.controller_port}\b",
        log,
    ), "the controller registered no SSL CONTROLLER endpoint"
    assert "PLAINTEXT" not in secured.broker.properties_file.read_text()
    # exactly the node's certificate and admin are super users (no ANONYMOUS)
    assert "set super.users=User:CN=127.0.0.1,User:admin," in log


def test_a_client_without_a_certificate_is_refused_at_the_controller(
    secured: Secured, tmp_path: Path
) -> None:
    plain = probe(secured)  # no config: plaintext
    assert plain.returncode == 1 and "refused: TimeoutException" in plain.stdout, plain.stdout
    # TLS trusting the CA, but no certificate to present
    no_cert = client_config(
        tmp_path / "nocert.properties", secured.broker.secrets.ca_file, None, ""
    )
    refused = probe(secured, no_cert)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refused: SslAuthenticationException" in refused.stdout, refused.stdout


def test_a_certificate_of_another_ca_is_refused_and_the_nodes_own_is_not(
    secured: Secured, tmp_path: Path
) -> None:
    password = uuid.uuid4().hex
    foreign = foreign_keystore(tmp_path, password)
    config = client_config(
        tmp_path / "foreign.properties", secured.broker.secrets.ca_file, foreign, password
    )
    refused = probe(secured, config)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refused: SslAuthenticationException" in refused.stdout, refused.stdout

    # the probe can tell: the node's own certificate (what the broker side presents) passes;
    # its config holds the keystore's password, so it stays in the secrets folder (.runtime)
    secrets = secured.broker.secrets
    own = secrets.dir / "probe-own.properties"
    try:
        client_config(own, secrets.ca_file, secrets.keystore, secured.keystore_password())
        allowed = probe(secured, own)
    finally:
        own.unlink(missing_ok=True)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert allowed.stdout.strip() == "leader 1 voters 1", allowed.stdout
    assert secured.keystore_password() not in allowed.stdout + allowed.stderr

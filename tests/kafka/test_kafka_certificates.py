"""A broker certificate that the CA signed but that is not good here is named for what it is
(issue 17, Bad input): expired, not valid yet, or for another address -- not "give the CA
that signed it", which would send the user after the wrong fix.

The "broker" is a TLS server on 127.0.0.1 in this process (the refusal comes from the TLS
handshake, before any Kafka byte); its certificates are made with openssl by the test, with
validity dates in the past or the future (``openssl ca -startdate/-enddate``).
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.kafka.security import SASL_SSL, ClientSecurity, KafkaRefused, check_access

CA_CONF = """
[ca]
default_ca = test_ca
[test_ca]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificate(d: Path, name: str, san: str, start: str, end: str) -> Path:
    """A certificate for ``san`` signed by d's CA, valid from ``start`` to ``end``
    (YYYYMMDDHHMMSSZ); returns the PEM holding key and certificate."""
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}", cwd=d)  # fmt: skip
    _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
             "-startdate", start, "-enddate", end, "-in", f"{name}.csr", "-out", f"{name}.crt",
             "-notext", cwd=d)  # fmt: skip
    both = d / f"{name}.both.pem"
    both.write_text((d / f"{name}.crt").read_text() + (d / f"{name}.key").read_text())
    return both


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("certs")
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    (d / "ca.cnf").write_text(CA_CONF.format(dir=d))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "30", "-subj", "/CN=test-ca", cwd=d)  # fmt: skip
    return {
        "ca": d / "ca.pem",
        "expired": _certificate(d, "expired", "IP:127.0.0.1", "20200101000000Z", "20200201000000Z"),
        "future": _certificate(d, "future", "IP:127.0.0.1", "20990101000000Z", "20990201000000Z"),
        "other": _certificate(d, "other", "IP:10.9.8.7", "20200101000000Z", "20990101000000Z"),
        "good": _certificate(d, "good", "IP:127.0.0.1", "20200101000000Z", "20990101000000Z"),
    }


class _TlsServer:
    """Accepts TLS connections on 127.0.0.1 with ``pem`` until stopped; reads nothing."""

    def __init__(self, pem: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pem)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused our certificate: what the tests want

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def serve(certs: dict[str, Path]) -> Iterator[object]:
    servers: list[_TlsServer] = []

    def start(kind: str) -> str:
        servers.append(_TlsServer(certs[kind]))
        return f"127.0.0.1:{servers[-1].port}"

    yield start
    for s in servers:
        s.stop()


def _refusal(bootstrap: str, ca: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TEST_KAFKA_PASSWORD", "not-used")
    security = ClientSecurity(
        SASL_SSL, ca_file=str(ca), username="producer", password_env="TEST_KAFKA_PASSWORD"
    )
    with pytest.raises(KafkaRefused) as refused:
        check_access(bootstrap, security)
    return str(refused.value)


def test_an_expired_certificate_is_named_as_expired(certs, serve, monkeypatch) -> None:
    bootstrap = serve("expired")
    message = _refusal(bootstrap, certs["ca"], monkeypatch)
    assert message.startswith(f"the certificate of Kafka at {bootstrap} has expired ("), message
    assert "issue the broker a new certificate" in message and "clock" in message
    assert "give the CA" not in message


def test_a_certificate_not_valid_yet_is_named_so(certs, serve, monkeypatch) -> None:
    bootstrap = serve("future")
    message = _refusal(bootstrap, certs["ca"], monkeypatch)
    assert message.startswith(f"the certificate of Kafka at {bootstrap} is not valid yet ("), (
        message
    )


def test_a_certificate_for_another_address_is_named_so(certs, serve, monkeypatch) -> None:
    bootstrap = serve("other")
    message = _refusal(bootstrap, certs["ca"], monkeypatch)
    assert message.startswith(f"the certificate of Kafka at {bootstrap} is for another host ("), (
        message
    )
    assert re.search(r"127\.0\.0\.1", message)


def test_a_good_certificate_passes_the_tls_step(certs, serve, monkeypatch) -> None:
    # the oracle that the three above fail at the certificate: this one gets past TLS and
    # fails only at the SASL step (our server speaks no Kafka), with another message
    bootstrap = serve("good")
    message = _refusal(bootstrap, certs["ca"], monkeypatch)
    assert "certificate" not in message, message

"""Issue 17 (items 1-2, single broker): docs/security.md runs as written on a secured broker of
this module's own, and on that broker every refusal is one line, and no password leaks.

The broker (TLS + SCRAM-SHA-512 + ACLs, free ports) is started by the docs' first block under
``SQUALL_KAFKA_INSTANCE=sec-<pid>``, and stopped and removed by its last block (and by pid,
with its folder, whatever happens). The tests in between share it; the last one greps every
output they collected, the broker's logs and the topology's conf for the passwords.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from squall.kafka.admin import read_topic
from squall.kafka.broker import Broker
from squall.kafka.errors import KafkaConfigError
from squall.kafka.security import PLAIN, ClientSecurity
from squall.loading import load_topology, parse_option, run_conf
from tests.kafka.kit import remove_orphans
from tests.kafka.oracle import alerts_of, rules, valid_reading

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
SQUALL = [sys.executable, "-m", "squall.cli"]
KAFKA_COMPONENTS = ("kafka", "alerts", "dead_letter", "trends")


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, flags=re.S | re.M)


@dataclass
class Secured:
    instance: str
    env: dict[str, str]
    blocks: list[str]
    outputs: list[str] = field(default_factory=list)  # every command's stdout + stderr

    @property
    def broker(self) -> Broker:
        return Broker(self.instance)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def secrets(self) -> Path:
        return self.broker.secrets.dir

    def run(
        self, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            args, cwd=ROOT, env=env or self.env, capture_output=True, text=True, timeout=300
        )
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def block(self, index: int) -> str:
        proc = self.run(["bash", "-euo", "pipefail", "-c", self.blocks[index]])
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    def squall(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run([*SQUALL, *args])

    def client(self, user: str, password_file: Path | None = None) -> list[str]:
        return [
            "--bootstrap", self.bootstrap,
            "--ca-file", str(self.secrets / "ca.pem"),
            "--username", user,
            "--password-file", str(password_file or self.secrets / f"{user}.password"),
        ]  # fmt: skip


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    remove_orphans("sec-")
    instance = f"sec-{os.getpid()}"
    Broker(instance).remove()
    blocks = shell_blocks(DOC.read_text())
    assert len(blocks) == 3, "docs/security.md: three ```sh blocks (start, use, stop)"
    env = {**os.environ, "SQUALL_KAFKA_INSTANCE": instance}
    env.pop("PRODUCER_PASSWORD", None)
    setup = Secured(instance, env, blocks)
    try:
        out = setup.block(0)
        assert "started: 127.0.0.1:" in out and "secured: SASL_SSL" in out, out
        yield setup
        assert "kafka stopped (pid" in setup.block(2)
        assert not setup.broker.home.exists()
    finally:
        Broker(instance).remove()


def test_docs_run_secured_end_to_end(secured: Secured) -> None:
    """Producer -> spout -> bolts -> sinks, each as its own user; every implied alert there."""
    out = secured.block(1)
    acked = re.search(r"acknowledged by the broker: ([\d,]+) of ([\d,]+) sent \(0 failed\)", out)
    assert acked is not None and acked.group(1) == acked.group(2) == "400", out
    shown = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(shown) == 3 and all("reading_id" in alert for alert in shown), out
    assert_every_alert_there(secured, readings=400)


def assert_every_alert_there(secured: Secured, readings: int | None = None) -> None:
    """Every alert the readings topic implies (the oracle's rules) is in the alerts topic."""
    admin = secured.broker.security("admin")
    records = read_topic(secured.bootstrap, "health.readings", None, admin)
    assert readings is None or len(records) == readings
    config_rules = rules()
    expected = {
        (rule, int(reading["id"]))
        for reading in filter(None, map(valid_reading, records))
        for rule in alerts_of(reading, config_rules)
    }
    seen = {
        (doc["rule"], doc["reading_id"])
        for doc in map(json.loads, read_topic(secured.bootstrap, "health.alerts", None, admin))
    }
    assert expected and expected <= seen, f"missing {sorted(expected - seen)[:5]}"


def test_confluent_runs_secured_end_to_end(secured: Secured) -> None:
    """The same path on the confluent-kafka backend (docs/kafka.md, "Client backend"): its
    producers as the producer user, the topology's spout and sinks as the topology user, TLS
    with the project's CA and SCRAM-SHA-512; every alert its readings imply is there."""
    produced = secured.squall(
        "produce", *secured.client("producer"), "--topic", "health.readings",
        "--producers", "2", "--count", "150", "--quiet", "--client", "confluent",
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr[-3000:]
    assert "acknowledged by the broker: 300 of 300 sent (0 failed)" in produced.stdout
    out = secured.squall(
        "run", "topologies/health_kafka.py", "--seconds", "12", "--quiet",
        "-o", f"health.kafka.bootstrap.servers={secured.bootstrap}",
        "-o", "health.sinks.console=false", "-o", "squall.kafka.client=confluent",
        "-o", "squall.kafka.security.protocol=SASL_SSL",
        "-o", f"squall.kafka.security.ca.file={secured.secrets / 'ca.pem'}",
        "-o", "squall.kafka.security.username=topology",
        "-o", f"squall.kafka.security.password.file={secured.secrets / 'topology.password'}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "refused by Kafka" not in out.stderr and "Traceback" not in out.stderr
    assert_every_alert_there(secured)


def test_secrets_are_private_and_ignored_by_git(secured: Secured) -> None:
    assert stat.S_IMODE(secured.secrets.stat().st_mode) == 0o700
    for name in ("admin.password", "producer.password", "topology.password", "ca.key"):
        assert stat.S_IMODE((secured.secrets / name).stat().st_mode) == 0o600, name
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(secured.secrets / "admin.password")], cwd=ROOT
    )
    assert ignored.returncode == 0


def _one_line(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_a_wrong_password_is_one_line(secured: Secured, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    out = secured.squall("produce", "--count", "1", *secured.client("producer", wrong))
    _one_line(out, "refused user 'producer'", "wrong password", str(wrong))


def test_a_plaintext_client_at_the_tls_port_is_one_line(secured: Secured) -> None:
    out = secured.squall("kafka", "read", "health.alerts", "--bootstrap", secured.bootstrap)
    _one_line(out, "is a TLS listener", "--security-protocol SASL_SSL")


def test_a_foreign_ca_is_one_line(secured: Secured, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         str(tmp_path / "foreign.key"), "-out", str(foreign), "-days", "1", "-subj",
         "/CN=someone else's CA"],
        check=True, capture_output=True,
    )  # fmt: skip
    args = secured.client("producer")
    args[args.index("--ca-file") + 1] = str(foreign)
    out = secured.squall("produce", "--count", "1", *args)
    _one_line(out, "is not trusted by --ca-file", str(foreign))


def test_the_producer_may_not_read_alerts(secured: Secured) -> None:
    out = secured.squall("kafka", "read", "health.alerts", *secured.client("producer"))
    _one_line(out, "user 'producer' sees no topic 'health.alerts'", "no ACL")


def test_the_producer_may_not_write_alerts(secured: Secured) -> None:
    out = secured.squall(
        "produce", "--topic", "health.alerts", "--count", "1", "--producers", "1",
        "--quiet", *secured.client("producer"),
    )  # fmt: skip
    _one_line(out, "refused user 'producer' writing to topic 'health.alerts'", "no ACL")


def _topology(secured: Secured, *options: str) -> subprocess.CompletedProcess[str]:
    return secured.squall(
        "run", "topologies/health_kafka.py", "--seconds", "3", "--quiet",
        "-o", f"health.kafka.bootstrap.servers={secured.bootstrap}",
        "-o", "health.sinks.console=false", *options,
    )  # fmt: skip


@pytest.mark.parametrize("refused", ["wrong password", "plaintext"])
def test_a_refused_topology_logs_one_line_per_component_and_runs_on(
    secured: Secured, refused: str, tmp_path: Path, client: str
) -> None:
    if refused == "plaintext":
        options: list[str] = []
        expected = "is a TLS listener"
    else:
        wrong = tmp_path / "wrong.password"
        wrong.write_text("not-the-password\n")
        options = [
            "-o", "squall.kafka.security.protocol=SASL_SSL",
            "-o", f"squall.kafka.security.ca.file={secured.secrets / 'ca.pem'}",
            "-o", "squall.kafka.security.username=topology",
            "-o", f"squall.kafka.security.password.file={wrong}",
        ]  # fmt: skip
        expected = "refused user 'topology' (SCRAM-SHA-512): wrong password"
    out = _topology(secured, *options, "-o", f"squall.kafka.client={client}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stdout + out.stderr
    refusals = [line for line in out.stderr.splitlines() if "refused by Kafka" in line]
    for component in KAFKA_COMPONENTS:
        mine = [line for line in refusals if f"squall.component.{component} " in line]
        assert len(mine) == 1 and expected in mine[0], out.stderr[-3000:]
    # nothing read, nothing written: no plaintext fall-back
    summary = {
        line.split()[0]: line.split()[1:4] for line in out.stdout.splitlines() if line[:1].isalpha()
    }
    assert summary["kafka"][0] == "0" and summary["alerts"][1] == "0", out.stdout


def test_a_password_in_the_conf_is_refused_without_repeating_it(secured: Secured) -> None:
    sentinel = "hunter2-never-printed"
    out = _topology(secured, "-o", f"squall.kafka.security.password={sentinel}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "squall.kafka.security.password must not be set" in out.stderr
    assert "squall.kafka.security.password.file" in out.stderr
    assert sentinel not in out.stdout + out.stderr


def test_no_password_in_logs_output_or_topology_conf(secured: Secured) -> None:
    """Last: greps what every test above printed, the broker's logs, and the conf that
    docs/security.md's topology run resolves (what Nimbus would show under Storm)."""
    passwords = {
        user: (secured.secrets / f"{user}.password").read_text().strip()
        for user in ("admin", "producer", "topology", "keystore")
    }
    assert len(secured.outputs) >= 8
    logs = [p for p in secured.broker.logs_dir.rglob("*") if p.is_file()]
    assert any(p.name == "server.log" for p in logs)
    texts = {f"output {i}": text for i, text in enumerate(secured.outputs)}
    texts |= {str(p): p.read_text(errors="replace") for p in logs}
    options = dict(
        parse_option(
            raw.replace('"$BOOTSTRAP"', secured.bootstrap)
            .replace('"$SECRETS', str(secured.secrets))
            .replace('"', "")
        )
        for raw in re.findall(r"-o (\S+)", secured.blocks[1])
    )
    topology = load_topology(str(ROOT / "topologies" / "health_kafka.py"))
    conf = run_conf(topology, options, ROOT / "config.json")
    assert conf["squall.kafka.security.password.file"] == str(secured.secrets / "topology.password")
    texts["topology conf"] = json.dumps(conf, default=str)
    for user, password in passwords.items():
        leaks = [where for where, text in texts.items() if password in text]
        assert not leaks, f"the {user} password is in {leaks}"


# ------------------------------------------------------------------ settings (no broker needed)


def test_plaintext_is_the_default_and_takes_no_credentials() -> None:
    assert ClientSecurity.from_conf({}) == PLAIN
    assert PLAIN.kafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    with pytest.raises(KafkaConfigError) as err:
        ClientSecurity.from_conf({"squall.kafka.security.username": "topology"})
    assert str(err.value) == (
        "squall.kafka.security.username is set but squall.kafka.security.protocol is "
        "PLAINTEXT (no TLS, no authentication): set squall.kafka.security.protocol SASL_SSL, "
        "or leave out squall.kafka.security.username"
    )


def test_sasl_ssl_settings_become_kafka_python_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read here\n")
    secret = tmp_path / "topology.password"
    secret.write_text("s3cret\n")
    conf = {
        "squall.kafka.security.protocol": "SASL_SSL",
        "squall.kafka.security.ca.file": str(ca),
        "squall.kafka.security.username": "topology",
        "squall.kafka.security.password.file": str(secret),
    }
    expected = {
        "security_protocol": "SASL_SSL",
        "ssl_cafile": str(ca),
        "ssl_check_hostname": True,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "topology",
        "sasl_plain_password": "s3cret",
    }
    assert ClientSecurity.from_conf(conf).kafka_kwargs() == expected
    monkeypatch.setenv("TOPOLOGY_PASSWORD", "s3cret")
    by_env = {k: v for k, v in conf.items() if not k.endswith("password.file")}
    by_env["squall.kafka.security.password.env"] = "TOPOLOGY_PASSWORD"
    assert ClientSecurity.from_conf(by_env).kafka_kwargs() == expected
    assert "s3cret" not in ClientSecurity.from_conf(by_env).describe()


def test_setting_errors_name_the_key_or_the_flag(tmp_path: Path) -> None:
    with pytest.raises(KafkaConfigError, match=re.escape("SASL_SSL needs --ca-file")):
        ClientSecurity.from_flags(None, None, None, "producer", "/p", None)
    with pytest.raises(KafkaConfigError, match=re.escape("needs squall.kafka.security.ca.file")):
        ClientSecurity.from_conf({"squall.kafka.security.protocol": "SASL_SSL"})
    both = ClientSecurity.from_flags
    with pytest.raises(KafkaConfigError, match="exactly one of --password-file .* got both"):
        both(None, "/ca.pem", None, "producer", "/p", "PASSWORD")
    missing = tmp_path / "absent.password"
    security = both(None, str(tmp_path), None, "producer", str(missing), None)
    with pytest.raises(KafkaConfigError, match=re.escape(f"--password-file '{missing}' cannot")):
        security.password()
    with pytest.raises(
        KafkaConfigError, match="did you mean 'squall.kafka.security.password.file'"
    ):
        ClientSecurity.from_conf({"squall.kafka.security.pasword.file": "/p"})
    with pytest.raises(KafkaConfigError, match="must name an environment variable") as err:
        ClientSecurity.from_conf({"squall.kafka.security.password.env": "hunter2!"})
    assert "hunter2!" not in str(err.value)

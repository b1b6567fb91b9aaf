"""A project-provisioned Apache Kafka broker instance: start, stop, kill, inspect.

A broker is started as ``java -cp '.runtime/kafka/lib/*' kafka.Kafka server.properties`` (KRaft,
one node acting as broker and controller, bound to 127.0.0.1 only) from the jars
:mod:`squall.kafka.provision` assembles; the broker's own shell scripts are not shipped.

Each *instance* lives in its own folder (``.runtime/kafka/instances/<name>/``) holding its
``server.properties``, data, logs and a ``broker.json`` state file (pid, ports, cluster id). A
stopped instance restarts on the same ports with its data, so clients reconnect by themselves.
Stop and kill act only on the recorded pid, and only while it still runs this instance's broker
(a pid can be recycled): squall never signals a process it did not start.

``start(secure=True)`` makes a secured instance instead (TLS, SCRAM users, ACLs:
:mod:`squall.kafka.broker_security`); an instance stays what it was formatted as.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from squall.kafka.admin import describe_cluster, ensure_topics
from squall.kafka.broker_security import ADMIN, AccessPlan, BrokerSecrets, grant
from squall.kafka.errors import KafkaRuntimeError
from squall.kafka.provision import instance_dir, lib_dir, provision
from squall.kafka.security import PLAIN, ClientSecurity
from squall.services import (
    free_port,
    java_command,
    pid_running,
    port_is_free,
    port_open,
    project_root,
    wait_gone,
)

KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
# The log cleaner allocates a 128 MiB dedupe buffer at start: below 512m the broker can die.
DEFAULT_HEAP = "512m"


@dataclass(frozen=True)
class BrokerState:
    """What ``broker.json`` records about an instance."""

    name: str
    pid: int
    port: int
    controller_port: int
    cluster_id: str
    started_at: float
    secure: bool = False  # SASL_SSL client listener, SCRAM users, ACLs

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def new_cluster_id() -> str:
    """22 characters of URL-safe base64 of a UUID: the form StorageTool accepts.

    Never starting with '-': StorageTool's argument parser would take ``-t -xyz...`` for an
    option and fail with "argument --cluster-id/-t: expected one argument" (1 start in 64).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(
    port: int, controller_port: int, data_dir: Path, overrides: Mapping[str, str] | None = None
) -> str:
    """A single-node KRaft configuration on 127.0.0.1 (keys from ../shared/notes/kafka-runtime.md);
    ``overrides`` replace or add keys (the secured broker's listeners, TLS and SASL)."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        # Internal topics default to replication 3 / min ISR 2: on one node, consumer groups
        # and transactions would never start.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Defaults to 3 s: every test's first consumer-group join would wait for it.
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created on purpose, with their partition counts (`--topics`).
        "auto.create.topics.enable": "false",
        # Two cores are shared with the topology and the tests.
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "log.cleaner.threads": "1",
        **(overrides or {}),
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


LOG4J2_PROPERTIES = """\
# Broker logs go to <instance>/logs/server.log (rolled), warnings also to the console log.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = warn
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
rootLogger.appenderRef.console.ref = console
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


class BrokerFolder:
    """Where a broker keeps its config, data and logs under ``home`` (a single instance's
    folder, or one node of a quorum: squall.kafka.quorum.Node)."""

    home: Path

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"


class Broker(BrokerFolder):
    """One broker instance folder; start/stop/status act on the process recorded there."""

    def __init__(self, name: str = "default", root: Path | None = None, heap: str = DEFAULT_HEAP):
        self.root = root or project_root()
        self.name = name
        self.home = instance_dir(name, self.root)
        self.heap = heap

    # Layout of the instance folder.
    @property
    def state_file(self) -> Path:
        return self.home / "broker.json"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"

    @property
    def secrets(self) -> BrokerSecrets:
        return BrokerSecrets(self.home)

    @property
    def access_file(self) -> Path:
        return self.home / "access.json"

    def access_plan(self) -> AccessPlan:
        """The ACL plan this secured instance was last started with (its ``--acl-*``), which
        a start without ``--acl-*`` keeps; the default plan if none was stored."""
        if not self.access_file.is_file():
            return AccessPlan()
        try:
            raw = json.loads(self.access_file.read_text())
            return AccessPlan(
                readings=tuple(raw["readings"]),
                outputs=tuple(raw["outputs"]),
                group=str(raw["group"]),
                changelog=str(raw["changelog"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KafkaRuntimeError(
                f"{self.access_file} is not a valid ACL plan ({exc}); give the --acl-* "
                "options again to replace it"
            ) from None

    def security(self, user: str = ADMIN) -> ClientSecurity:
        """How ``user`` connects to this instance: PLAINTEXT unless it is a secured one."""
        state = self.state()
        return self.secrets.client(user) if state is not None and state.secure else PLAIN

    def state(self) -> BrokerState | None:
        """The recorded state, or None when this instance was never started."""
        if not self.state_file.is_file():
            return None
        try:
            raw = json.loads(self.state_file.read_text())
            return BrokerState(**raw)
        except (ValueError, TypeError) as exc:
            raise KafkaRuntimeError(
                f"{self.state_file} is not a valid broker state file ({exc}); "
                f"remove the folder {self.home} to start afresh"
            ) from exc

    @property
    def bootstrap(self) -> str:
        state = self.state()
        if state is None:
            raise KafkaRuntimeError(f"broker instance {self.name!r} was never started")
        return state.bootstrap

    def pid_alive(self) -> bool:
        state = self.state()
        return state is not None and _is_our_broker(state.pid, self.properties_file)

    def is_running(self) -> bool:
        state = self.state()
        return state is not None and self.pid_alive() and port_open(state.port)

    def start(
        self,
        topics: Mapping[str, int] | None = None,
        port: int | None = None,
        timeout_s: float = READY_TIMEOUT_S,
        out: TextIO | None = None,
        secure: bool = False,
        access: AccessPlan | None = None,
    ) -> BrokerState:
        """Start (or find running) this instance and wait until it serves metadata.

        A previously used instance keeps its ports and data; a fresh one gets free ports and a
        newly formatted log dir. ``topics`` maps topic name -> partitions, created if missing.
        ``secure`` makes a fresh instance a secured one; ``access`` (secured instances only)
        makes the ACLs of its ``producer`` and ``topology`` users that plan's, and is kept
        for later starts without one (default: :class:`AccessPlan`'s).
        """
        provision(self.root, out=out, quiet=out is None)
        state = self.state()
        if state is not None and secure and not state.secure:
            raise KafkaRuntimeError(
                f"broker instance {self.name!r} was made without --secure (plaintext); a "
                f"secured broker is made fresh: remove this one (`squall kafka stop --instance "
                f"{self.name} --remove`) or give another --instance NAME"
            )
        if state is not None and access is not None and not state.secure:
            raise KafkaRuntimeError(
                f"--acl-* options are for a secured broker; instance {self.name!r} is plaintext"
            )
        secure = secure or (state is not None and state.secure)
        plan = access or self.access_plan()
        if state is not None and self.pid_alive():
            if port is not None and port != state.port:
                raise KafkaRuntimeError(
                    f"broker instance {self.name!r} is running on port {state.port}, not "
                    f"{port}: to move it, stop it (`squall kafka stop --instance {self.name}`) "
                    f"and start it again with --port {port}; for a second broker give another "
                    "--instance NAME"
                )
            _wait_ready(state, self, timeout_s)
            self._after_ready(state, topics, plan)
            return state
        self.home.mkdir(parents=True, exist_ok=True)
        if secure:
            os.chmod(self.home, 0o700)  # server.properties holds the keystore's password
        self.logs_dir.mkdir(exist_ok=True)
        if state is None:
            port = port or free_port()
            controller_port = free_port()
            while controller_port == port:
                controller_port = free_port()
            cluster_id = new_cluster_id()
        else:
            # a stopped instance keeps its data; its client port moves when asked (the
            # controller's stays: KRaft recorded it as the quorum's voter at format time)
            if port is not None and port != state.port and out is not None:
                print(
                    f"kafka: moving instance {self.name!r} from port {state.port} to {port}",
                    file=out,
                )
            port = port if port is not None else state.port
            controller_port, cluster_id = state.controller_port, state.cluster_id
            for used, what in ((port, "client"), (controller_port, "controller")):
                if not port_is_free(used):
                    raise KafkaRuntimeError(
                        f"{what} port {used} of broker instance {self.name!r} is taken by "
                        "another process; stop that process, or choose another client port "
                        f"with --port, or remove {self.home} to start afresh on new ports"
                    )
        formatted = (self.data_dir / "meta.properties").is_file()
        if secure and not formatted:
            self.secrets.create()
        overrides = self.secrets.server_properties(port, controller_port) if secure else None
        self.properties_file.write_text(
            server_properties(port, controller_port, self.data_dir, overrides)
        )
        log4j = self.home / "log4j2.properties"
        log4j.write_text(LOG4J2_PROPERTIES)
        if not formatted:
            self._format(cluster_id, secure)
        java = java_command()
        cmd = [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp",
            str(lib_dir(self.root) / "*"),
            KAFKA_MAIN,
            str(self.properties_file),
        ]
        with open(self.console_log, "ab") as console:
            # A session of its own: Ctrl-C in the terminal that ran `squall kafka start` does
            # not reach the broker; only `squall kafka stop` (SIGTERM to this pid) does.
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
            )
        state = BrokerState(
            name=self.name,
            pid=proc.pid,
            port=port,
            controller_port=controller_port,
            cluster_id=cluster_id,
            started_at=time.time(),
            secure=secure,
        )
        self.state_file.write_text(json.dumps(asdict(state), indent=2) + "\n")
        try:
            _wait_ready(state, self, timeout_s, proc)
        except KafkaRuntimeError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        self._after_ready(state, topics, plan)
        return state

    def _after_ready(
        self, state: BrokerState, topics: Mapping[str, int] | None, plan: AccessPlan
    ) -> None:
        if state.secure:
            grant(state.bootstrap, self.security(), plan)
            self.access_file.write_text(json.dumps(asdict(plan), indent=2) + "\n")
        if topics:
            ensure_topics(state.bootstrap, topics, self.security())

    def _format(self, cluster_id: str, secure: bool = False) -> None:
        cmd = [
            java_command(),
            "-Xmx256m",
            "-cp",
            str(lib_dir(self.root) / "*"),
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            STORAGE_TOOL,
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(self.properties_file),
            *(self.secrets.scram_arguments() if secure else ()),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise KafkaRuntimeError(
                f"formatting the log dir {self.data_dir} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM the recorded pid and wait for a clean shutdown; SIGKILL if it hangs.

        Returns False when the instance was not running. Acts only on the pid recorded in this
        instance's state file, and only if that pid still runs this instance's broker.
        """
        state = self.state()
        if state is None or not self.pid_alive():
            return False
        try:
            os.kill(state.pid, signal.SIGTERM)
        except ProcessLookupError:  # it ended after the liveness check
            return True
        if not wait_gone(state.pid, timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGKILL)
            wait_gone(state.pid, 10.0)
        return True

    def kill(self) -> bool:
        """SIGKILL the broker (a crash, for tests of recovery); data stays for a restart."""
        state = self.state()
        if state is None or not self.pid_alive():
            return False
        with contextlib.suppress(ProcessLookupError):  # it ended after the liveness check
            os.kill(state.pid, signal.SIGKILL)
        wait_gone(state.pid, 10.0)
        return True

    def remove(self) -> None:
        """Stop if running, then delete the instance folder (data and logs)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        chunks = []
        for log in (self.console_log, self.logs_dir / "server.log"):
            if log.is_file():
                text = log.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"--- {log} ---\n" + "\n".join(text))
        return "\n".join(chunks)


def _is_our_broker(pid: int, properties_file: Path) -> bool:
    """True if ``pid`` is alive and is the broker started with this properties file.

    Guards against a recycled pid: never signal a process we did not start.
    """
    # A zombie (our own unreaped child) is not a running broker.
    if not pid_running(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return KAFKA_MAIN.encode() in cmdline and str(properties_file).encode() in cmdline


def _wait_ready(
    state: BrokerState,
    broker: Broker,
    timeout_s: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Ready = the port accepts connections and an admin client gets cluster metadata."""
    deadline = time.monotonic() + timeout_s
    last_error = "the port never accepted a connection"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise KafkaRuntimeError(
                f"the broker exited with code {proc.returncode} during start-up\n"
                + broker.log_tail()
            )
        if port_open(state.port):
            try:
                describe_cluster(state.bootstrap, broker.security())
                return
            except Exception as exc:  # any client error means "not ready yet"; retried
                last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.25)
    raise KafkaRuntimeError(
        f"broker {state.bootstrap} (pid {state.pid}) not ready after {timeout_s:.0f}s: "
        f"{last_error}\n" + broker.log_tail()
    )

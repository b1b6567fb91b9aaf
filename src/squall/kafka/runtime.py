"""A project-provisioned Apache Kafka 4.x broker: assemble, start, stop, inspect.

The release tarball is not reachable from here, so the broker is assembled from Maven Central by
``runtime/kafka/pom.xml`` into the git-ignored ``.runtime/kafka/lib`` and started as
``java -cp 'lib/*' kafka.Kafka server.properties`` (KRaft, one node acting as broker and
controller, bound to 127.0.0.1 only).

Each broker *instance* lives in its own folder (``.runtime/kafka/instances/<name>/``) holding its
``server.properties``, data, logs and a ``broker.json`` state file (pid, ports, cluster id). A
stopped instance restarts on the same ports with its data, so clients reconnect by themselves.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from squall.kafka.errors import KafkaRuntimeError

KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
# The log cleaner allocates a 128 MiB dedupe buffer at start: below 512m the broker can die.
DEFAULT_HEAP = "512m"


def project_root() -> Path:
    """The squall checkout: the folder holding ``runtime/kafka/pom.xml``.

    Looked up from this file first (editable install), then upwards from the working directory.
    """
    here = Path(__file__).resolve()
    candidates = [here.parents[3], *Path.cwd().resolve().parents, Path.cwd().resolve()]
    for folder in candidates:
        if (folder / "runtime" / "kafka" / "pom.xml").is_file():
            return folder
    raise KafkaRuntimeError(
        "cannot find the squall project (a folder with runtime/kafka/pom.xml) above "
        f"{here} or {Path.cwd()}; run squall from inside the project checkout"
    )


def runtime_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / ".runtime" / "kafka"


def lib_dir(root: Path | None = None) -> Path:
    return runtime_dir(root) / "lib"


def instance_dir(name: str, root: Path | None = None) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise KafkaRuntimeError(
            f"bad broker instance name {name!r}: use a plain folder name such as 'default'"
        )
    return runtime_dir(root) / "instances" / name


# --------------------------------------------------------------------------------------------
# Provisioning


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def is_provisioned(root: Path | None = None) -> bool:
    """True when lib/ was assembled from the current pom.xml (a stamp records its digest)."""
    root = root or project_root()
    stamp = lib_dir(root) / ".provisioned"
    pom = root / "runtime" / "kafka" / "pom.xml"
    return stamp.is_file() and stamp.read_text().strip() == _pom_digest(pom)


def provision(
    root: Path | None = None, out: TextIO | None = sys.stderr, quiet: bool = False
) -> Path:
    """Assemble the broker's jars into ``.runtime/kafka/lib`` with Maven; a no-op when done.

    Maven prints each download as it goes (the progress). Re-running after a pom change
    rebuilds lib/ from scratch so no stale jar of another version stays on the classpath.
    """
    root = root or project_root()
    lib = lib_dir(root)
    if is_provisioned(root):
        (lib / ".provisioned").touch()  # newer than pom.xml again, for make
        if out and not quiet:
            print(f"kafka runtime: up to date in {lib}", file=out)
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaRuntimeError(
            "Maven ('mvn') is not on PATH; it assembles the Kafka broker from Maven Central "
            "(install it, e.g. apt-get install maven)"
        )
    pom = root / "runtime" / "kafka" / "pom.xml"
    if lib.exists():
        shutil.rmtree(lib)
    if out and not quiet:
        print(f"kafka runtime: assembling Apache Kafka from Maven Central into {lib}", file=out)
    cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(pom), f"-Dkafka.lib.dir={lib}", "package"]
    if quiet:
        cmd.insert(2, "-q")
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False, text=True)
    if proc.returncode != 0:
        raise KafkaRuntimeError(
            f"Maven failed (exit {proc.returncode}) assembling the broker from {pom}; "
            "the output above names the artifact it could not resolve"
        )
    jars = sorted(lib.glob("kafka_2.13-*.jar"))
    if not jars:
        raise KafkaRuntimeError(f"Maven succeeded but no kafka_2.13 jar is in {lib}")
    (lib / ".provisioned").write_text(_pom_digest(pom) + "\n")
    if out and not quiet:
        print(
            f"kafka runtime: ready ({jars[0].name}, {len(list(lib.glob('*.jar')))} jars)", file=out
        )
    return lib


def kafka_version(root: Path | None = None) -> str:
    jars = sorted(lib_dir(root).glob("kafka_2.13-*.jar"))
    if not jars:
        raise KafkaRuntimeError(
            "the Kafka runtime is not provisioned: run `squall kafka provision`"
        )
    return jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar")


# --------------------------------------------------------------------------------------------
# Broker instances


@dataclass(frozen=True)
class BrokerState:
    """What ``broker.json`` records about an instance."""

    name: str
    pid: int
    port: int
    controller_port: int
    cluster_id: str
    started_at: float

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def new_cluster_id() -> str:
    """22 characters of URL-safe base64 of a UUID: the form StorageTool accepts.

    Never starting with '-': StorageTool's argument parser would take ``-t -xyz...`` for an
    option and fail with "argument --cluster-id/-t: expected one argument" (1 start in 64).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(port: int, controller_port: int, data_dir: Path) -> str:
    """A single-node KRaft configuration on 127.0.0.1 (keys from ../shared/notes/kafka-runtime.md)."""
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


class Broker:
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
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"

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
        return state is not None and self.pid_alive() and _accepts(state.port)

    def start(
        self,
        topics: Mapping[str, int] | None = None,
        port: int | None = None,
        timeout_s: float = READY_TIMEOUT_S,
        out: TextIO | None = None,
    ) -> BrokerState:
        """Start (or find running) this instance and wait until it serves metadata.

        A previously used instance keeps its ports and data; a fresh one gets free ports and a
        newly formatted log dir. ``topics`` maps topic name -> partitions, created if missing.
        """
        provision(self.root, out=out, quiet=out is None)
        state = self.state()
        if state is not None and self.pid_alive():
            _wait_ready(state, self, timeout_s)
            if topics:
                ensure_topics(state.bootstrap, topics)
            return state
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        if state is None:
            port = port or free_port()
            controller_port = free_port()
            while controller_port == port:
                controller_port = free_port()
            cluster_id = new_cluster_id()
        else:
            port, controller_port, cluster_id = state.port, state.controller_port, state.cluster_id
            for used in (port, controller_port):
                if not _port_is_free(used):
                    raise KafkaRuntimeError(
                        f"port {used} of stopped broker instance {self.name!r} is taken by "
                        f"another process; stop it or remove {self.home} to start on new ports"
                    )
        self.properties_file.write_text(server_properties(port, controller_port, self.data_dir))
        log4j = self.home / "log4j2.properties"
        log4j.write_text(LOG4J2_PROPERTIES)
        if not (self.data_dir / "meta.properties").is_file():
            self._format(cluster_id)
        java = _java()
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
        )
        self.state_file.write_text(json.dumps(asdict(state), indent=2) + "\n")
        try:
            _wait_ready(state, self, timeout_s, proc)
        except KafkaRuntimeError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        if topics:
            ensure_topics(state.bootstrap, topics)
        return state

    def _format(self, cluster_id: str) -> None:
        cmd = [
            _java(),
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
        if not _wait_gone(state.pid, timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGKILL)
            _wait_gone(state.pid, 10.0)
        return True

    def kill(self) -> bool:
        """SIGKILL the broker (a crash, for tests of recovery); data stays for a restart."""
        state = self.state()
        if state is None or not self.pid_alive():
            return False
        with contextlib.suppress(ProcessLookupError):  # it ended after the liveness check
            os.kill(state.pid, signal.SIGKILL)
        _wait_gone(state.pid, 10.0)
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


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaRuntimeError("no 'java' on PATH and JAVA_HOME unset: Kafka 4 needs Java 17+")
    return java


def _is_our_broker(pid: int, properties_file: Path) -> bool:
    """True if ``pid`` is alive and is the broker started with this properties file.

    Guards against a recycled pid: never signal a process we did not start.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (our own unreaped child) is not a running broker.
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return KAFKA_MAIN.encode() in cmdline and str(properties_file).encode() in cmdline


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            # Reap it if it is our child, so it does not linger as a zombie.
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").is_file():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                    return True
        time.sleep(0.1)
    return False


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
        if _accepts(state.port):
            try:
                describe_cluster(state.bootstrap)
                return
            except Exception as exc:  # any client error means "not ready yet"; retried
                last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.25)
    raise KafkaRuntimeError(
        f"broker {state.bootstrap} (pid {state.pid}) not ready after {timeout_s:.0f}s: "
        f"{last_error}\n" + broker.log_tail()
    )


# --------------------------------------------------------------------------------------------
# Admin helpers (kafka-python; the broker's own shell tools are not shipped)


def describe_cluster(bootstrap: str) -> dict[str, object]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="squall-admin"
    )
    try:
        return dict(admin.describe_cluster())
    finally:
        admin.close()


def list_topics(bootstrap: str) -> dict[str, int]:
    """Topic name -> partition count (internal topics left out)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="squall-admin")
    try:
        topics = consumer.topics()
        return {
            topic: len(consumer.partitions_for_topic(topic) or ())
            for topic in sorted(topics)
            if not topic.startswith("__")
        }
    finally:
        consumer.close()


def ensure_topics(bootstrap: str, topics: Mapping[str, int], timeout_s: float = 30.0) -> None:
    """Create each missing topic with its partition count; grow existing ones that have fewer.

    An existing topic with more partitions than asked stays as it is (Kafka cannot shrink).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewPartitions
    from kafka.errors import TopicAlreadyExistsError

    for name, partitions in topics.items():
        if not isinstance(partitions, int) or partitions < 1:
            raise KafkaRuntimeError(
                f"topic {name!r}: partitions must be a positive integer, got {partitions!r}"
            )
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        client_id="squall-admin",
    )
    try:
        existing = list_topics(bootstrap)
        missing = {name: n for name, n in topics.items() if name not in existing}
        if missing:
            try:
                admin.create_topics(
                    {
                        name: {"num_partitions": n, "replication_factor": 1}
                        for name, n in missing.items()
                    },
                    wait_for_metadata=True,
                )
            except TopicAlreadyExistsError:
                pass  # created concurrently by another client: fine
        grow = {name: n for name, n in topics.items() if name in existing and existing[name] < n}
        if grow:
            admin.create_partitions(
                {name: NewPartitions(total_count=n) for name, n in grow.items()}
            )
    finally:
        admin.close()
    _wait_topics_visible(bootstrap, topics, timeout_s)


def _wait_topics_visible(bootstrap: str, topics: Mapping[str, int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = list_topics(bootstrap)
        if all(seen.get(name, 0) >= n for name, n in topics.items()):
            return
        if time.monotonic() > deadline:
            raise KafkaRuntimeError(
                f"topics {dict(topics)} not all visible on {bootstrap} after {timeout_s:.0f}s; "
                f"the broker reports {seen}"
            )
        time.sleep(0.2)


def read_topic(bootstrap: str, topic: str, limit: int | None = None) -> list[bytes]:
    """The values of ``topic`` from the beginning up to its end as of now (at most ``limit``)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise KafkaRuntimeError(
                f"no topic {topic!r} on {bootstrap}; it has {sorted(list_topics(bootstrap))}"
            )
        parts = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts)
        values: list[bytes] = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in batch)
            if limit is not None and len(values) >= limit:
                return values[:limit]
        return values
    finally:
        consumer.close()


def delete_topics(bootstrap: str, names: list[str]) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="squall-admin")
    try:
        admin.delete_topics(names)
    finally:
        admin.close()


def parse_topics(spec: str) -> dict[str, int]:
    """``"readings:4,alerts:2,dead-letter"`` -> ``{"readings": 4, "alerts": 2, "dead-letter": 1}``."""
    topics: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition(":")
        if not name:
            raise KafkaRuntimeError(
                f"--topics: empty topic name in {spec!r}; use name[:partitions],..."
            )
        if count:
            try:
                partitions = int(count)
            except ValueError:
                partitions = 0
            if partitions < 1:
                raise KafkaRuntimeError(
                    f"--topics: partitions of {name!r} must be a positive integer, got {count!r}"
                )
        else:
            partitions = 1
        topics[name] = partitions
    return topics

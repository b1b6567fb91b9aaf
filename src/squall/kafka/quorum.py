"""A Kafka 4 KRaft quorum of N nodes, one per test host, replicated so one node can be lost.

Every node is a combined broker and controller (``process.roles=broker,controller``) listening
only on its own host's address: clients on ``<address>:9092``, the Raft quorum on
``<address>:9093``. The voters are static (``controller.quorum.voters`` lists every node), so
each node's log dir is formatted with the same cluster id and no ``--standalone``: a node that
comes back after a crash finds its peers from its own configuration.

Durability is the point: topics default to replication factor 3 and ``min.insync.replicas`` 2,
internal topics (group offsets, transactions, share groups) too, and unclean leader election
stays off. With producers on ``acks=all``, a record is acknowledged only once two replicas hold
it, so losing any one node loses nothing acknowledged. The same properties serve real hosts:
:func:`node_properties` takes the addresses, nothing in it is specific to namespaces.

``Quorum(..., secure=True)`` secures it as ``squall kafka start --secure`` does the single
broker (:mod:`squall.kafka.broker_security`, docs/security.md "On the 3-broker test hosts"):
one CA for the cluster, each node's certificate valid for its own address only, the client
listener ``SASL_SSL`` (TLS + SCRAM-SHA-512), the brokers among themselves on that listener as the
``admin`` super user, the SCRAM users formatted into every node, the ACLs granted by
:func:`~squall.kafka.broker_security.grant` from a client host. The Raft/controller listener
at the host's address is ``SSL`` with client certificates required (this cluster's CA only):
each node presents its own certificate to the others, and the nodes' certificate subjects are
the super users (every node registers and heartbeats through it before any ACL exists).

Processes start through a launcher (:class:`squall.netns.TestHosts`: ``popen(host, argv)`` in
that host's namespace) and are stopped by the pid recorded here, never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from squall.kafka.broker import (
    DEFAULT_HEAP,
    KAFKA_MAIN,
    LOG4J2_PROPERTIES,
    STORAGE_TOOL,
    BrokerFolder,
    new_cluster_id,
)
from squall.kafka.broker_security import LISTENER, BrokerSecrets
from squall.kafka.errors import KafkaRuntimeError
from squall.kafka.provision import lib_dir
from squall.kafka.security import PLAIN, ClientSecurity
from squall.netns import TestHosts
from squall.services import java_command, project_root, wait_gone

CLIENT_PORT = 9092
CONTROLLER_PORT = 9093
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
STOP_TIMEOUT_S = 30.0


def node_properties(
    node_id: int,
    address: str,
    voters: Sequence[tuple[int, str]],
    data_dir: Path,
    overrides: Mapping[str, str] | None = None,
) -> str:
    """``server.properties`` of node ``node_id`` at ``address`` in a quorum of ``voters``
    ((node id, address) of every node, this one included); ``overrides`` replace or add keys
    (:func:`secured_properties`)."""
    if node_id not in {voter_id for voter_id, _ in voters}:
        raise KafkaRuntimeError(
            f"node id {node_id} is not among the quorum's voters {[v for v, _ in voters]}"
        )
    if len(voters) < REPLICATION_FACTOR:
        raise KafkaRuntimeError(
            f"a quorum of {len(voters)} node(s) cannot hold replication factor "
            f"{REPLICATION_FACTOR}; give at least {REPLICATION_FACTOR} voters"
        )
    rf, isr = str(REPLICATION_FACTOR), str(MIN_INSYNC_REPLICAS)
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": ",".join(
            f"{vid}@{vaddr}:{CONTROLLER_PORT}" for vid, vaddr in voters
        ),
        "listeners": f"PLAINTEXT://{address}:{CLIENT_PORT},CONTROLLER://{address}:{CONTROLLER_PORT}",
        "advertised.listeners": f"PLAINTEXT://{address}:{CLIENT_PORT}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "default.replication.factor": rf,
        "min.insync.replicas": isr,
        "unclean.leader.election.enable": "false",  # the default, stated: it would lose records
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": isr,
        "transaction.state.log.num.partitions": "3",
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": isr,
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        # A dead node is fenced (and leaves every ISR) after the session timeout; acks=all
        # writes wait for it until then. Default 9 s; 6 s still tolerates a loaded machine's
        # pauses (heartbeats every 1 s).
        "broker.session.timeout.ms": "6000",
        "broker.heartbeat.interval.ms": "1000",
        # Three JVMs share two cores with the clients.
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "log.cleaner.threads": "1",
        "num.replica.fetchers": "1",
        **(overrides or {}),
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def secured_properties(
    address: str, secrets: BrokerSecrets, keystore: Path, nodes: Sequence[str]
) -> dict[str, str]:
    """A secured node's keys over :func:`node_properties`: clients and the other brokers on
    ``SASL_SSL`` at ``address`` (``keystore``: a certificate for that address), the controller
    listener ``SSL`` there, with client certificates: those of ``nodes`` (every node's
    certificate name) are the super users."""
    listener = f"{LISTENER}://{address}:{CLIENT_PORT}"
    return {
        "listeners": f"{listener},CONTROLLER://{address}:{CONTROLLER_PORT}",
        "advertised.listeners": listener,
        **secrets.security_properties(keystore, nodes),
    }


@dataclass(frozen=True)
class Node(BrokerFolder):
    node_id: int
    host: str  # the test host's name
    address: str
    home: Path


class Quorum:
    """One node per named test host; ``format()`` once, then ``start``/``stop``/``kill`` them.
    ``secure``: TLS, SCRAM users and the authorizer (the secrets in ``<home>/secrets``)."""

    def __init__(
        self,
        hosts: TestHosts,
        names: Sequence[str],
        home: Path,
        heap: str = DEFAULT_HEAP,
        secure: bool = False,
    ) -> None:
        if len(names) < REPLICATION_FACTOR:
            raise KafkaRuntimeError(
                f"a quorum needs at least {REPLICATION_FACTOR} hosts; got {list(names)}"
            )
        self.hosts = hosts
        self.heap = heap
        self.secure = secure
        self.secrets = BrokerSecrets(home)
        self.cluster_id = new_cluster_id()
        self.nodes = {
            name: Node(i + 1, name, hosts[name].address, home / name)
            for i, name in enumerate(names)
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{node.address}:{CLIENT_PORT}" for node in self.nodes.values())

    def bootstrap_without(self, name: str) -> str:
        return ",".join(f"{n.address}:{CLIENT_PORT}" for n in self.nodes.values() if n.host != name)

    def security(self, user: str) -> ClientSecurity:
        """How ``user`` connects (PLAINTEXT, any user, when the quorum is not secured)."""
        return self.secrets.client(user) if self.secure else PLAIN

    def node(self, name: str) -> Node:
        if name not in self.nodes:
            raise KafkaRuntimeError(f"no quorum node on host {name!r}; nodes: {list(self.nodes)}")
        return self.nodes[name]

    def name_of(self, node_id: int) -> str:
        for node in self.nodes.values():
            if node.node_id == node_id:
                return node.host
        raise KafkaRuntimeError(f"no quorum node with id {node_id}; nodes: {self.nodes}")

    def format(self) -> None:
        """Write every node's configuration and format its log dir with the one cluster id."""
        voters = [(n.node_id, n.address) for n in self.nodes.values()]
        if self.secure:  # one CA and one set of users for the cluster
            self.secrets.create_authority()
            for node in self.nodes.values():  # a certificate for this node's address only
                self.secrets.issue(node.host, [f"IP:{node.address}"])
        for node in self.nodes.values():
            node.logs_dir.mkdir(parents=True, exist_ok=True)
            overrides = None
            if self.secure:
                keystore = self.secrets.keystore_of(node.host)
                overrides = secured_properties(
                    node.address, self.secrets, keystore, list(self.nodes)
                )
            node.properties_file.write_text(
                node_properties(node.node_id, node.address, voters, node.data_dir, overrides)
            )
            os.chmod(node.properties_file, 0o600)  # a secured one holds the admin's password
            (node.home / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
            # static voters: the plain format (no --standalone / --initial-controllers)
            cmd = [*self._java(node, "-Xmx256m"), STORAGE_TOOL, "format"]
            cmd += ["-t", self.cluster_id, "-c", str(node.properties_file)]
            # the same users on every node (fresh salts each: the passwords are what count)
            cmd += self.secrets.scram_arguments() if self.secure else []
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise KafkaRuntimeError(
                    f"formatting {node.data_dir} of node {node.node_id} failed (exit "
                    f"{out.returncode}): {(out.stderr or out.stdout).strip()[-2000:]}"
                )

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """Start the node of host ``name`` inside that host (its data kept from before)."""
        node = self.node(name)
        running = self.procs.get(name)
        if running is not None and running.poll() is None:
            raise KafkaRuntimeError(
                f"node {node.node_id} on {name} already runs (pid {running.pid})"
            )
        heap = [f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
        cmd = [*self._java(node, *heap), KAFKA_MAIN, str(node.properties_file)]
        with open(node.logs_dir / "console.log", "ab") as console:
            proc = self.hosts.popen(
                name, cmd, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT
            )
        self.procs[name] = proc
        return proc

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop(self, name: str, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """A clean shutdown (SIGTERM: leadership moves first); SIGKILL if it hangs."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        # `ip netns exec` execs the JVM, so the pid is the broker's own
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def kill(self, name: str) -> int:
        """The node's host dies: every process in it killed; returns how many."""
        killed = self.hosts.kill(name)
        proc = self.procs.get(name)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        return killed

    def stop_all(self, timeout_s: float = 15.0) -> None:
        """SIGTERM every node at once (one by one, the last would wait for a lost quorum),
        SIGKILL what is left after ``timeout_s``."""
        alive = [proc for proc in self.procs.values() if proc.poll() is None]
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        for proc in alive:
            if not wait_gone(proc.pid, timeout_s):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def log_tail(self, name: str, lines: int = 40) -> str:
        log = self.node(name).logs_dir / "server.log"
        if not log.is_file():
            return f"(no {log})"
        return f"--- {log} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def _java(self, node: Node, *jvm: str) -> list[str]:
        return [
            java_command(),
            *jvm,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node.logs_dir}",
            "-cp",
            str(lib_dir(project_root()) / "*"),
        ]

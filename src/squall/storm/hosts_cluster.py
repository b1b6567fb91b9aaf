"""A Storm cluster across test hosts (:mod:`squall.netns`): ZooKeeper (Storm's DevZookeeper),
Nimbus and the UI's REST API on one host, one Supervisor on each of the others.

Every host gets its own ``<folder>/<host>/`` with ``conf/storm.yaml`` (``STORM_CONF_DIR`` of the
daemons started there, and so of the workers their Supervisor launches), ``data/`` and
``logs/``. Daemons advertise their host's address (``storm.local.hostname``) and find
ZooKeeper and Nimbus at the Nimbus host's address, so workers on different hosts exchange tuples
over Storm's Netty transport across the bridge. Each host has its own port space, hence the fixed
ports below.

Readiness is asked from inside the Nimbus host (the machine itself has no route to the hosts):
the UI's REST API must list a leading Nimbus and every Supervisor with its slots.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from squall.netns import TestHosts
from squall.storm.bind_shim import bind_env
from squall.storm.cluster import ClusterPorts, end_group, storm_yaml
from squall.storm.errors import StormRuntimeError
from squall.storm.home import StormHome
from squall.storm.launcher import build_invocation

ZOOKEEPER_PORT = 2181
NIMBUS_PORT = 6627
UI_PORT = 8081
SUPERVISOR_PORT = 6628
# Two slots per Supervisor: when one host dies, the other can take its worker too.
SLOT_PORTS = (6700, 6701)
READY_TIMEOUT_S = 180.0
POLL_S = 1.0

# What a host's loss costs before Nimbus moves its workers: Storm's defaults (30 s without
# executor heartbeats, checked every 10 s, a 20 s ZooKeeper session) would make every fault test
# wait a minute; these are the values a small production cluster might pick for fast fail-over.
# nimbus.task.launch.secs is the grace a newly assigned worker gets before missing heartbeats
# count (default 120 s): a host lost in a topology's first two minutes would otherwise wait that
# out. 60 s still covers a worker's JVM and Python start on a busy 2-core machine (~30 s).
# Nimbus's blacklist scheduler keeps a Supervisor that was missing for 3 monitor rounds out of
# every assignment, and keeps it out while its last 300 s hold 3 such rounds (it is released
# after blacklist.scheduler.resume.time.secs, then added again at once): a host back from a
# partition got no worker for 5 minutes. The fault tests lose hosts on purpose, so the test
# cluster sets a tolerance no history can reach; a real cluster should keep Storm's.
FAILOVER_SETTINGS: dict[str, Any] = {
    "nimbus.task.launch.secs": 60,
    "nimbus.task.timeout.secs": 10,
    "nimbus.supervisor.timeout.secs": 10,
    "nimbus.monitor.freq.secs": 2,
    "storm.zookeeper.session.timeout": 8000,
    "blacklist.scheduler.tolerance.count": 1_000_000,
}

# Fetches a URL from inside a host, for hosts_get: prints the body, or one line starting with
# "error:" (a daemon still starting is an expected answer, not a traceback).
FETCH = (
    "import sys, urllib.request\n"
    "try:\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())\n"
    "except Exception as exc:\n"
    "    print('error:', type(exc).__name__, exc)\n"
)


def host_storm_yaml(
    folder: Path, address: str, nimbus_address: str, *, with_slots: bool
) -> dict[str, Any]:
    """One host's storm.yaml: the single-node cluster's settings (stats, heap shares), with
    this host's address advertised and ZooKeeper, Nimbus and the UI at ``nimbus_address``."""
    ports = ClusterPorts(ZOOKEEPER_PORT, NIMBUS_PORT, UI_PORT, SLOT_PORTS, SUPERVISOR_PORT)
    conf = storm_yaml(folder, ports)
    conf.update(
        {
            "storm.zookeeper.servers": [nimbus_address],
            "nimbus.seeds": [nimbus_address],
            "storm.local.hostname": address,
            "ui.host": nimbus_address,
            **FAILOVER_SETTINGS,
        }
    )
    if not with_slots:
        conf.pop("supervisor.slots.ports")
    return conf


@dataclass
class HostDaemon:
    host: str
    name: str  # the `storm` command: dev-zookeeper, nimbus, ui, supervisor
    proc: subprocess.Popen[bytes]


@dataclass
class HostsCluster:
    """Storm on ``hosts`` (already up): ``nimbus_host`` runs ZooKeeper, Nimbus and the UI, each
    of ``supervisor_hosts`` a Supervisor. ``start()`` waits until all are ready; ``stop()`` ends
    every daemon by pid (its process group, with the workers a Supervisor started)."""

    hosts: TestHosts
    folder: Path
    home: StormHome
    nimbus_host: str
    supervisor_hosts: tuple[str, ...]
    daemons: list[HostDaemon] = field(default_factory=list)

    @property
    def nimbus_address(self) -> str:
        return self.hosts[self.nimbus_host].address

    @property
    def ui_url(self) -> str:
        return f"http://{self.nimbus_address}:{UI_PORT}"

    def host_folder(self, host: str) -> Path:
        return self.folder / host

    def host_env(self, host: str) -> dict[str, str]:
        """The environment of `storm` commands run on ``host`` (its own storm.yaml)."""
        return {
            "STORM_CONF_DIR": str(self.host_folder(host) / "conf"),
            "SQUALL_STORM_HOME": str(self.home.path),
            # every daemon and worker listens at the host's address only, not on the host's
            # other interfaces (its loopback): Storm has no setting for it (bind_shim)
            **bind_env(self.home.path, self.hosts[host].address),
        }

    # ---------------------------------------------------------------- start / stop

    def start(self, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        """Write each host's storm.yaml, start the daemons, wait until the UI lists a leading
        Nimbus and every Supervisor; on any failure stop what was started and raise."""
        self.home.require()
        for host in (self.nimbus_host, *self.supervisor_hosts):
            for sub in ("conf", "data", "logs"):
                (self.host_folder(host) / sub).mkdir(parents=True, exist_ok=True)
            conf = host_storm_yaml(
                self.host_folder(host),
                self.hosts[host].address,
                self.nimbus_address,
                with_slots=host in self.supervisor_hosts,
            )
            (self.host_folder(host) / "conf" / "storm.yaml").write_text(
                f"# Written by squall.storm.hosts_cluster: host {host!r}'s settings.\n"
                + yaml.safe_dump(conf, sort_keys=False)
            )
        try:
            self._launch(self.nimbus_host, "dev-zookeeper")
            self._wait(lambda: self._port_answers(ZOOKEEPER_PORT), "ZooKeeper", ready_timeout_s)
            self._launch(self.nimbus_host, "nimbus")
            self._launch(self.nimbus_host, "ui")
            for host in self.supervisor_hosts:
                self._launch(host, "supervisor")
            self._wait(self._all_registered, "Nimbus and the Supervisors", ready_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _launch(self, host: str, command: str) -> None:
        conf_dir = self.host_folder(host) / "conf"
        invocation = build_invocation([command], StormHome(self.home.path, conf=conf_dir))
        env = {**os.environ, **invocation.env, **self.host_env(host)}
        log_path = self.host_folder(host) / "logs" / f"{command}.out"
        with open(log_path, "ab") as log:  # the child keeps its own descriptor
            proc = self.hosts.popen(
                host,
                invocation.argv,
                cwd=self.host_folder(host),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.daemons.append(HostDaemon(host, command, proc))

    def stop(self) -> None:
        """End every daemon this cluster started (newest first), by pid and process group.
        `ip netns exec` execs the daemon, so the pid is the daemon's and leads its group."""
        while self.daemons:
            daemon = self.daemons.pop()
            if daemon.proc.poll() is None:
                end_group(daemon.proc.pid)
            daemon.proc.wait(timeout=10)

    def restart_exited(self, host: str) -> list[str]:
        """Start again every daemon of ``host`` that has exited; their names.

        Storm's daemons are fail-fast and expect a process supervisor (systemd, supervisord) to
        restart them: a Supervisor halts once it cannot reach ZooKeeper for its session
        timeout, as behind a network partition. This is that restart, after the partition."""
        restarted = []
        for daemon in [d for d in self.daemons if d.host == host and d.proc.poll() is not None]:
            self.daemons.remove(daemon)
            self._launch(host, daemon.name)
            restarted.append(daemon.name)
        return restarted

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until the UI lists a leading Nimbus and every Supervisor with its slots again."""
        self._wait(self._all_registered, "Nimbus and the Supervisors", timeout_s)

    # ---------------------------------------------------------------- readiness

    def _wait(self, ready: Callable[[], bool], what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for daemon in self.daemons:
                if daemon.proc.poll() is not None:
                    raise StormRuntimeError(
                        f"the {daemon.name} on host {daemon.host!r} exited with "
                        f"{daemon.proc.returncode} while waiting for {what}:\n"
                        + self.log_tail(daemon.host, daemon.name)
                    )
            if ready():
                return
            time.sleep(POLL_S)
        raise StormRuntimeError(
            f"{what} not ready after {timeout_s:.0f}s; last supervisor summary: "
            f"{self.get('/api/v1/supervisor/summary')}\n"
            + "\n".join(self.log_tail(d.host, d.name) for d in self.daemons)
        )

    def _port_answers(self, port: int) -> bool:
        probe = (
            "import socket, sys\n"
            "s = socket.socket(); s.settimeout(1)\n"
            "sys.exit(s.connect_ex((sys.argv[1], int(sys.argv[2]))))\n"
        )
        argv = [sys.executable, "-c", probe, self.nimbus_address, str(port)]
        return self.hosts.popen(self.nimbus_host, argv).wait(timeout=20) == 0

    def _all_registered(self) -> bool:
        """Nimbus answers the UI (a single seed leads) and every Supervisor host is listed with
        all its slots, at its own address."""
        supervisors = self.get("/api/v1/supervisor/summary")
        if not isinstance(supervisors, dict):
            return False
        registered = {
            s["host"] for s in supervisors["supervisors"] if s["slotsTotal"] >= len(SLOT_PORTS)
        }
        return {self.hosts[h].address for h in self.supervisor_hosts} <= registered

    def get(self, path: str) -> Any:
        """The UI REST API's JSON answer for ``path``, fetched from inside the Nimbus host; a
        string starting with "error:" when it did not answer (yet)."""
        proc = self.hosts.popen(
            self.nimbus_host,
            [sys.executable, "-c", FETCH, self.ui_url + path],
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = proc.communicate(timeout=30)
        text = out.strip()
        if text.startswith("error:"):
            return text
        try:
            return json.loads(text)
        except ValueError:
            return f"error: not JSON from {self.ui_url + path}: {text[:300]!r}"

    def log_tail(self, host: str, daemon: str, lines: int = 20) -> str:
        """The end of a daemon's console output and log file on ``host``, for error messages."""
        chunks = []
        logs = self.host_folder(host) / "logs"
        for path in (logs / f"{daemon}.out", logs / f"{daemon}.log"):
            if path.is_file():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(chunks) or f"(no log of the {daemon} in {logs})"

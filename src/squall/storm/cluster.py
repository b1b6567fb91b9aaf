"""A single-node Storm cluster on this machine: ZooKeeper (Storm's DevZookeeper), Nimbus, one
Supervisor with two worker slots, and the UI's REST API (:mod:`squall.storm.ui`).

Everything a cluster has lives in one folder (default ``.runtime/storm/cluster``): its own
``conf/storm.yaml`` (ports, dirs), ``data/`` (ZooKeeper, Nimbus and Supervisor state, worker
folders), ``logs/`` (daemon logs, ``workers-artifacts/<topology>/<port>/worker.log``) and
``cluster.json`` (ports, and each daemon's pid and start time, so ``stop`` ends exactly the
processes ``start`` began). Each daemon runs in its own process group; the Supervisor's group
also holds the workers it launches and their Python subprocesses.

DevZookeeper wipes its data at start, so a (re)started cluster starts empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from squall.services import HOST, free_port, port_open
from squall.storm.bind_shim import bind_env
from squall.storm.errors import StormRuntimeError
from squall.storm.home import StormHome
from squall.storm.launcher import build_invocation
from squall.storm.nimbus import nimbus_client

DAEMONS = ("zookeeper", "nimbus", "supervisor", "ui")
LAUNCH_COMMAND = {
    "zookeeper": "dev-zookeeper",
    "nimbus": "nimbus",
    "supervisor": "supervisor",
    "ui": "ui",
}
DEFAULT_NIMBUS_PORT = 6627  # what config.json's "local" env points sparse at
DEFAULT_UI_PORT = 8081  # not Storm's 8080, a port many other tools take
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.5


@dataclass(frozen=True)
class ClusterPorts:
    zookeeper: int
    nimbus: int
    ui: int
    slots: tuple[int, ...]
    supervisor: int  # the Supervisor's own Thrift port (workers report to it)


@dataclass(frozen=True)
class DaemonProcess:
    pid: int
    create_time: float

    def process(self) -> psutil.Process | None:
        """The live process, or None when it ended (or its pid now belongs to another one)."""
        try:
            proc = psutil.Process(self.pid)
            if (
                abs(proc.create_time() - self.create_time) > 1.0
                or proc.status() == psutil.STATUS_ZOMBIE
            ):
                return None
            return proc
        except psutil.NoSuchProcess:
            return None


@dataclass
class ClusterState:
    folder: str
    ports: ClusterPorts
    daemons: dict[str, DaemonProcess] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ClusterState:
        raw = json.loads(text)
        ports = raw["ports"]
        return cls(
            folder=raw["folder"],
            ports=ClusterPorts(
                ports["zookeeper"],
                ports["nimbus"],
                ports["ui"],
                tuple(ports["slots"]),
                ports["supervisor"],
            ),
            daemons={name: DaemonProcess(**d) for name, d in raw["daemons"].items()},
        )


def storm_yaml(folder: Path, ports: ClusterPorts) -> dict[str, Any]:
    """The cluster's storm.yaml. Components' heap share is small on purpose: Python components
    live outside the JVM, and Storm's default (128 MB per executor) would not fit a topology of a
    dozen executors into the 2 slots of a development machine."""
    return {
        "storm.zookeeper.servers": [HOST],
        "storm.zookeeper.port": ports.zookeeper,
        "dev.zookeeper.path": str(folder / "data" / "zookeeper"),
        "nimbus.seeds": [HOST],
        "nimbus.thrift.port": ports.nimbus,
        "storm.local.hostname": "localhost",
        "storm.local.dir": str(folder / "data"),
        "storm.log.dir": str(folder / "logs"),
        "supervisor.slots.ports": list(ports.slots),
        "supervisor.thrift.port": ports.supervisor,
        "ui.host": HOST,
        "ui.port": ports.ui,
        "nimbus.childopts": "-Xmx256m",
        "supervisor.childopts": "-Xmx160m",
        "worker.heap.memory.mb": 256,
        "topology.component.resources.onheap.memory.mb": 32.0,
        # Storm counts 5% of tuples (x20) by default; count every one so the UI's numbers are exact.
        "topology.stats.sample.rate": 1.0,
        # Workers send their executors' stats to Nimbus (and so to the UI) this often; Storm's
        # default, 60 s, leaves the UI blank for the first minute of a topology.
        "executor.metrics.frequency.secs": 5,
    }


class StormCluster:
    """Start, stop and inspect the cluster kept in ``folder``."""

    def __init__(self, folder: Path | None = None, home: StormHome | None = None) -> None:
        self.home = home or StormHome.default()
        self.folder = (folder or self.home.path / "cluster").resolve()
        self.state_file = self.folder / "cluster.json"
        self.conf_dir = self.folder / "conf"

    # ---------------------------------------------------------------- state

    def state(self) -> ClusterState | None:
        if not self.state_file.is_file():
            return None
        text = self.state_file.read_text()
        try:
            return ClusterState.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise StormRuntimeError(
                f"cannot read the cluster state {self.state_file} ({type(exc).__name__}: {exc}); "
                f"it holds:\n{text}\nend the pids listed there, then delete the file"
            ) from exc

    def _save(self, state: ClusterState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)  # stop() must work even if it was removed
        self.state_file.write_text(state.to_json())

    def env(self) -> dict[str, str]:
        """Environment for `storm` commands aimed at this cluster (``STORM_CONF_DIR``)."""
        return {"STORM_CONF_DIR": str(self.conf_dir), "SQUALL_STORM_HOME": str(self.home.path)}

    # ---------------------------------------------------------------- start

    def start(
        self,
        nimbus_port: int = DEFAULT_NIMBUS_PORT,
        ui_port: int = DEFAULT_UI_PORT,
        zookeeper_port: int = 0,
        ready_timeout_s: float = READY_TIMEOUT_S,
        progress: Any = print,
    ) -> ClusterState:
        """Start all four daemons and wait until Nimbus leads and the Supervisor offers its slots.

        Port 0 means "pick a free one". Raises if this folder's cluster already runs, if a port is
        taken, or if a daemon dies or is not ready in time (its log is quoted).
        """
        self.home.require()
        current = self.state()
        if current is not None and any(d.process() for d in current.daemons.values()):
            raise StormRuntimeError(
                f"a cluster already runs from {self.folder} (nimbus port {current.ports.nimbus}); "
                "stop it first with `squall storm stop`"
            )
        ports = ClusterPorts(
            zookeeper=zookeeper_port or free_port(),
            nimbus=nimbus_port or free_port(),
            ui=ui_port or free_port(),
            slots=(free_port(), free_port()),
            supervisor=free_port(),
        )
        for name, port in (
            ("zookeeper", ports.zookeeper),
            ("nimbus", ports.nimbus),
            ("ui", ports.ui),
        ):
            if port_open(port):
                raise StormRuntimeError(
                    f"port {port} wanted for the {name} is already in use on {HOST}; "
                    f"pick another with --{name}-port (0 = any free port)"
                )
        # DevZookeeper wipes its data at start; the rest of data/ must go with it or Nimbus and
        # the Supervisor would look for topologies ZooKeeper no longer knows.
        shutil.rmtree(self.folder / "data", ignore_errors=True)
        for sub in ("data", "logs", "conf"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "storm.yaml").write_text(
            "# Written by `squall storm start`: this cluster's settings.\n"
            + yaml.safe_dump(storm_yaml(self.folder, ports), sort_keys=False)
        )
        state = ClusterState(str(self.folder), ports)
        self._save(state)
        try:
            for daemon in DAEMONS:
                progress(f"[storm] starting {daemon}")
                state.daemons[daemon] = self._launch(daemon)
                self._save(state)
                self._wait_ready(daemon, state, ready_timeout_s)
            # A daemon can look ready and then die (e.g. the Supervisor registers with ZooKeeper
            # before finding its Thrift port taken): check them all once more.
            time.sleep(2 * POLL_S)
            for daemon, entry in state.daemons.items():
                if entry.process() is None:
                    raise StormRuntimeError(
                        f"the {daemon} exited right after start-up:\n{self.log_tail(daemon)}"
                    )
        except BaseException:
            self.stop(progress=lambda _m: None)
            raise
        progress(
            f"[storm] cluster up: nimbus {HOST}:{ports.nimbus}, UI http://{HOST}:{ports.ui}/api/v1/cluster/summary, "
            f"zookeeper {HOST}:{ports.zookeeper}, slots {list(ports.slots)}; logs in {self.folder / 'logs'}"
        )
        return state

    def _launch(self, daemon: str) -> DaemonProcess:
        home = StormHome(self.home.path, conf=self.conf_dir)
        invocation = build_invocation([LAUNCH_COMMAND[daemon]], home)
        # on 127.0.0.1 only, workers too (they inherit it): see squall.storm.bind_shim
        env = {**os.environ, **invocation.env, **self.env(), **bind_env(self.home.path, HOST)}
        log = open(self.folder / "logs" / f"{daemon}.out", "ab")  # noqa: SIM115 (the child owns it)
        with log:
            proc = subprocess.Popen(
                invocation.argv,
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: stop() ends the daemon and whatever it started (workers).
                start_new_session=True,
            )
        return DaemonProcess(proc.pid, psutil.Process(proc.pid).create_time())

    def _ready(self, daemon: str, ports: ClusterPorts) -> bool:
        if daemon == "zookeeper":
            return port_open(ports.zookeeper)
        if daemon == "ui":
            try:
                with urllib.request.urlopen(
                    f"http://{HOST}:{ports.ui}/api/v1/cluster/summary", timeout=5
                ) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False
        if not port_open(ports.nimbus):
            return False
        try:
            with nimbus_client(HOST, ports.nimbus) as nimbus:
                summary = nimbus.getClusterInfo()
        except Exception:  # Nimbus still starting (thrift errors vary): try again
            return False
        if daemon == "nimbus":
            return any(n.isLeader for n in summary.nimbuses)
        return any(s.num_workers >= len(ports.slots) for s in summary.supervisors)

    def _wait_ready(self, daemon: str, state: ClusterState, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if state.daemons[daemon].process() is None:
                raise StormRuntimeError(
                    f"the {daemon} exited during start-up:\n{self.log_tail(daemon)}"
                )
            if self._ready(daemon, state.ports):
                return
            time.sleep(POLL_S)
        raise StormRuntimeError(
            f"the {daemon} was not ready after {timeout_s:.0f}s:\n{self.log_tail(daemon)}"
        )

    def log_tail(self, daemon: str, lines: int = 30) -> str:
        """The end of a daemon's console output and its log file, for error messages."""
        chunks = []
        for path in (
            self.folder / "logs" / f"{daemon}.out",
            self.folder / "logs" / f"{LAUNCH_COMMAND[daemon]}.log",
        ):
            if path.is_file():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(chunks) or f"(no log in {self.folder / 'logs'})"

    # ---------------------------------------------------------------- stop / status

    def stop(self, progress: Any = print) -> None:
        """End the daemons this folder's ``start`` began (and the Supervisor's workers)."""
        state = self.state()
        if state is None:
            progress(f"[storm] no cluster state in {self.folder}: nothing to stop")
            return
        for daemon in reversed(DAEMONS):
            entry = state.daemons.get(daemon)
            if entry is None:
                continue
            proc = entry.process()
            if proc is not None:
                progress(f"[storm] stopping {daemon} (pid {entry.pid})")
                end_group(entry.pid)
            state.daemons.pop(daemon)
            self._save(state)

    def status(self) -> dict[str, Any]:
        """Each daemon's pid and liveness, the ports, and (when Nimbus answers) the topologies."""
        state = self.state()
        if state is None:
            return {"folder": str(self.folder), "running": False, "daemons": {}}
        daemons = {
            name: {"pid": d.pid, "alive": d.process() is not None}
            for name, d in state.daemons.items()
        }
        report: dict[str, Any] = {
            "folder": str(self.folder),
            "running": bool(daemons) and all(d["alive"] for d in daemons.values()),
            "ports": asdict(state.ports),
            "daemons": daemons,
        }
        with contextlib.suppress(Exception):
            with nimbus_client(HOST, state.ports.nimbus, timeout_ms=3000) as nimbus:
                summary = nimbus.getClusterInfo()
            report["supervisors"] = [
                {"host": s.host, "slots": s.num_workers, "used": s.num_used_workers}
                for s in summary.supervisors
            ]
            report["topologies"] = [
                {"name": t.name, "id": t.id, "status": t.status} for t in summary.topologies
            ]
        return report

    def worker_processes(self) -> list[psutil.Process]:
        """The worker JVMs the Supervisor runs now (not their LogWriter parents)."""
        state = self.state()
        entry = state.daemons.get("supervisor") if state else None
        proc = entry.process() if entry else None
        if proc is None:
            return []
        workers = []
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                cmdline = child.cmdline()
                # The LogWriter's command line holds the worker's too: skip it.
                if (
                    "org.apache.storm.daemon.worker.Worker" in cmdline
                    and "org.apache.storm.LogWriter" not in cmdline
                ):
                    workers.append(child)
        return workers


def end_group(pid: int) -> None:
    """SIGTERM the process group ``pid`` leads, then SIGKILL whatever is left after a while."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(POLL_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    for proc in psutil.process_iter(["pid", "status"]):
        # A process can end between the listing and getpgid (ProcessLookupError): it is not alive.
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.info["pid"]) == pgid:
                return True
    return False


@contextlib.contextmanager
def running_cluster(folder: Path, **start_args: Any) -> Iterator[StormCluster]:
    """A started cluster for the ``with`` block; stopped afterwards whatever happens."""
    cluster = StormCluster(folder)
    cluster.start(**start_args)
    try:
        yield cluster
    finally:
        cluster.stop(progress=lambda _m: None)

"""Test hosts on one machine: Linux network namespaces on a private bridge (root only).

``TestHosts(["nimbus", "super1", "super2"]).up()`` gives each name a network namespace with
its own address (``10.231.<subnet>.<n>/24``, a private range used only inside these
namespaces), joined by veth pairs to a bridge in the root namespace that has no address and no
route out: nothing these hosts send can leave the machine. A daemon started with
``popen(host, argv)`` sees only its host's interfaces, so it is reachable only at that host's
address, as on a real host. ``kill(host)`` kills every process in a namespace (a host dying),
``cut(host)``/``mend(host)`` takes its link down and up (a network partition).

Everything made is recorded in ``.runtime/netns/<tag>.json`` with the owning process's pid;
``down()`` kills by pid (``ip netns pids``), deletes the namespaces and the bridge, and
``remove_leftovers()`` does the same for records whose owner is gone (a test run killed
before it could clean up).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.errors import ServiceError
from squall.services import project_root

ADDRESS_PREFIX = "10.231"  # private (RFC 1918); only ever configured inside these namespaces
STATE_DIR_NAME = "netns"


class NetnsError(ServiceError):
    """A namespace, link or address could not be made or removed; the message has the command."""


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    address: str
    link: str  # the veth end in the root namespace, on the bridge (cut/mend it)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and out.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {out.stderr.strip() or out.returncode}")
    return out


def state_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / ".runtime" / STATE_DIR_NAME


class TestHosts:
    """A set of named test hosts; ``up()`` makes them, ``down()`` removes everything made."""

    __test__ = False  # a helper, not a pytest class

    def __init__(self, names: Sequence[str], tag: str | None = None) -> None:
        if not names or len(set(names)) != len(names) or len(names) > 250:
            raise NetnsError(f"host names must be 1-250 distinct names; got {list(names)}")
        pid = os.getpid()
        # short: interface names are at most 15 characters ("sq" + tag + index + h/n)
        self.tag = tag or format(pid % 0xFFFF, "x")
        self.subnet = 1 + (pid % 250)  # concurrent test sessions get different subnets
        self.bridge = f"sq{self.tag}br"
        self.hosts = {
            name: Host(
                name,
                f"sq{self.tag}-{name}",
                f"{ADDRESS_PREFIX}.{self.subnet}.{i + 2}",
                f"sq{self.tag}{i}h",
            )
            for i, name in enumerate(names)
        }
        self.state_file = state_dir() / f"{self.tag}.json"
        self.pids: list[int] = []

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    # ------------------------------------------------------------------ lifecycle
    def up(self) -> TestHosts:
        self._record()  # first: a failure half-way is still cleaned up by down()
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("link", "set", self.bridge, "up")
        for i, host in enumerate(self.hosts.values()):
            inner = f"sq{self.tag}{i}n"
            _ip("netns", "add", host.netns)
            _ip("link", "add", host.link, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", host.netns)
            _ip("link", "set", host.link, "master", self.bridge)
            _ip("link", "set", host.link, "up")
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", inner)
            _ip("-n", host.netns, "link", "set", inner, "up")
            _ip("-n", host.netns, "link", "set", "lo", "up")
        return self

    def down(self) -> None:
        """Kill every process in the namespaces (by pid), then remove them and the bridge."""
        for host in self.hosts.values():
            self.kill(host)
            _ip("netns", "del", host.netns, check=False)
            _ip("link", "del", host.link, check=False)  # gone with its peer, usually
        _ip("link", "del", self.bridge, check=False)
        self.state_file.unlink(missing_ok=True)

    @contextmanager
    def running(self) -> Iterator[TestHosts]:
        """``with TestHosts([...]).running() as hosts:`` -- down() also on failure."""
        try:
            yield self.up()
        finally:
            self.down()

    # ------------------------------------------------------------------ processes
    def popen(self, host: Host | str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside ``host``'s namespace (its own session, so a Ctrl-C of the
        test does not reach it; stopped by ``kill``/``down``)."""
        h = self.hosts[host] if isinstance(host, str) else host
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(["ip", "netns", "exec", h.netns, *argv], **kwargs)
        self.pids.append(proc.pid)
        return proc

    def pids_in(self, host: Host | str) -> list[int]:
        h = self.hosts[host] if isinstance(host, str) else host
        out = _ip("netns", "pids", h.netns, check=False)
        return [int(p) for p in out.stdout.split() if p.isdigit()]

    def kill(self, host: Host | str, sig: int = signal.SIGKILL, wait_s: float = 10.0) -> int:
        """Every process of the host killed (the host dies); returns how many there were."""
        pids = self.pids_in(host)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while self.pids_in(host) and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(pids)

    def cut(self, host: Host | str) -> None:
        """The host's link down: it is alive but unreachable (and reaches no one)."""
        h = self.hosts[host] if isinstance(host, str) else host
        _ip("link", "set", h.link, "down")

    def mend(self, host: Host | str) -> None:
        h = self.hosts[host] if isinstance(host, str) else host
        _ip("link", "set", h.link, "up")

    # ------------------------------------------------------------------ records
    def _record(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "owner": os.getpid(),
            "bridge": self.bridge,
            "hosts": {h.name: [h.netns, h.address, h.link] for h in self.hosts.values()},
        }
        self.state_file.write_text(json.dumps(record, indent=2) + "\n")

    @classmethod
    def remove_leftovers(cls) -> list[str]:
        """Remove the hosts of records whose owner process is gone; their tags."""
        removed = []
        folder = state_dir()
        for record_file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                record = json.loads(record_file.read_text())
            except (OSError, ValueError):
                continue
            if Path(f"/proc/{record.get('owner')}").exists():
                continue
            leftover = cls(list(record["hosts"]), tag=record_file.stem)
            leftover.down()
            removed.append(record_file.stem)
        return removed


def available() -> str | None:
    """None when namespaces can be made here; else why not (not root, no ``ip``)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        _ip("netns", "list")
    except (OSError, NetnsError) as exc:
        return f"`ip netns` does not work here: {exc}"
    return None

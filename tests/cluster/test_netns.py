"""squall.netns: test hosts in network namespaces, reachable only at their own address and
removed without a trace (issue 15, item 1)."""

from __future__ import annotations

import json
import subprocess
import sys

from squall.netns import TestHosts, available, state_dir
from tests.polling import eventually


def test_namespaces_can_be_made_here() -> None:
    assert available() is None  # the project's machine runs tests as root


SERVER = (
    "import socket,sys\n"
    "s=socket.socket(); s.bind((sys.argv[1], 7777)); s.listen()\n"
    "while True:\n"
    "    c,_=s.accept(); c.sendall(b'hello from '+sys.argv[1].encode()); c.close()\n"
)
CLIENT = (
    "import socket,sys\n"
    "try:\n"
    "    s=socket.create_connection((sys.argv[1], 7777), timeout=2); print(s.recv(64).decode())\n"
    "except OSError as e:\n"
    "    print('refused:', type(e).__name__)\n"
)


def ask(hosts: TestHosts, source: str, target: str) -> str:
    """What ``source`` gets connecting to ``target``:7777 (from inside its namespace)."""
    proc = hosts.popen(
        source, [sys.executable, "-c", CLIENT, target], stdout=subprocess.PIPE, text=True
    )
    out_text, _ = proc.communicate(timeout=20)
    return str(out_text).strip()


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_hosts_reach_each_other_at_their_addresses_and_nothing_else() -> None:
    hosts = TestHosts(["a", "b"])
    with hosts.running():
        b = hosts["b"]
        server = hosts.popen(b, [sys.executable, "-c", SERVER, b.address])
        greeting = f"hello from {b.address}"
        eventually(lambda: ask(hosts, "a", b.address) == greeting, "b's server", every_s=0.2)
        # the bridge has no address, and the hosts no gateway: no route out of them, and the
        # machine's own routes do not lead to them (no packet is sent to find out)
        route = subprocess.run(["ip", "route", "get", b.address], capture_output=True, text=True)
        assert hosts.bridge not in route.stdout
        inside = hosts.popen("a", ["ip", "route"], stdout=subprocess.PIPE, text=True)
        routes, _ = inside.communicate(timeout=10)
        assert "default" not in routes and routes.strip().count("\n") == 0  # its subnet only
        # a's own loopback is its own: b's server is not there
        assert ask(hosts, "a", "127.0.0.1").startswith("refused:")

        hosts.cut(b)
        assert ask(hosts, "a", b.address).startswith("refused:")
        hosts.mend(b)
        assert ask(hosts, "a", b.address) == greeting

        assert hosts.kill(b) >= 1  # the host dies with every process in it
        assert server.wait(timeout=10) != 0
        assert ask(hosts, "a", b.address).startswith("refused:")
    assert hosts["a"].netns not in namespaces() and hosts["b"].netns not in namespaces()
    assert hosts.bridge not in links()
    assert not hosts.state_file.exists()


def test_leftovers_of_a_dead_owner_are_removed() -> None:
    hosts = TestHosts(["x"], tag="dead1")
    hosts.up()
    record = json.loads(hosts.state_file.read_text())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record["owner"] = dead.pid  # a test run that was killed before its clean-up
    hosts.state_file.write_text(json.dumps(record))
    try:
        assert "dead1" in TestHosts.remove_leftovers()
        assert hosts["x"].netns not in namespaces()
        assert not (state_dir() / "dead1.json").exists()
    finally:
        hosts.down()

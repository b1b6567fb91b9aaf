"""squall.storm.bind_shim: the preloaded bind() that keeps Storm's daemons on one address.
Tried on a Python child here (any program's wildcard bind goes through libc's bind); the Storm
tests list the sockets of the real daemons (test_storm_cluster.py, test_storm_local.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from squall.storm.bind_shim import bind_env, shim_library
from squall.storm.errors import StormRuntimeError

# binds a listening IPv4 and a dual-stack IPv6 socket to the wildcard, a third to 127.0.0.2
CHILD = """
import json, socket
v4 = socket.socket(socket.AF_INET); v4.bind(("0.0.0.0", 0)); v4.listen()
v6 = socket.socket(socket.AF_INET6); v6.bind(("::", 0)); v6.listen()
own = socket.socket(socket.AF_INET); own.bind(("127.0.0.2", 0)); own.listen()
print(json.dumps([v4.getsockname()[0], v6.getsockname()[0], own.getsockname()[0]]))
"""


def bound_addresses(env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def test_wildcard_binds_become_the_chosen_address(tmp_path: Path) -> None:
    assert bound_addresses({}) == ["0.0.0.0", "::", "127.0.0.2"]  # without the shim
    v4, v6, own = bound_addresses(bind_env(tmp_path, "127.0.0.1"))
    assert (v4, v6) == ("127.0.0.1", "::ffff:127.0.0.1")
    assert own == "127.0.0.2"  # a bind to a given address is left alone


def test_the_library_is_built_once_per_source(tmp_path: Path) -> None:
    first = shim_library(tmp_path)
    built_at = first.stat().st_mtime_ns
    assert shim_library(tmp_path) == first and first.stat().st_mtime_ns == built_at


@pytest.mark.parametrize(
    ("address", "named"), [("localhost", "not an IPv4 address"), ("0.0.0.0", "wildcard")]
)
def test_an_address_that_is_not_one_host_is_refused(
    tmp_path: Path, address: str, named: str
) -> None:
    with pytest.raises(StormRuntimeError, match=named):
        bind_env(tmp_path, address)


def test_no_compiler_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, no gcc
    with pytest.raises(StormRuntimeError, match="no C compiler"):
        shim_library(tmp_path / "home")

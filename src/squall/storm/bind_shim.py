"""Keep the Storm daemons squall starts off the machine's other interfaces.

Storm 2.8 has no setting for the address Nimbus, the Supervisor, a worker's Netty server or
DevZookeeper listen on: each binds the wildcard address, i.e. every interface of the machine,
and health data would be one open port away from the network. ``bind_shim.c`` (next to this
module) replaces libc's ``bind`` in those JVMs: a bind to the wildcard address becomes a bind to
``$SQUALL_BIND_ADDRESS``. It is compiled once per source version into the Storm home
(``<home>/bind-shim/``, git-ignored with the rest of ``.runtime/``), and preloaded with
``LD_PRELOAD`` into each daemon; the Supervisor's workers inherit the environment, so they bind
the same address. ``squall storm start`` binds 127.0.0.1; the multi-host cluster binds each
host's own address (docs/cluster.md).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

from squall.storm.errors import StormRuntimeError

SOURCE = Path(__file__).with_name("bind_shim.c")
ADDRESS_ENV = "SQUALL_BIND_ADDRESS"


def shim_library(home: Path) -> Path:
    """The compiled shim in ``home`` (built now if missing or built from an older source)."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:12]
    library = home / "bind-shim" / f"libsquallbind-{digest}.so"
    if library.is_file():
        return library
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise StormRuntimeError(
            "no C compiler (cc or gcc) on PATH to build the bind shim that keeps Storm's "
            "daemons on one address; install one (Debian: apt-get install gcc)"
        )
    library.parent.mkdir(parents=True, exist_ok=True)
    partial = library.with_suffix(".so.partial")  # a crash mid-build leaves no broken library
    result = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(SOURCE), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StormRuntimeError(
            f"building the bind shim {SOURCE} with {compiler} failed "
            f"(exit {result.returncode}):\n{result.stderr.strip()}"
        )
    partial.replace(library)
    return library


def bind_env(home: Path, address: str) -> dict[str, str]:
    """The environment that makes a JVM (and what it starts) listen on ``address`` only."""
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        raise StormRuntimeError(
            f"bind address {address!r} is not an IPv4 address; the Storm daemons need one "
            "such as 127.0.0.1 or the host's own address"
        ) from None
    if parsed.is_unspecified:
        raise StormRuntimeError(
            f"bind address {address} is the wildcard: the point of the bind shim is to "
            "listen on one address; give the host's own address"
        )
    library = str(shim_library(home))
    preloaded = os.environ.get("LD_PRELOAD", "")  # the user's own preloads still apply
    preload = f"{library}:{preloaded}" if preloaded and library not in preloaded else library
    return {"LD_PRELOAD": preload, ADDRESS_ENV: str(parsed)}

"""Local services: the project checkout, free ports, Java, waiting for a process to go.

The project's Kafka broker (``squall.kafka``) and Storm cluster (``squall.storm``) are Java
programs provisioned into the checkout's ``.runtime/`` and run on 127.0.0.1. What both need from
this machine lives here, once: where the checkout is, which ports are free or answer, which
``java`` to launch, and when a process they stopped has really ended.

Only the standard library, psutil and ``squall.errors`` are imported: this module sits below
every area of squall. Its errors are :class:`~squall.errors.ServiceError`, the base of the areas'
``KafkaRuntimeError`` and ``StormRuntimeError``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path

import psutil

from squall.errors import ServiceError

HOST = "127.0.0.1"  # every local service binds to loopback only
# A folder holding one of these is the squall checkout (see project_root).
RUNTIME_POMS = ("runtime/kafka/pom.xml", "runtime/storm/pom.xml")


def project_root() -> Path:
    """The squall checkout: the folder holding ``runtime/kafka/pom.xml`` or
    ``runtime/storm/pom.xml`` (the Maven files the runtimes are assembled from).

    Looked up from this file first (an editable install), then in the working directory and its
    parents (squall installed elsewhere, run from inside the checkout).
    """
    here = Path(__file__).resolve()
    cwd = Path.cwd().resolve()
    for folder in [here.parents[2], cwd, *cwd.parents]:
        if any((folder / pom).is_file() for pom in RUNTIME_POMS):
            return folder
    raise ServiceError(
        f"cannot find the squall project (a folder with {' or '.join(RUNTIME_POMS)}) above "
        f"{here} or {cwd}; run squall from inside the project checkout"
    )


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port`` (within half a second)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when ``host:port`` can be bound now (SO_REUSEADDR: a port left in TIME_WAIT by a
    stopped service counts as free, as it does for the service binding it again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def java_command() -> str:
    """``$JAVA_HOME/bin/java`` when JAVA_HOME is set (as Storm's and Kafka's scripts do), else
    the ``java`` on PATH. Kafka 4 and Storm 2.8 both need Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if not java.is_file():
            raise ServiceError(f"JAVA_HOME={java_home} has no bin/java; unset it or fix it")
        return str(java)
    found = shutil.which("java")
    if not found:
        raise ServiceError(
            "no `java` on PATH and JAVA_HOME unset: Kafka 4 and Storm 2.8 need Java 17+; "
            "install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)"
        )
    return found


def pid_running(pid: int) -> bool:
    """True when process ``pid`` exists and has not ended. A zombie (ended, its exit status not
    yet collected by its parent) is not running."""
    try:
        status: str = psutil.Process(pid).status()
        return bool(status != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: int, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Wait until process ``pid`` has ended; True if it did within ``timeout_s``.

    A child of this process is reaped on the way, so it does not linger as a zombie.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
            os.waitpid(pid, os.WNOHANG)
        if not pid_running(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)

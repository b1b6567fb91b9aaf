"""squall.services: the checkout, ports, Java and process ends the Kafka and Storm runtimes share."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from squall import services
from squall.errors import ServiceError, SquallError
from squall.kafka.errors import KafkaRuntimeError
from squall.storm.errors import StormRuntimeError

ROOT = Path(__file__).resolve().parents[2]


def test_both_runtimes_errors_are_service_errors() -> None:
    assert issubclass(KafkaRuntimeError, ServiceError)
    assert issubclass(StormRuntimeError, ServiceError)
    assert issubclass(ServiceError, SquallError)


def test_the_project_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert services.project_root() == ROOT


def test_a_port_is_free_until_something_listens_on_it() -> None:
    port = services.free_port()
    assert services.port_is_free(port) and not services.port_open(port)
    with socket.socket() as listener:
        listener.bind((services.HOST, port))
        listener.listen()
        assert services.port_open(port) and not services.port_is_free(port)


def test_a_java_home_without_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    expected = f"JAVA_HOME={tmp_path} has no bin/java; unset it or fix it"
    with pytest.raises(ServiceError, match=re.escape(expected)):
        services.java_command()


def test_no_java_at_all_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ServiceError, match=re.escape("install a Java 17 JDK")):
        services.java_command()


def test_wait_gone_reaps_a_child_and_gives_up_on_one_that_stays() -> None:
    quick = subprocess.Popen(["sleep", "0.2"])
    assert services.wait_gone(quick.pid, timeout_s=10)
    assert not services.pid_running(quick.pid)
    lasting = subprocess.Popen(["sleep", "30"])
    try:
        assert not services.wait_gone(lasting.pid, timeout_s=0.3)
        assert services.pid_running(lasting.pid)
    finally:
        lasting.kill()
    assert services.wait_gone(lasting.pid, timeout_s=10)  # a zombie counts as gone, and is reaped

"""Unit tests of how the Storm cluster manager ends a daemon's process group (no JVM is started).

CI once failed in teardown with ProcessLookupError: a process of the group ended between the
process listing and ``os.getpgid``. These tests pin that race down with real child processes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from squall.storm import cluster


def _sleeper() -> subprocess.Popen[bytes]:
    """A child in its own session, so it leads its own process group."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )


def test_a_running_group_is_alive_and_an_ended_one_is_not() -> None:
    proc = _sleeper()
    try:
        assert cluster._group_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert not cluster._group_alive(proc.pid)


def test_a_process_that_ends_during_the_scan_counts_as_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc = _sleeper()
    real_getpgid = os.getpgid

    def vanished(pid: int) -> int:
        if pid == proc.pid:
            raise ProcessLookupError(3, "No such process")
        return real_getpgid(pid)

    monkeypatch.setattr(cluster.os, "getpgid", vanished)
    try:
        assert not cluster._group_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_ending_a_group_ends_it_and_ending_it_again_is_harmless() -> None:
    proc = _sleeper()
    cluster.end_group(proc.pid)  # it also reaps its child, so Popen cannot see the status
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    assert not cluster._group_alive(proc.pid)
    cluster.end_group(proc.pid)  # already gone: no error

"""A library's ``log.exception`` reaches the user as one line naming the error, not a traceback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from squall.log_lines import OneLineFormatter

# what kafka-python 3's network thread does when a consumer is closed under it
SCRIPT = """
import logging
from squall.log_lines import log_one_line_per_record
log_one_line_per_record(logging.WARNING)
log = logging.getLogger("kafka.net.transport")
log.info("not shown at WARNING")
try:
    None.recv(4096)
except BaseException:
    log.exception("<conn>: Error receiving network data closing socket")
log.warning("a warning still shows")
"""


def _run(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SQUALL_LOG_TRACEBACKS"} | env_extra
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_an_exception_logged_by_a_library_is_one_line_with_its_type_and_message() -> None:
    lines = _run({}).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(
        "kafka.net.transport ERROR <conn>: Error receiving network data closing socket "
        "(AttributeError: 'NoneType' object has no attribute 'recv')"
    )
    assert lines[1].endswith("kafka.net.transport WARNING a warning still shows")


def test_full_tracebacks_come_back_on_request() -> None:
    err = _run({"SQUALL_LOG_TRACEBACKS": "1"})
    assert "Traceback (most recent call last):" in err
    assert "AttributeError: 'NoneType' object has no attribute 'recv'\n" in err


def test_an_exception_without_a_message_is_named_by_its_type() -> None:
    try:
        raise TimeoutError()
    except TimeoutError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "gave up", None, sys.exc_info())
    text = OneLineFormatter("%(levelname)s %(message)s").format(record)
    assert text == "ERROR gave up (TimeoutError)"

"""Appends one JSON line per number to the file named by the Storm option fixture.output;
fixture.delay_s (default 0) slows each tuple down, to keep a stream going for a while."""

import json
import os
import time

from streamparse import Bolt


class RecordBolt(Bolt):
    def initialize(self, stormconf, context):
        self.path = stormconf["fixture.output"]
        self.delay_s = float(stormconf.get("fixture.delay_s", 0))

    def process(self, tup):
        (n,) = tup.values
        if self.delay_s:
            time.sleep(self.delay_s)
        line = json.dumps({"n": n, "square": n * n, "pid": os.getpid()}) + "\n"
        # O_APPEND: the bolt's tasks (separate processes) append whole lines to one file.
        with open(self.path, "a") as out:
            out.write(line)


class CrashingBolt(Bolt):
    """Raises on every tuple, and so exits (pystorm's default exit_on_exception): the worker
    halts and the Supervisor restarts it, over and over. Storm must report it, not hang."""

    def process(self, tup):
        raise ValueError(f"fixture bolt crashes on every tuple; got {tup.values!r}")


class RejectingBolt(Bolt):
    """Raises on every tuple but keeps running (pystorm fails the tuple and reports the error to
    Storm instead of exiting): Storm must count the failures."""

    exit_on_exception = False

    def process(self, tup):
        raise ValueError(f"fixture bolt rejects every tuple; got {tup.values!r}")

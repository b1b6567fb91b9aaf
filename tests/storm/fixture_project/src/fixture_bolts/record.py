"""Appends one JSON line per number to the file named by the Storm option fixture.output."""

import json
import os

from streamparse import Bolt


class RecordBolt(Bolt):
    def initialize(self, stormconf, context):
        self.path = stormconf["fixture.output"]

    def process(self, tup):
        (n,) = tup.values
        line = json.dumps({"n": n, "square": n * n, "pid": os.getpid()}) + "\n"
        # O_APPEND: the bolt's tasks (separate processes) append whole lines to one file.
        with open(self.path, "a") as out:
            out.write(line)


class CrashingBolt(Bolt):
    """Raises on every tuple: Storm must report it (failed tuples, errors), not hang."""

    def process(self, tup):
        raise ValueError(f"fixture bolt rejects every tuple; got {tup.values!r}")

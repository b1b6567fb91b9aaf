"""split: an even n goes on as [n, n // 2], an odd one to the ``odd`` stream; add: [n, half,
n + half]; names: one JSON line per tuple, with the component, stream and field names pystorm
gave it (from Storm's handshake), to the file named by the Storm option fixture.output."""

import json

from streamparse import Bolt, Stream


class SplitBolt(Bolt):
    outputs = [Stream(["n", "half"], "default"), Stream(["n", "reason"], "odd")]

    def process(self, tup):
        (n,) = tup.values
        if n % 2:
            self.emit([n, "odd"], stream="odd")
        else:
            self.emit([n, n // 2])


class AddBolt(Bolt):
    outputs = [Stream(["n", "half", "total"], "default")]

    def process(self, tup):
        # by name: the fused chain hands add a tuple typed like Storm's (split's fields)
        self.emit([tup.values.n, tup.values.half, tup.values.n + tup.values.half])


class NamesBolt(Bolt):
    outputs = []

    def initialize(self, stormconf, context):
        self.path = stormconf["fixture.output"]

    def process(self, tup):
        fields = list(getattr(tup.values, "_fields", []))
        line = {"component": tup.component, "stream": tup.stream, "fields": fields}
        line["values"] = list(tup.values)
        with open(self.path, "a") as out:
            out.write(json.dumps(line) + "\n")

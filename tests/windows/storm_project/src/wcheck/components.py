"""A spout and two windowed bolts for checking WindowedBolt on real Storm against the runner.

TimedSpout emits (n, ts = T + 100 n) for n < fixture.count and appends each acked id to
fixture.acks; the bolts append each window to fixture.output as a JSON line.
"""

import json

from streamparse import Spout, Stream

from squall.windowed_bolt import WindowedBolt
from squall.windows import Count, Duration, WindowSpec

T = 1_700_000_000_000


class TimedSpout(Spout):
    outputs = ["n", "ts"]

    def initialize(self, stormconf, context):
        self.count = int(stormconf.get("fixture.count", 40))
        self.acks = stormconf["fixture.acks"]
        self.next_n = 0

    def next_tuple(self):
        if self.next_n < self.count:
            n = self.next_n
            self.next_n += 1
            self.emit([n, T + n * 100], tup_id=n)

    def ack(self, tup_id):
        with open(self.acks, "a") as out:
            out.write(f"{tup_id}\n")


class _Writer(WindowedBolt):
    outputs = [Stream(fields=["kind", "start", "end", "current"], name="default")]
    kind = "?"

    def initialize(self, conf, ctx):
        super().initialize(conf, ctx)
        self.path = conf["fixture.output"]

    def process_window(self, window):
        def ns(tups):
            return [t.values[0] for t in tups]

        record = {
            "kind": self.kind,
            "start": window.start,
            "end": window.end,
            "current": ns(window.current),
            "new": ns(window.new),
            "expired": ns(window.expired),
        }
        with open(self.path, "a") as out:
            out.write(json.dumps(record) + "\n")
        self.emit([self.kind, window.start, window.end, record["current"]])


class CountWindows(_Writer):
    """Processing time: the last 5 tuples, every 3 tuples."""

    kind = "count"
    window = WindowSpec.sliding(Count(5), Count(3))


class EventWindows(_Writer):
    """Event time: tumbling 1 s windows on ts, 200 ms lag (ticks every second)."""

    kind = "event"
    window = WindowSpec.tumbling(Duration(1000), timestamp_field="ts", lag=Duration(200))

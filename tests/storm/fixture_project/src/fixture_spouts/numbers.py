"""Emits the integers 0..fixture.count-1 once each, reliably (tuple id = the number)."""

from streamparse import Spout


class NumberSpout(Spout):
    outputs = ["n"]

    def initialize(self, stormconf, context):
        self.count = int(stormconf.get("fixture.count", 50))
        self.next_n = 0
        self.replay: list[int] = []

    def next_tuple(self):
        # next_tuple must not block: emit one number (a replay first) or nothing.
        if self.replay:
            n = self.replay.pop(0)
        elif self.next_n < self.count:
            n = self.next_n
            self.next_n += 1
        else:
            return
        self.emit([n], tup_id=n)

    def fail(self, tup_id):
        self.logger.warning("number %s failed; replaying it", tup_id)
        self.replay.append(int(tup_id))

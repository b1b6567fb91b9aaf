"""A user's own components, in the layout sparse expects (imported from src/)."""

import itertools
import logging
import time

from streamparse import Bolt, Spout


class EndlessSpout(Spout):
    outputs = ["n"]

    def initialize(self, conf, ctx):
        self.counter = itertools.count()
        if conf.get("user.chatty_kafka_log"):
            # what kafka-python does on every connection and group join
            logging.getLogger("kafka.conn").info("chatty: connecting to a broker")
            logging.getLogger("kafka.conn").warning("worth seeing: a broker went away")

    def next_tuple(self):
        n = next(self.counter)
        self.emit([n], tup_id=n)


class SlowBolt(Bolt):
    outputs = ["n"]

    def initialize(self, conf, ctx):
        self.delay_s = float(conf.get("user.delay_s", 0.0))

    def process(self, tup):
        if self.delay_s:
            time.sleep(self.delay_s)
        self.emit([tup.values[0]])

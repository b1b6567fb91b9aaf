"""The runner benchmark workload: spout -> parse -> compute -> count, a 3-bolt chain.

The same three functions run in a hand-written loop (the practical limit) and as bolts.
"""

from __future__ import annotations

import json
import time

from streamparse import Bolt, Spout, Topology

PAYLOADS = [
    json.dumps({"id": i, "height_cm": 150 + i % 50, "weight_kg": 50 + i % 45}) for i in range(1000)
]


def parse(payload: str) -> dict:
    return json.loads(payload)


def compute(reading: dict, spin: int) -> float:
    bmi = reading["weight_kg"] / (reading["height_cm"] / 100) ** 2
    acc = 0.0
    for k in range(spin):  # extra CPU work per tuple for the CPU-bound variant
        acc += (bmi * k) % 7
    return bmi + acc * 0.0


def hand_loop(n: int, spin: int) -> float:
    """Records per second of the same work with no framework at all."""
    start = time.perf_counter()
    counts: dict[bool, int] = {}
    for i in range(n):
        reading = parse(PAYLOADS[i % 1000])
        bmi = compute(reading, spin)
        key = bmi > 30
        counts[key] = counts.get(key, 0) + 1
    return n / (time.perf_counter() - start)


class PayloadSpout(Spout):
    outputs = ["payload"]

    def initialize(self, conf, ctx):
        # bench.records is the total: each task of this spout emits its share
        tasks = sorted(int(t) for t, c in ctx["task->component"].items() if c == ctx["componentid"])
        total = int(conf.get("bench.records", 100_000))
        index = tasks.index(int(ctx["taskid"]))
        self.i = index * (total // len(tasks))
        self.limit = total if index == len(tasks) - 1 else self.i + total // len(tasks)
        self.reliable = bool(conf.get("bench.reliable", True))

    def next_tuple(self):
        if self.i < self.limit:
            i = self.i
            self.i += 1
            self.emit([PAYLOADS[i % 1000]], tup_id=i if self.reliable else None)


class ParseBolt(Bolt):
    outputs = ["reading"]

    def process(self, tup):
        self.emit([parse(tup.values[0])])


class ComputeBolt(Bolt):
    outputs = ["bmi"]

    def initialize(self, conf, ctx):
        self.spin = int(conf.get("bench.spin", 0))

    def process(self, tup):
        self.emit([compute(tup.values[0], self.spin)])


class CountBolt(Bolt):
    outputs = []

    def initialize(self, conf, ctx):
        self.counts: dict[bool, int] = {}

    def process(self, tup):
        key = tup.values[0] > 30
        self.counts[key] = self.counts.get(key, 0) + 1


class Chain(Topology):
    source = PayloadSpout.spec()
    parse = ParseBolt.spec(inputs=[source])
    compute = ComputeBolt.spec(inputs=[parse])
    count = CountBolt.spec(inputs=[compute])


class ParallelChain(Topology):
    """For multi-process scaling: every component has one task per core, as a user scaling a
    CPU-bound topology over 2 workers would declare it."""

    source = PayloadSpout.spec(par=2)
    parse = ParseBolt.spec(inputs=[source], par=2)
    compute = ComputeBolt.spec(inputs=[parse], par=2)
    count = CountBolt.spec(inputs=[compute], par=2)

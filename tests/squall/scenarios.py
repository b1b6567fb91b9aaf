"""Small topologies whose behaviour follows from Storm's documentation.

Each spout emits a fixed list, reliably (tup_id = the number) unless said otherwise, so a run
ends by itself; bolts report the task that handled a tuple so routing can be checked.
"""

from __future__ import annotations

from streamparse import Bolt, Grouping, Spout, Stream, Topology

WORDS = ["apple", "pear", "fig", "apple", "kiwi", "pear", "apple", "plum", "fig", "apple"] * 5
N = 40


class NumberSpout(Spout):
    """Emits 0..N-1 with tup_id = n; replays a failed id once if ``replay`` is set."""

    outputs = ["n"]
    replay = False
    reliable = True

    def initialize(self, conf, ctx):
        self.todo = list(range(N))
        self.replayed: set[int] = set()

    def next_tuple(self):
        if self.todo:
            n = self.todo.pop(0)
            self.emit([n], tup_id=n if self.reliable else None)

    def fail(self, tup_id):
        if self.replay and tup_id not in self.replayed:
            self.replayed.add(tup_id)
            self.todo.append(tup_id)


class WordSpout(Spout):
    outputs = ["word"]

    def initialize(self, conf, ctx):
        self.todo = list(enumerate(WORDS))

    def next_tuple(self):
        if self.todo:
            i, word = self.todo.pop(0)
            self.emit([word], tup_id=i)


class CountBolt(Bolt):
    outputs = ["word", "count", "task"]

    def initialize(self, conf, ctx):
        self.counts: dict[str, int] = {}

    def process(self, tup):
        word = tup.values.word
        self.counts[word] = self.counts.get(word, 0) + 1
        self.emit([word, self.counts[word], self.task_id])


class WordCount(Topology):
    words = WordSpout.spec()
    count = CountBolt.spec(inputs={words: Grouping.fields("word")}, par=3)


# ---------------------------------------------------------------- diamond with multi-anchoring
class PassBolt(Bolt):
    outputs = ["n"]

    def process(self, tup):
        self.emit([tup.values[0]])


class JoinBolt(Bolt):
    """Emits n once both branches delivered it, anchored to both inputs, then acks both."""

    outputs = ["n"]
    auto_ack = False
    auto_anchor = False

    def initialize(self, conf, ctx):
        self.waiting: dict[int, object] = {}

    def process(self, tup):
        n = tup.values[0]
        other = self.waiting.pop(n, None)
        if other is None:
            self.waiting[n] = tup
            return
        self.emit([n], anchors=[other, tup])
        self.ack(other)
        self.ack(tup)


class Diamond(Topology):
    source = NumberSpout.spec()
    left = PassBolt.spec(inputs=[source])
    right = PassBolt.spec(inputs=[source])
    join = JoinBolt.spec(inputs={left: Grouping.fields("n"), right: Grouping.fields("n")}, par=2)
    sink = PassBolt.spec(inputs=[join])


# ---------------------------------------------------------------- failures and replay
class FailMultiplesOfFour(Bolt):
    """Fails every n % 4 == 0 the first time it sees it."""

    outputs = ["n"]
    auto_ack = False

    def initialize(self, conf, ctx):
        self.seen: set[int] = set()

    def process(self, tup):
        n = tup.values[0]
        if n % 4 == 0 and n not in self.seen:
            self.seen.add(n)
            self.fail(tup)
            return
        self.emit([n])
        self.ack(tup)


class ReplaySpout(NumberSpout):
    replay = True


class FailAndReplay(Topology):
    source = ReplaySpout.spec()
    flaky = FailMultiplesOfFour.spec(inputs={source: Grouping.fields("n")}, par=2)
    sink = PassBolt.spec(inputs=[flaky])


class NeverAckThirds(Bolt):
    """Holds (never acks) every n % 3 == 0: those trees must time out."""

    outputs = ["n"]
    auto_ack = False

    def process(self, tup):
        if tup.values[0] % 3:
            self.ack(tup)


class Timeout(Topology):
    # the held trees only end by timeout: let the drain at stop wait for it
    config = {"topology.message.timeout.secs": 1, "squall.drain.idle.secs": 3}
    source = NumberSpout.spec()
    holder = NeverAckThirds.spec(inputs=[source], par=2)


class RaiseOnSeven(Bolt):
    outputs = ["n"]

    def process(self, tup):
        if tup.values[0] == 7:
            raise ValueError("seven is not allowed")
        self.emit([tup.values[0]])


class Crashing(Topology):
    source = NumberSpout.spec()
    crashy = RaiseOnSeven.spec(inputs=[source], par=2)


# ---------------------------------------------------------------- groupings
class TaskBolt(Bolt):
    outputs = ["n", "task"]

    def process(self, tup):
        self.emit([tup.values[0], self.task_id])


class DirectRouter(Bolt):
    """Sends n to task index n % par of ``target`` over a direct stream."""

    outputs = [Stream(fields=["n"], name="direct", direct=True)]

    def initialize(self, conf, ctx):
        self.targets = sorted(
            int(t) for t, c in ctx["task->component"].items() if c == "direct_sink"
        )

    def process(self, tup):
        n = tup.values[0]
        self.emit([n], stream="direct", direct_task=self.targets[n % len(self.targets)])


class Groupings(Topology):
    source = NumberSpout.spec()
    to_all = TaskBolt.spec(inputs={source: Grouping.ALL}, par=3)
    to_global = TaskBolt.spec(inputs={source: Grouping.GLOBAL}, par=3)
    to_none = TaskBolt.spec(inputs={source: Grouping.NONE}, par=2)
    to_local = TaskBolt.spec(inputs={source: Grouping.LOCAL_OR_SHUFFLE}, par=2)
    router = DirectRouter.spec(inputs=[source])
    direct_sink = TaskBolt.spec(inputs={router["direct"]: Grouping.DIRECT}, par=3)


class OwnEmitSpout(NumberSpout):
    """Overrides ``emit``, so its emits take the runner's generic path, not a compiled plan."""

    def emit(self, *args, **kwargs):
        return super().emit(*args, **kwargs)


class OneShuffle(Topology):
    source = OwnEmitSpout.spec()
    to_shuffle = TaskBolt.spec(inputs=[source], par=2)


# ---------------------------------------------------------------- named streams
class EvenOdd(Bolt):
    outputs = [Stream(fields=["n"], name="even"), Stream(fields=["n"], name="odd")]

    def process(self, tup):
        n = tup.values[0]
        self.emit([n], stream="even" if n % 2 == 0 else "odd")


class NamedStreams(Topology):
    source = NumberSpout.spec()
    split = EvenOdd.spec(inputs=[source])
    evens = PassBolt.spec(inputs=[split["even"]])
    odds = PassBolt.spec(inputs=[split["odd"]])


# ---------------------------------------------------------------- ticks, pending, unreliable
class TickCounter(Bolt):
    outputs = ["ticks", "task"]

    def initialize(self, conf, ctx):
        self.ticks = 0

    def process(self, tup):
        pass

    def process_tick(self, tup):
        self.ticks += 1
        self.emit([self.ticks, self.task_id])


class SlowSpout(NumberSpout):
    """Emits nothing: only ticks move the bolt."""

    def next_tuple(self):
        pass


class Ticks(Topology):
    source = SlowSpout.spec()
    ticker = TickCounter.spec(inputs=[source], config={"topology.tick.tuple.freq.secs": 1}, par=2)


class PendingProbe(NumberSpout):
    """Records the largest number of its trees in flight whenever Storm asks for more."""

    outputs = ["n", "in_flight"]

    def initialize(self, conf, ctx):
        super().initialize(conf, ctx)
        self.in_flight = 0

    def next_tuple(self):
        if self.todo:
            n = self.todo.pop(0)
            self.in_flight += 1
            self.emit([n, self.in_flight], tup_id=n)

    def ack(self, tup_id):
        self.in_flight -= 1


class MaxPending(Topology):
    config = {"topology.max.spout.pending": 3}
    source = PendingProbe.spec()
    sink = PassBolt.spec(inputs=[source], par=2)


class UnreliableSpout(NumberSpout):
    reliable = False


class Unreliable(Topology):
    source = UnreliableSpout.spec()
    sink = PassBolt.spec(inputs=[source])

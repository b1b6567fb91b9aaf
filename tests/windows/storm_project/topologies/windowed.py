from streamparse import Topology
from wcheck.components import CountWindows, EventWindows, TimedSpout


class WindowedTopology(Topology):
    timed = TimedSpout.spec(par=1)
    count = CountWindows.spec(inputs=[timed], par=1)
    event = EventWindows.spec(inputs=[timed], par=1)

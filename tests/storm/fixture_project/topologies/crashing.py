from fixture_bolts.record import CrashingBolt
from fixture_spouts.numbers import NumberSpout
from streamparse import Topology


class CrashingTopology(Topology):
    numbers = NumberSpout.spec(par=1)
    crash = CrashingBolt.spec(inputs=[numbers], par=1)

from fixture_bolts.record import RejectingBolt
from fixture_spouts.numbers import NumberSpout
from streamparse import Topology


class RejectingTopology(Topology):
    numbers = NumberSpout.spec(par=1)
    reject = RejectingBolt.spec(inputs=[numbers], par=1)
